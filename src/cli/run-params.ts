/**
 * `yard run -p key=value`: each value is typed by the input the workflow's manual trigger
 * declares (as `gh workflow run -f` does), so `-p ref=123` against a `string` input sends the
 * string "123". A string input takes the text as it is; number, integer, boolean, object and
 * array inputs take it as JSON and refuse a value of another type. A name the workflow does not
 * declare keeps the old guess (JSON when it parses, else the string); the server then says
 * whether it accepts it.
 */
import type { InputType, ManualInput, Trigger } from '../definition/index.ts';
import type { VersionView, WorkflowView } from '../wire/workflows.ts';
import type { ApiClient } from './client.ts';
import { jsonOrString } from './context.ts';
import { CliError, usageError } from './exit-codes.ts';
import { note } from './output.ts';
import { workflowPath } from './refs.ts';

/** The declared inputs of the version a run would use (`--version`, else active, else newest). */
async function declaredInputs(
  client: ApiClient,
  workflowId: string,
  version: number | undefined,
): Promise<Record<string, ManualInput> | undefined> {
  const wf = await client.get<WorkflowView>(workflowPath(workflowId));
  const n = version ?? wf.activeVersion ?? wf.version;
  const v = await client.get<VersionView>(`${workflowPath(workflowId)}/versions/${n}`);
  const manual = (v.triggerConfig as Trigger[]).find((t) => t.type === 'manual');
  return manual?.type === 'manual' ? manual.inputs : undefined;
}

const article = (type: InputType) =>
  type === 'integer' || type === 'array' || type === 'object' ? 'an' : 'a';

type InputTypeCheck = (type: InputType, value: unknown) => boolean;

/** One `-p` value typed by its input's declared type. */
function typedParam(
  name: string,
  text: string,
  input: ManualInput | undefined,
  matchesInputType: InputTypeCheck,
): unknown {
  if (input === undefined) return jsonOrString(text);
  if (input.type === 'string') return text;
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    value = undefined;
  }
  if (value === undefined || !matchesInputType(input.type, value)) {
    throw usageError(
      `-p ${name}: input ${name} is ${article(input.type)} ${input.type}; ${JSON.stringify(text)} is not (give it as JSON)`,
    );
  }
  return value;
}

/**
 * The run's params from the `-p` pairs. A token that may run but not read the workflow (403)
 * gets the old guess for every value, with a note saying so.
 */
export async function runParams(
  client: ApiClient,
  workflowId: string,
  version: number | undefined,
  pairs: readonly [string, string][],
): Promise<Record<string, unknown>> {
  if (pairs.length === 0) return {};
  let inputs: Record<string, ManualInput> | undefined;
  try {
    inputs = await declaredInputs(client, workflowId, version);
  } catch (err) {
    if (!(err instanceof CliError && err.status === 403)) throw err;
    note('cannot read the workflow’s inputs (403): -p values are taken as JSON when they parse');
  }
  // Loaded here, not at the top: the definition model costs a `yard` call ~50 ms to load.
  const { matchesInputType } = await import('../definition/trigger-checks.ts');
  const has = (name: string) =>
    inputs !== undefined && Object.prototype.hasOwnProperty.call(inputs, name);
  return Object.fromEntries(
    pairs.map(([name, text]) => [
      name,
      typedParam(name, text, has(name) ? inputs![name] : undefined, matchesInputType),
    ]),
  );
}
