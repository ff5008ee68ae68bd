/**
 * The one error catalog. Every error a client can see has a stable `ERR_<AREA>_<WHAT>` code, an
 * HTTP status and a `retryable` flag. `docs/api.md` lists exactly these codes (a test holds it).
 */

const errorCatalog = {
  ERR_BAD_REQUEST: { status: 400, retryable: false, message: 'The request is malformed.' },
  ERR_VALIDATION: {
    status: 400,
    retryable: false,
    message: 'The request does not match the schema.',
  },
  ERR_PARAMS_INVALID: {
    status: 400,
    retryable: false,
    message: "The params do not match the workflow's manual trigger inputs.",
  },
  ERR_ARTIFACT_PATH_INVALID: {
    status: 400,
    retryable: false,
    message: "The artifact path is not a relative '/'-separated path inside the workspace.",
  },
  ERR_JSON_MALFORMED: { status: 400, retryable: false, message: 'The body is not valid JSON.' },
  ERR_YAML_MALFORMED: {
    status: 400,
    retryable: false,
    message: 'The body is not a valid YAML document.',
  },
  ERR_AUTH_MISSING: { status: 401, retryable: false, message: 'A bearer token is required.' },
  ERR_AUTH_INVALID: { status: 401, retryable: false, message: 'The bearer token is not valid.' },
  ERR_AUTH_FORBIDDEN: {
    status: 403,
    retryable: false,
    message: 'The token lacks the permission for this route.',
  },
  ERR_AUTH_CSRF: {
    status: 403,
    retryable: false,
    message: 'A write authenticated by the session cookie needs the session’s X-CSRF-Token header.',
  },
  ERR_APPROVAL_FORBIDDEN: {
    status: 403,
    retryable: false,
    message: 'The token is not one of the approval’s approvers.',
  },
  ERR_AUTH_TOKEN_ENDED: {
    status: 401,
    retryable: false,
    message: 'The execution token is no longer valid: its node attempt or execution has ended.',
  },
  ERR_GATEWAY_PROVIDER: {
    status: 400,
    retryable: false,
    message: 'No configured LLM provider serves this model on this wire format.',
  },
  ERR_GATEWAY_UPSTREAM: {
    status: 502,
    retryable: true,
    message: 'The LLM provider could not be reached.',
  },
  ERR_NOT_FOUND: { status: 404, retryable: false, message: 'No such route.' },
  ERR_WORKFLOW_NOT_FOUND: { status: 404, retryable: false, message: 'No such workflow.' },
  ERR_VERSION_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'No such version of this workflow.',
  },
  ERR_SCHEDULE_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'The active version has no schedule with that id.',
  },
  ERR_EXECUTION_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'No such execution under this workflow.',
  },
  ERR_DLQ_NOT_FOUND: { status: 404, retryable: false, message: 'No such DLQ entry.' },
  ERR_TOKEN_NOT_FOUND: { status: 404, retryable: false, message: 'No such token.' },
  ERR_EVENT_NOT_FOUND: { status: 404, retryable: false, message: 'No such platform event.' },
  ERR_HOOK_NOT_FOUND: { status: 404, retryable: false, message: 'No such hook.' },
  ERR_HOOK_SIGNATURE: {
    status: 401,
    retryable: false,
    message: 'The delivery is not signed with the hook’s secret.',
  },
  ERR_HOOK_REPLAY: {
    status: 401,
    retryable: false,
    message: 'This signed delivery was received before (a replay).',
  },
  ERR_HOOK_NAME_TAKEN: {
    status: 409,
    retryable: false,
    message: 'The workflow already has a hook of that name.',
  },
  ERR_SECRET_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'No such secret in this scope.',
  },
  ERR_RULE_NOT_FOUND: { status: 404, retryable: false, message: 'No such trigger rule.' },
  ERR_ARTIFACT_NOT_FOUND: {
    status: 404,
    retryable: false,
    message: 'No such artifact in this execution.',
  },
  ERR_ARTIFACT_EXPIRED: {
    status: 410,
    retryable: false,
    message: 'The artifact expired and its file was deleted.',
  },
  ERR_METHOD_NOT_ALLOWED: {
    status: 405,
    retryable: false,
    message: 'The method is not allowed on this route.',
  },
  ERR_WORKFLOW_ARCHIVED: { status: 409, retryable: false, message: 'The workflow is archived.' },
  ERR_WORKFLOW_NO_DRAFT: {
    status: 409,
    retryable: false,
    message: 'The workflow has no draft to publish.',
  },
  ERR_VERSION_NOT_PUBLISHED: {
    status: 409,
    retryable: false,
    message: 'Only a published version can be promoted.',
  },
  ERR_EXECUTION_STATE: {
    status: 409,
    retryable: false,
    message: 'The execution is not in a state that allows this.',
  },
  ERR_WORKSPACE_EXPIRED: {
    status: 409,
    retryable: false,
    message:
      'The execution ended longer ago than its retention_hours and its workspace was removed; retry with {"fresh": true} to run every node again.',
  },
  ERR_DLQ_STATE: {
    status: 409,
    retryable: false,
    message: 'The DLQ entry is not in a state that allows this.',
  },
  ERR_CONCURRENCY_SKIPPED: {
    status: 409,
    retryable: true,
    message: "The workflow's concurrency group is full and its policy is skip: no run was started.",
  },
  ERR_CONFLICT: {
    status: 409,
    retryable: true,
    message: 'The resource changed concurrently; try again.',
  },
  ERR_WORKFLOW_NAME_TAKEN: {
    status: 409,
    retryable: false,
    message: 'Another live workflow has this name.',
  },
  ERR_GRAPH_TOO_LARGE: {
    status: 413,
    retryable: false,
    message: 'The graph has more nodes than allowed.',
  },
  ERR_WORKFLOW_INVALID: {
    status: 422,
    retryable: false,
    message: 'The workflow definition is invalid.',
  },
  ERR_RULE_INVALID: {
    status: 422,
    retryable: false,
    message: 'The trigger rule is invalid.',
  },
  ERR_SECRET_TOO_LARGE: {
    status: 413,
    retryable: false,
    message: 'The secret value is larger than 64 KiB.',
  },
  ERR_SECRETS_KEY_CHANGED: {
    status: 503,
    retryable: false,
    message:
      "This server's secrets key is no longer the database's (the key was rotated); restart the server with the current key.",
  },
  ERR_BODY_TOO_LARGE: { status: 413, retryable: false, message: 'The request body is too large.' },
  ERR_URI_TOO_LONG: {
    status: 414,
    retryable: false,
    message: 'The URL or one of its path parameters is too long.',
  },
  ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retryable: false,
    message: 'The content type is not supported here.',
  },
  ERR_RANGE_NOT_SATISFIABLE: {
    status: 416,
    retryable: false,
    message: 'The requested byte range lies outside the file.',
  },
  ERR_RATE_LIMITED: { status: 429, retryable: true, message: 'Too many requests.' },
  ERR_UNAVAILABLE: {
    status: 503,
    retryable: true,
    message: 'The database is unavailable; try again shortly.',
  },
  ERR_INTERNAL: { status: 500, retryable: true, message: 'An internal error occurred.' },
} as const satisfies Record<string, { status: number; retryable: boolean; message: string }>;

