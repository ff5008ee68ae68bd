/**
 * The `workflow` tool of the `agent` node: starts another workflow as a child execution of this
 * one and waits for it, handing the model `{executionId, status, outputs, error?}` (a `workflow`
 * node's outputs). Only with `tools: [..., workflow]`; `workflows` limits which ones (ids or
 * names). A bad argument, an unknown or disallowed workflow is a tool error the model sees; a
 * child that fails is a result the model reads (`status: failed`), not a failure of the node.
 */
import { formatMs } from './errors.ts';
import type { ToolOutcome } from './agent-tools.ts';
import type { ExecContext } from './executor.ts';
import type { ToolSpec } from './llm-wire.ts';

export const workflowToolSpec: ToolSpec = {
  name: 'workflow',
  description:
    'Runs another workflow (by name or id) with params and waits for it to end. Answers JSON {executionId, status, outputs, error?}: status is succeeded, failed or cancelled; outputs are its node outputs by node id.',
  parameters: {
    type: 'object',
    properties: {
      workflow: { type: 'string', description: 'name or id of the workflow' },
      params: { type: 'object', description: "the workflow's params" },
      version: { type: 'integer', description: 'a version; default its active one' },
    },
    required: ['workflow'],
  },
};

function refused(message: string): ToolOutcome {
  return { content: `error: ${message}`, isError: true, summary: 'refused', seconds: 0 };
}

/**
 * Runs the tool for tool call `callId`; `allowed` is the node's `workflows`, `remainingMs` what
 * is left of the node's timeout. The node's cancel or deadline cancels the child.
 */
export async function runWorkflowTool(
  ctx: ExecContext<unknown>,
  input: unknown,
  callId: string,
  allowed: readonly string[] | undefined,
  outputBytes: number,
  remainingMs: number | undefined,
): Promise<ToolOutcome> {
  if (ctx.workflows === undefined) return refused('this server runs no child workflows here');
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return refused('the arguments must be a JSON object');
  const args = input as Record<string, unknown>;
  const { workflow, params, version } = args;
  if (typeof workflow !== 'string' || workflow.trim() === '')
    return refused("'workflow' must be a non-empty string");
  if (
    params !== undefined &&
    (typeof params !== 'object' || params === null || Array.isArray(params))
  )
    return refused("'params' must be an object");
  if (version !== undefined && (!Number.isInteger(version) || (version as number) < 1))
    return refused("'version' must be a positive integer");

  const started = performance.now();
  const stop = new AbortController();
  let timedOut = false;
  const onAbort = () => stop.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  const timer =
    remainingMs === undefined
      ? undefined
      : setTimeout(
          () => {
            timedOut = true;
            stop.abort('timeout');
          },
          Math.max(remainingMs, 0),
        );
  try {
    const outcome = await ctx.workflows.run(
      {
        workflow,
        callId,
        // Logged at once, so the child can be followed while the model waits for it.
        started: (id) => ctx.log('system', `agent tool workflow: started ${id} (${workflow})`),
        ...(params !== undefined && { params: params as Record<string, unknown> }),
        ...(version !== undefined && { version: version as number }),
        ...(allowed !== undefined && { allowed }),
      },
      stop.signal,
    );
    const ms = Math.round(performance.now() - started);
    if ('refused' in outcome) return refused(outcome.refused);
    if ('stopped' in outcome) {
      return {
        content: 'error: stopped',
        isError: true,
        summary: `${outcome.executionId || 'not started'} cancelled after ${formatMs(ms)}`,
        seconds: 0,
        stopped: timedOut ? 'timeout' : 'cancelled',
      };
    }
    const json = JSON.stringify(outcome);
    const bytes = Buffer.byteLength(json);
    const content =
      bytes > outputBytes
        ? `${Buffer.from(json).subarray(0, outputBytes).toString('utf8')}\n[… truncated at ${outputBytes} bytes]`
        : json;
    return {
      content,
      isError: outcome.status !== 'succeeded',
      summary: `${outcome.executionId} ${outcome.status} in ${formatMs(ms)}`,
      seconds: 0,
    };
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}
