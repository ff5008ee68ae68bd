/**
 * Turning what people type into ids. A workflow is `wf_…` or its exact name (looked up with
 * `?q=`). An execution is `exec_…` or `workflow-execution/exec_…`; the execution routes need its
 * workflow too, so it is `--workflow` when given, else found by scanning the executions list.
 */
import type { ExecutionSummary } from '../wire/executions.ts';
import type { WorkflowView } from '../wire/workflows.ts';
import type { ApiClient } from './client.ts';
import { CliError, ExitCode, usageError } from './exit-codes.ts';

const enc = encodeURIComponent;

export function workflowPath(workflowId: string): string {
  return `/api/v1/workflows/${enc(workflowId)}`;
}

export function executionPath(ref: ExecutionRef): string {
  return `/api/v1/workflows/${enc(ref.workflowId)}/executions/${enc(ref.id)}`;
}

/** Finds a live workflow by exact name; undefined when there is none. */
export async function findWorkflowByName(
  client: ApiClient,
  name: string,
): Promise<WorkflowView | undefined> {
  for await (const items of client.pages<WorkflowView>('/api/v1/workflows', {
    q: name.slice(0, 128),
    limit: 200,
  })) {
    const hit = items.find((w) => w.name === name);
    if (hit) return hit;
  }
  return undefined;
}

/** The id of a workflow given by id or name. */
export async function resolveWorkflowId(client: ApiClient, ref: string): Promise<string> {
  if (ref.startsWith('wf_')) return ref;
  const found = await findWorkflowByName(client, ref);
  if (found === undefined) {
    throw new CliError(`no workflow named ${JSON.stringify(ref)}`, ExitCode.failed, {
      code: 'ERR_WORKFLOW_NOT_FOUND',
    });
  }
  return found.id;
}

export interface ExecutionRef {
  id: string;
  workflowId: string;
}

/** `workflow-execution/exec_…` or `exec_…` → `exec_…`. */
export function parseExecutionId(text: string): string {
  const id = text.startsWith('workflow-execution/')
    ? text.slice('workflow-execution/'.length)
    : text;
  if (!/^exec_[A-Za-z0-9_-]+$/.test(id)) {
    throw usageError(
      `${JSON.stringify(text)} is not an execution reference (exec_… or workflow-execution/exec_…)`,
    );
  }
  return id;
}

/**
 * The execution with its workflow id. With a workflow reference it is used directly; inside a
 * command, its own execution's workflow is `SWITCHYARD_WORKFLOW_ID` (its execution token may not
 * list executions); otherwise the executions list (newest first, 200 a page) is scanned until the
 * id turns up.
 */
export async function resolveExecution(
  client: ApiClient,
  text: string,
  workflowRef: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExecutionRef> {
  const id = parseExecutionId(text);
  if (workflowRef !== undefined)
    return { id, workflowId: await resolveWorkflowId(client, workflowRef) };
  const ownWorkflow = env.SWITCHYARD_WORKFLOW_ID;
  if (env.SWITCHYARD_EXECUTION_ID === id && ownWorkflow !== undefined && ownWorkflow !== '')
    return { id, workflowId: ownWorkflow };
  for await (const items of client.pages<ExecutionSummary>('/api/v1/workflows/executions', {
    limit: 200,
  })) {
    const hit = items.find((e) => e.id === id);
    if (hit) return { id, workflowId: hit.workflowId };
  }
  throw new CliError(`no execution ${id}`, ExitCode.failed, { code: 'ERR_EXECUTION_NOT_FOUND' });
}
