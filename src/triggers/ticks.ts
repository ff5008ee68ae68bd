/**
 * Which ticks of a schedule are due: pure functions of the schedule, its cursor and the time,
 * no I/O. The scheduler (scheduler.ts) reads and writes state around them.
 *
 * Terms: a tick's *scheduled time* is when the cron or `every` says it happens; it is *due* at
 * its scheduled time plus its jitter; it is *missed* when first seen more than `graceMs` after
 * it was due (no server ran then). The cursor is the scheduled time up to which every tick has
 * been considered (fired or dropped).
 */
import { createHash } from 'node:crypto';
import { Cron, CronPattern } from 'croner';
import { parseDuration } from '../definition/duration.ts';
import type { CatchupPolicy, ScheduleTrigger } from '../definition/model.ts';

const defaultCatchupLimit = 100;
/** Most ticks enumerated in one window, so a pass stays bounded whatever the cursor. */
const maxEnumerated = 10_000;

/** A schedule trigger in the form the planner uses. */
export interface TickSource {
  next(after: Date): Date | undefined;
  /** Jitter in ms of the tick at `scheduledAt`: the same on every server. */
  jitterMs(scheduledAt: Date): number;
  maxJitterMs: number;
  catchup: CatchupPolicy;
  catchupLimit: number;
}

/** `seed` makes jitter differ between schedules (workflow id and trigger id). */
export function tickSource(trigger: ScheduleTrigger, seed: string): TickSource {
  const maxJitterMs = trigger.jitter === undefined ? 0 : (parseDuration(trigger.jitter) ?? 0);
  return {
    next:
      trigger.cron !== undefined ? cronNext(trigger.cron, trigger.timezone) : everyNext(trigger),
    maxJitterMs,
    jitterMs: (at) =>
      maxJitterMs === 0 ? 0 : hashFraction(`${seed}@${at.toISOString()}`, maxJitterMs),
    catchup: trigger.catchup ?? 'skip',
    catchupLimit: trigger.catchupLimit ?? defaultCatchupLimit,
  };
}

/** `every` ticks sit on multiples of the interval since the Unix epoch, so servers agree. */
function everyNext(trigger: ScheduleTrigger): (after: Date) => Date {
  const ms = parseDuration(trigger.every ?? '') ?? 60_000;
  return (after) => new Date((Math.floor(after.getTime() / ms) + 1) * ms);
}

/**
 * Croner moves a local time that a DST change skips to the hour after it (02:30 on the spring
 * change fires at 03:30); a skipped local time must not fire, so such ticks are passed over by
 * checking the tick's wall-clock hour, minute and second against the pattern. A repeated local
 * time (autumn) comes once from croner already.
 */
function cronNext(expr: string, timezone: string | undefined): (after: Date) => Date | undefined {
  const cron = new Cron(expr, { paused: true, ...(timezone !== undefined && { timezone }) });
  const pattern = new CronPattern(expr, timezone);
  const wall = wallClock(timezone ?? 'UTC');
  return (after) => {
    let t: Date | null = after;
    for (let i = 0; i < 4; i++) {
      t = cron.nextRun(t);
      if (t === null) return undefined;
      const [h, m, s] = wall(t);
      if (pattern.hour[h] === 1 && pattern.minute[m] === 1 && pattern.second[s] === 1) return t;
    }
    return undefined;
  };
}

function wallClock(timeZone: string): (at: Date) => [number, number, number] {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return (at) => {
    const parts = format.formatToParts(at);
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
    return [get('hour'), get('minute'), get('second')];
  };
}

function hashFraction(text: string, range: number): number {
  const n = createHash('sha256').update(text).digest().readUInt32BE(0);
  return Math.floor((n / 0x1_0000_0000) * range);
}

/** Ticks with `after < t <= until`, ascending, at most `max`. */
export function ticksBetween(source: TickSource, after: Date, until: Date, max: number): Date[] {
  const out: Date[] = [];
  let t = source.next(after);
  while (t !== undefined && t <= until && out.length < max) {
    out.push(t);
    t = source.next(t);
  }
  return out;
}

/**
 * The newest `n` ticks in `(after, until]`, found in windows that double backwards from
 * `until`, so a cursor a year old costs as much as the ticks asked for.
 */
function newestTicks(source: TickSource, after: Date, until: Date, n: number): Date[] {
  if (n <= 0 || after >= until) return [];
  for (let width = 60_000; ; width *= 2) {
    const from = new Date(Math.max(after.getTime(), until.getTime() - width));
    const found: Date[] = [];
    let t = source.next(from);
    // Keeps only the newest n while walking, so memory stays at n.
    let walked = 0;
    while (t !== undefined && t <= until && walked < maxEnumerated * 10) {
      found.push(t);
      if (found.length > n) found.shift();
      walked++;
      t = source.next(t);
    }
    if (found.length >= n || from.getTime() === after.getTime()) return found;
  }
}

export interface TickPlan {
  /** Scheduled times to fire, ascending. */
  fire: Date[];
  /** The new cursor (unchanged when nothing was considered). */
  cursor: Date;
}

/**
 * Which ticks after `cursor` fire at `now`. On-time ticks always fire; of the missed ones,
 * `skip` fires none, `latest` the newest one and `all` the newest `catchupLimit`, oldest first.
 * A tick whose jittered due time is still ahead stops the plan: the cursor stays before it.
 */
export function planTicks(source: TickSource, cursor: Date, now: Date, graceMs: number): TickPlan {
  const keep = source.catchup === 'all' ? source.catchupLimit : source.catchup === 'latest' ? 1 : 0;
  // Ticks before windowStart are due before now - grace whatever their jitter: all missed.
  const windowStart = new Date(
    Math.max(cursor.getTime(), now.getTime() - graceMs - source.maxJitterMs),
  );
  const older = cursor < windowStart ? newestTicks(source, cursor, windowStart, keep) : [];
  const missed: Date[] = [...older];
  const onTime: Date[] = [];
  let considered: Date = windowStart;
  for (const t of ticksBetween(source, windowStart, now, maxEnumerated)) {
    const due = t.getTime() + source.jitterMs(t);
    if (due > now.getTime()) break;
    if (due < now.getTime() - graceMs) missed.push(t);
    else onTime.push(t);
    considered = t;
  }
  const caughtUp = missed.slice(Math.max(0, missed.length - keep));
  return { fire: [...caughtUp, ...onTime], cursor: considered };
}

/** The next `n` scheduled times after `after` (for the API). */
export function nextTicks(source: TickSource, after: Date, n: number): Date[] {
  return ticksBetween(source, after, new Date(8_640_000_000_000_000), n);
}
