/**
 * Schedule triggers as the scheduler and the API see them: each with its effective id. An id
 * left out is `schedule-<n>`, n being the trigger's 1-based place among the schedule triggers,
 * so that the stored definition stays as written and the id is derived the same way everywhere.
 */
import { parseDuration } from './duration.ts';
import type { ScheduleTrigger, Trigger } from './model.ts';

export interface NamedSchedule {
  id: string;
  trigger: ScheduleTrigger;
  /** Index in the trigger list (for problem paths). */
  index: number;
}

/** Shortest `every`: a pass of the scheduler cannot keep up with less. */
const minEveryMs = 1000;

export function namedSchedules(triggers: readonly Trigger[]): NamedSchedule[] {
  const out: NamedSchedule[] = [];
  triggers.forEach((trigger, index) => {
    if (trigger.type !== 'schedule') return;
    out.push({ id: trigger.id ?? `schedule-${out.length + 1}`, trigger, index });
  });
  return out;
}

/** Problems of one schedule beyond its schema: field combinations (relative paths). */
export function scheduleProblems(trigger: ScheduleTrigger): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  if (trigger.cron === undefined && trigger.every === undefined)
    problems.push({ field: '', message: 'needs either cron or every' });
  if (trigger.cron !== undefined && trigger.every !== undefined)
    problems.push({ field: 'every', message: 'cannot be given together with cron' });
  if (trigger.every !== undefined) {
    const ms = parseDuration(trigger.every);
    if (ms !== undefined && ms < minEveryMs)
      problems.push({ field: 'every', message: `must be at least 1s (got ${trigger.every})` });
    if (trigger.timezone !== undefined)
      problems.push({ field: 'timezone', message: 'applies to cron only, not to every' });
  }
  return problems;
}
