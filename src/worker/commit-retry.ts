/**
 * A finished node's result is kept in memory and written again until it commits: a database
 * restart or outage must not drop it (the node would run again once its lease expired). Only
 * unavailability is retried (`isUnavailable`: connection lost, refused, pool timeout, lock still
 * busy); any other error is a bug and is thrown at once.
 *
 * Trying again is safe because every decision is a compare-and-set: the task is deleted in the
 * same transaction only while this worker still holds its lease, and the execution's `rev` must
 * match. If a commit landed but its answer was lost, the next try finds the task gone and the
 * decision returns "lease lost" without writing anything twice; if another worker took the task
 * over meanwhile, the same check says so and the result is dropped, as it must be.
 */
import { isUnavailable } from '../errors.ts';

export interface CommitRetryOptions {
  /** Checked before each new try; false (the worker is stopping) ends the retries. */
  keepTrying: () => boolean;
  /** Called after each failed try with the error and the number of tries so far. */
  onRetry?: (err: unknown, tries: number) => void;
  /** Backoff bounds, jittered ±50 %: 50 ms doubling up to 2 s by default. */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/** Runs `commit` until it resolves; retries it while the database is unavailable. */
export async function commitUntilDone<T>(
  commit: () => Promise<T>,
  opts: CommitRetryOptions,
): Promise<T> {
  const first = opts.firstDelayMs ?? 50;
  const max = opts.maxDelayMs ?? 2_000;
  for (let tries = 1; ; tries++) {
    try {
      return await commit();
    } catch (err) {
      if (!isUnavailable(err) || !opts.keepTrying()) throw err;
      opts.onRetry?.(err, tries);
      const delay = Math.min(max, first * 2 ** Math.min(tries - 1, 16));
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
    }
  }
}
