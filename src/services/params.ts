/** A run's params checked against the inputs its workflow's manual trigger declares. */
import { type ManualTrigger, type Trigger, matchesInputType } from '../definition/index.ts';
import { AppError, type ErrorDetail } from '../errors.ts';

/** Validates params against the manual trigger's inputs: types, required, defaults, enums. */
export function checkParams(
  triggers: Trigger[],
  params: Record<string, unknown>,
): Record<string, unknown> {
  const manual = triggers.find((t): t is ManualTrigger => t.type === 'manual');
  const inputs = manual?.inputs;
  if (!inputs) return params;
  const problems: ErrorDetail[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(inputs)) {
    const has = Object.prototype.hasOwnProperty.call(params, name) && params[name] !== undefined;
    const value = has ? params[name] : spec.default;
    if (value === undefined) {
      if (spec.required) problems.push({ path: `params.${name}`, message: 'is required' });
      continue;
    }
    if (!matchesInputType(spec.type, value)) {
      problems.push({
        path: `params.${name}`,
        message: `must be ${spec.type === 'integer' || spec.type === 'array' || spec.type === 'object' ? 'an' : 'a'} ${spec.type}`,
      });
      continue;
    }
    if (spec.enum && !spec.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
      problems.push({
        path: `params.${name}`,
        message: `must be one of ${spec.enum.map((e) => JSON.stringify(e)).join(', ')}`,
      });
      continue;
    }
    out[name] = value;
  }
  for (const name of Object.keys(params)) {
    if (!Object.prototype.hasOwnProperty.call(inputs, name))
      problems.push({ path: `params.${name}`, message: 'is not an input of this workflow' });
  }
  if (problems.length > 0) throw new AppError('ERR_PARAMS_INVALID', { details: problems });
  return out;
}
