/** The clock services, the worker and the triggers use; tests pass a fake one. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** RFC 3339 UTC with milliseconds: sorts as text and parses everywhere. */
export function isoNow(clock: Clock): string {
  return clock.now().toISOString();
}