export type ErrorCode = keyof typeof errorCatalog;
export const errorCodes = Object.keys(errorCatalog) as ErrorCode[];

/** One problem in a request or definition: where it is and what is wrong. */
export interface ErrorDetail {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  message?: string;
  details?: ErrorDetail[];
  /** Ids involved (workflowId, version, tokenId, ...), included in the body as `context`. */
  context?: Record<string, unknown>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: ErrorDetail[];
  readonly context: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, opts: AppErrorOptions = {}) {
    const entry = errorCatalog[code];
    super(
      opts.message ?? entry.message,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.retryable = entry.retryable;
    this.details = opts.details ?? [];
    this.context = opts.context;
  }

  /** The wire body of DESIGN §9. */
  toBody(): ErrorBody {
    const body: ErrorBody = { error: this.message, code: this.code, details: this.details };
    if (this.context !== undefined) body.context = this.context;
    return body;
  }
}

export interface ErrorBody {
  error: string;
  code: string;
  details: ErrorDetail[];
  context?: Record<string, unknown>;
}

/** Seconds a client is asked to wait (`Retry-After`) before trying again after ERR_UNAVAILABLE. */
export const unavailableRetryAfterSeconds = 2;

// Node socket errors of a database connection that is down, refused or cut.
const unavailableSocketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// PostgreSQL: 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting or
// shutting down), 53300 too many connections; class 08 is "connection exception".
const unavailablePgCodes = new Set(['57P01', '57P02', '57P03', '53300']);
// Lock and serialization failures still there after the store's own retries: the database is
// too busy to answer now.
const busyCodes = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', '40001', '40P01', '55P03']);
// What pg and pg-pool throw without a code when a connection ends, breaks or cannot be had.
const unavailableMessages = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable$/,
  /^Connection ended unexpectedly/,
];

/**
 * Whether `err` means the database cannot be reached or cannot answer right now (a restart, an
 * outage, a connection that died, a pool that cannot connect, a lock that stayed busy), as
 * opposed to a bug: the operation may succeed when tried again later. Looks through `cause`s.
 */
export function isUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (unavailableSocketCodes.has(code) || unavailablePgCodes.has(code) || busyCodes.has(code))
        return true;
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && unavailableMessages.some((re) => re.test(message)))
      return true;
    // Node reports a refused connection to several addresses as one AggregateError.
    if (e instanceof AggregateError && e.errors.some((inner) => isUnavailable(inner))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Turns anything thrown into an AppError: a database that cannot answer becomes ERR_UNAVAILABLE,
 * other unknown errors ERR_INTERNAL, with the cause kept.
 */
export function coerceError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isUnavailable(err))
    return new AppError('ERR_UNAVAILABLE', {
      message: 'The database is unavailable; try again shortly.',
      cause: err,
    });
  return new AppError('ERR_INTERNAL', { cause: err });
}
