/** Save-time checks of a workflow's triggers and its manual inputs (types, defaults, enums). */
import { pathIndex, pathKey, quote } from './keys.ts';
import type { InputType, ManualInput, Trigger } from './model.ts';
import { scheduleProblems } from './schedules.ts';
import type { ProblemList } from './walk.ts';
import { isPlainObject } from './walk.ts';

/** True when `value` has the declared input type. */
export function matchesInputType(type: InputType, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return isPlainObject(value);
    case 'array':
      return Array.isArray(value);
  }
}

export function checkTriggers(
  triggers: Trigger[],
  clean: boolean[],
  path: string,
  problems: ProblemList,
): void {
  let manualAt: string | undefined;
  const hooks = new Map<string, string>();
  const scheduleIds = new Map<string, string>();
  let schedules = 0;
  triggers.forEach((trigger, i) => {
    if (!isPlainObject(trigger)) return;
    const at = pathIndex(path, i);
    if (trigger.type === 'schedule') {
      // Counted even when the trigger has problems, so default ids match namedSchedules().
      schedules++;
      if (clean[i] !== true) return;
      for (const p of scheduleProblems(trigger))
        problems.add(p.field === '' ? at : pathKey(at, p.field), p.message);
      const id = trigger.id ?? `schedule-${schedules}`;
      const seen = scheduleIds.get(id);
      if (seen !== undefined)
        problems.add(
          trigger.id === undefined ? at : pathKey(at, 'id'),
          `duplicate schedule id ${quote(id)} (first at ${seen})${trigger.id === undefined ? '; give this schedule an id' : ''}`,
        );
      else scheduleIds.set(id, at);
      return;
    }
    if (trigger.type === 'manual') {
      if (manualAt !== undefined)
        problems.add(at, `only one manual trigger is allowed (first at ${manualAt})`);
      manualAt ??= at;
      // Input rules need inputs of the declared shape.
      if (clean[i] !== true) return;
      for (const [name, input] of Object.entries(trigger.inputs ?? {})) {
        checkInput(input, pathKey(pathKey(at, 'inputs'), name), problems);
      }
    } else if (trigger.type === 'webhook' && typeof trigger.name === 'string') {
      const seen = hooks.get(trigger.name);
      if (seen !== undefined)
        problems.add(
          pathKey(at, 'name'),
          `duplicate webhook name ${quote(trigger.name)} (first at ${seen})`,
        );
      else hooks.set(trigger.name, at);
    }
  });
}

function checkInput(input: ManualInput, path: string, problems: ProblemList): void {
  const problemsBefore = problems.total;
  input.enum?.forEach((value, i) => {
    if (!matchesInputType(input.type, value))
      problems.add(
        pathIndex(pathKey(path, 'enum'), i),
        `must be of type ${input.type} (got ${quote(value)})`,
      );
  });
  if (input.default === undefined) return;
  if (!matchesInputType(input.type, input.default)) {
    problems.add(
      pathKey(path, 'default'),
      `must be of type ${input.type} (got ${quote(input.default)})`,
    );
  } else if (
    problems.total === problemsBefore &&
    input.enum !== undefined &&
    !input.enum.some((v) => sameValue(v, input.default))
  ) {
    problems.add(
      pathKey(path, 'default'),
      `must be one of the enum values (got ${quote(input.default)})`,
    );
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
