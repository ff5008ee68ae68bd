/**
 * Transient database errors, retried inside the store (CONVENTIONS 7): lock and serialization
 * failures succeed when the transaction is simply run again.
 */
const transientPgCodes = new Set(['40001', '40P01', '55P03']);

/** Lock and serialization failures that succeed when tried again. */
function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === 'SQLITE_BUSY' ||
    code === 'SQLITE_BUSY_SNAPSHOT' ||
    (typeof code === 'string' && transientPgCodes.has(code))
  );
}

/** Whether `err` is a unique-constraint violation (both dialects). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/**
 * Runs `fn` again after a transient error, with jittered exponential backoff, up to `attempts`
 * times. A lost connection is not retried here: whether its COMMIT landed is unknown, so only
 * callers whose writes are compare-and-set may try again (the worker's commit retry does).
 */
export async function withRetry<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** i) * (0.5 + Math.random())));
    }
  }
}
