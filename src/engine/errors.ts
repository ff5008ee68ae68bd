/**
 * Error codes the engine and the worker give nodes and executions themselves (a node's or an
 * execution's `error.code`, DLQ entries), beside the executors' codes
 * (`src/nodes/errors.ts`, which reuses `ERR_CANCELLED` from here). `docs/engine.md`
 * lists both catalogs (a test holds it); the API's codes are `src/errors.ts`.
 */
export const engineErrorCatalog = {
  /** Stopped by a cancel request, `fail_fast`, a shutdown or the parent's cancel. */
  ERR_CANCELLED: { retryable: false },
  /** A node failed without saying why. */
  ERR_NODE_FAILED: { retryable: true },
  /** An expression (`if`, a template, `when`) failed when it was evaluated. */
  ERR_EXPRESSION: { retryable: false },
  /** An approval was rejected. */
  ERR_APPROVAL_REJECTED: { retryable: false },
  /** A `workflow` node's child could not be started (no such workflow or version). */
  ERR_CHILD_START: { retryable: false },
  /** A `workflow` node's child did not succeed. */
  ERR_CHILD_FAILED: { retryable: false },
  /** The execution ran past its `timeout`. */
  ERR_EXECUTION_TIMEOUT: { retryable: false },
  /** No node could run, yet some never ran (a bug). */
  ERR_ENGINE_STUCK: { retryable: false },
  /** No executor for the node's type. */
  ERR_NODE_TYPE: { retryable: false },
  /** A secret the node names is set neither for its workflow nor globally. */
  ERR_SECRET_NOT_FOUND: { retryable: false },
  /** The runtime could not give the node an environment. */
  ERR_RUNTIME: { retryable: true },
  /** The runtime (e.g. the Docker engine) is not reachable. */
  ERR_RUNTIME_UNAVAILABLE: { retryable: true },
  /** The server running the attempt stopped before it finished (its lease ran out): taken over. */
  ERR_WORKER_LOST: { retryable: true },
} as const satisfies Record<string, { retryable: boolean }>;

export type EngineErrorCode = keyof typeof engineErrorCatalog;
export const engineErrorCodes = Object.keys(engineErrorCatalog) as EngineErrorCode[];
