/**
 * For state that no engine event reports — host processes, cgroups, containers, socket
 * counters, files a sandbox leaves — a check repeated with a growing pause until it holds. Engine
 * state is awaited on events instead (test/helpers/events.ts); the deadline is a failure guard.
 */
import { setTimeout as pause } from 'node:timers/promises';

export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let pauseMs = 5; ; pauseMs = Math.min(pauseMs * 2, 200)) {
    const got = await check();
    if (got !== undefined) return got;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(pauseMs);
  }
}
