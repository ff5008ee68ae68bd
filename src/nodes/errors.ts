/**
 * Error codes node executors report in `NodeError.code`, with their usual `retryable` flag. They
 * reach users in node details and DLQ entries; the API catalog (`src/errors.ts`) is separate
 * because these carry no HTTP status.
 */
import { engineErrorCatalog } from '../engine/errors.ts';
import type { ExecResult, NodeError, NodeUsage } from './executor.ts';

const nodeErrorCatalog = {
  /** The node's config cannot run (bad working dir, bad URL, ...): fixing the workflow helps. */
  ERR_NODE_CONFIG: { retryable: false },
  /** The node asks for something this runtime does not provide (e.g. a sidecar image). */
  ERR_NODE_UNSUPPORTED: { retryable: false },
  /** The process could not be started. */
  ERR_NODE_SPAWN: { retryable: false },
  /** The process exited with a non-zero code. */
  ERR_NODE_EXIT: { retryable: true },
  /** The process was killed by a signal Switchyard did not send. */
  ERR_NODE_SIGNAL: { retryable: true },
  /** The kernel's OOM killer ended a process of the node (the sandbox's memory limit): the same input fails the same way. */
  ERR_NODE_OOM: { retryable: false },
  /** The sandbox's or a sidecar's image does not exist on the engine (images are never pulled). */
  ERR_NODE_IMAGE: { retryable: false },
  /** The environment asks for what this server forbids (e.g. `runtime_config.docker_socket` without `allowDockerSocket`). */
  ERR_RUNTIME_FORBIDDEN: { retryable: false },
  /** The node ran past its timeout and was stopped. */
  ERR_NODE_TIMEOUT: { retryable: true },
  /** The node was stopped by a cancel or shutdown (the engine's code, see engine/errors.ts). */
  ERR_CANCELLED: engineErrorCatalog.ERR_CANCELLED,
  /** An executor or inline run threw instead of returning a result (a bug). */
  ERR_NODE_INTERNAL: { retryable: true },
  /** The HTTP response status was not the expected one (408/429/5xx are retryable). */
  ERR_HTTP_STATUS: { retryable: false },
  /** The HTTP request failed below HTTP (DNS, connect, reset). */
  ERR_HTTP_NETWORK: { retryable: true },
  /** The egress policy refused the address a call resolved to (loopback, private, link-local, ...): `egressAllow` opens it. */
  ERR_EGRESS_FORBIDDEN: { retryable: false },
  /** The LLM provider is not configured. */
  ERR_LLM_PROVIDER: { retryable: false },
  /** The LLM API answered with an error status (429/5xx are retryable). */
  ERR_LLM_STATUS: { retryable: false },
  /** The LLM API could not be reached. */
  ERR_LLM_NETWORK: { retryable: true },
  /** The LLM API answered 2xx with a body that is not the expected shape. */
  ERR_LLM_RESPONSE: { retryable: true },
  /** The `llm` node's answer is not JSON, or not valid for its `schema` (`response_format: json`): asking again may help. */
  ERR_LLM_SCHEMA: { retryable: true },
  /** The agent's model still asked for tools after `maxSteps` steps (`onMaxSteps: fail`). */
  ERR_AGENT_MAX_STEPS: { retryable: false },
  /** The agent's steps used more tokens than its `maxTokens` budget. */
  ERR_AGENT_TOKEN_BUDGET: { retryable: false },
  /** An agent's MCP server did not start, answer `initialize` or list its tools (or ended mid-call): the log says which and why. */
  ERR_MCP_SERVER: { retryable: false },
  /** One or more parallel branches failed. */
  ERR_BRANCH_FAILED: { retryable: true },
  /** The map's `items` is not a list (or too long, or does not evaluate). */
  ERR_MAP_ITEMS: { retryable: false },
  /** One or more map items failed. */
  ERR_ITEM_FAILED: { retryable: true },
  /** A loop iteration failed. */
  ERR_ITERATION_FAILED: { retryable: true },
  /** The loop's `until` does not evaluate to a boolean. */
  ERR_LOOP_UNTIL: { retryable: false },
  /** The loop reached `maxIterations` without `until` holding. */
  ERR_LOOP_LIMIT: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

export type NodeErrorCode = keyof typeof nodeErrorCatalog;
export const nodeErrorCodes = Object.keys(nodeErrorCatalog) as NodeErrorCode[];

export interface FailOptions {
  /** Overrides the catalog's flag (e.g. 503 vs 404 for ERR_HTTP_STATUS). */
  retryable?: boolean;
  exitCode?: number;
  retryAfterMs?: number;
  outputs?: Record<string, unknown>;
  usage?: NodeUsage;
}

/** A failed result with a catalog code. */
export function fail(code: NodeErrorCode, message: string, opts: FailOptions = {}): ExecResult {
  const error: NodeError = {
    message,
    code,
    retryable: opts.retryable ?? nodeErrorCatalog[code].retryable,
  };
  if (opts.exitCode !== undefined) error.exitCode = opts.exitCode;
  if (opts.retryAfterMs !== undefined) error.retryAfterMs = opts.retryAfterMs;
  const result: ExecResult = { status: 'failed', error };
  if (opts.outputs !== undefined) result.outputs = opts.outputs;
  if (opts.usage !== undefined) result.usage = opts.usage;
  return result;
}

/** Why a signal was aborted, for messages: 'cancelled', 'shutdown', or the reason's text. */
function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return reason.message;
  return 'cancelled';
}

export function cancelled(signal: AbortSignal, opts: FailOptions = {}): ExecResult {
  const reason = abortReason(signal);
  return fail(
    'ERR_CANCELLED',
    reason === 'cancelled' ? 'cancelled' : `cancelled (${reason})`,
    opts,
  );
}

/** A one-line message of anything thrown. */
export function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n', 1)[0] ?? message;
}

/**
 * Milliseconds a `Retry-After` header asks to wait (delta-seconds or an HTTP-date), or undefined
 * when absent or unparsable.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const ms = Number(text) * 1000;
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** setTimeout fires at once for delays beyond 2^31-1 ms; longer timeouts are clamped to that. */
const maxTimerMs = 2_147_483_647;

/**
 * Calls `stop('timeout')` when the attempt's timeout passes and `stop('cancelled')` when its
 * signal aborts (at once if it already has); the answer ends the watch.
 */
export function watchAttempt(
  ctx: { timeoutMs?: number | undefined; signal: AbortSignal },
  stop: (reason: 'timeout' | 'cancelled') => void,
): () => void {
  const timer =
    ctx.timeoutMs === undefined
      ? undefined
      : setTimeout(() => stop('timeout'), Math.min(Math.max(ctx.timeoutMs, 0), maxTimerMs));
  const onAbort = () => stop('cancelled');
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  return () => {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  };
}

/** A duration for messages: `250 ms`, `2 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 || ms % 1000 !== 0 ? `${ms} ms` : `${ms / 1000} s`;
}
