/** A sandbox failure with a node error code (`ERR_NODE_IMAGE`, ...) the executor can report. */
export class SandboxError extends Error {
  override name = 'SandboxError';
  constructor(
    readonly code:
      'ERR_NODE_IMAGE' | 'ERR_NODE_SPAWN' | 'ERR_NODE_CONFIG' | 'ERR_RUNTIME_FORBIDDEN',
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The engine's HTTP status of a failed call (404 gone, 409 conflict). */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

export function missingImage(image: string, cause: unknown): SandboxError {
  return new SandboxError(
    'ERR_NODE_IMAGE',
    `image ${JSON.stringify(image)} is not on the Docker host; Switchyard never pulls images: build, load or import it there first`,
    false,
    { cause },
  );
}

/** A start refused because the image has no such user is the workflow's to fix. */
export function startError(err: unknown, user: string | undefined): unknown {
  const message = (err as Error | null)?.message ?? '';
  if (
    user !== undefined &&
    /unable to find (user|group)|no matching entries in (passwd|group)/i.test(message)
  ) {
    return new SandboxError(
      'ERR_NODE_CONFIG',
      `runtime_config.user ${JSON.stringify(user)} does not exist in the image (a numeric uid:gid needs no entry)`,
      false,
      { cause: err },
    );
  }
  return err;
}
