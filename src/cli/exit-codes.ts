/** Exit codes of `yard` (documented in docs/cli.md) and the error that carries one. */
export const ExitCode = {
  /** Success; for `wait`/`run --wait`: the execution succeeded. */
  ok: 0,
  /** The execution failed, or the server answered an error. */
  failed: 1,
  /** The execution was cancelled. */
  cancelled: 2,
  /** `--timeout` passed before the execution finished. */
  timeout: 3,
  /** Bad usage (unknown command, missing or bad argument, no token) or the server is unreachable. */
  usage: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as its message alone, exiting with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly code: string | undefined;
  readonly status: number | undefined;

  constructor(message: string, exitCode: ExitCode, opts: { code?: string; status?: number } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = opts.code;
    this.status = opts.status;
  }
}

export const usageError = (message: string): CliError => new CliError(message, ExitCode.usage);
