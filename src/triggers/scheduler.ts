/**
 * The scheduler loop: each pass reads the schedule triggers of every active published version,
 * plans the due ticks (ticks.ts), applies the overlap policy against the schedule's active runs
 * and starts executions. Exactly once: each fire's idempotency key is (trigger id, scheduled
 * time) under the workflow's unique key index, so servers running passes side by side, or a pass
 * repeated after a crash before its cursor moved, start each tick once. The cursor's
 * compare-and-set only records progress.
 */
import { type NamedSchedule, namedSchedules, type Trigger } from '../definition/index.ts';
import { AppError } from '../errors.ts';
import type { Clock } from '../services/clock.ts';
import type { ExecutionService } from '../services/executions.ts';
import type { Database } from '../store/db.ts';
import * as schedulesSql from '../store/schedules.ts';
import { planTicks, tickSource } from './ticks.ts';

export interface SchedulerOptions {
  database: Database;
  clock: Clock;
  executions: ExecutionService;
  /** Pause between passes; 0: no loop (tests call `tick`). */
  intervalMs: number;
  /** A tick first seen later than this after it was due is missed. */
  graceMs: number;
  onError(err: unknown, context: Record<string, unknown>): void;
}

/** The idempotency key of a fire: the same on every server. */
export function fireKey(triggerId: string, scheduledAt: string): string {
  return `${fireKeyPrefix(triggerId)}${scheduledAt}`;
}

export function fireKeyPrefix(triggerId: string): string {
  return `schedule:${triggerId}@`;
}

export const schedulerActor = 'scheduler';

export class Scheduler {
  private pass: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: SchedulerOptions) {}

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    const loop = (): void => {
      this.timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (!this.stopped) loop();
        });
      }, this.opts.intervalMs);
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
  }

  /** One pass at `now` (the clock's time by default); passes never overlap in one process. */
  tick(now: Date = this.opts.clock.now()): Promise<void> {
    this.pass = this.pass.then(() => this.runPass(now));
    return this.pass;
  }

  private async runPass(now: Date): Promise<void> {
    let sources: schedulesSql.ScheduleSource[];
    try {
      sources = await schedulesSql.listScheduleSources(this.opts.database.db);
    } catch (err) {
      this.opts.onError(err, { what: 'listing schedules' });
      return;
    }
    for (const source of sources) {
      const triggers = JSON.parse(source.trigger_config) as Trigger[];
      for (const schedule of namedSchedules(triggers)) {
        try {
          await this.passSchedule(source.workflow_id, source.version, schedule, now);
        } catch (err) {
          // One schedule's failure (a lost connection, a bad row) must not stop the others.
          this.opts.onError(err, { workflowId: source.workflow_id, triggerId: schedule.id });
        }
      }
    }
  }

  private async passSchedule(
    workflowId: string,
    version: number,
    schedule: NamedSchedule,
    now: Date,
  ): Promise<void> {
    const db = this.opts.database.db;
    const nowIso = now.toISOString();
    let row = await schedulesSql.getSchedule(db, workflowId, schedule.id);
    // First sight starts the cursor now: nothing from before the schedule existed fires.
    row ??= await schedulesSql.ensureSchedule(db, {
      workflow_id: workflowId,
      trigger_id: schedule.id,
      paused: 0,
      cursor_at: nowIso,
      last_fired_at: null,
      last_execution_id: null,
      buffered: '[]',
      rev: 0,
      updated_at: nowIso,
    });
    if (row.paused === 1) return;
    if (row.cursor_at === null) {
      await schedulesSql.updateScheduleCas(db, workflowId, schedule.id, row.rev, {
        cursor_at: nowIso,
        updated_at: nowIso,
      });
      return;
    }
    const source = tickSource(schedule.trigger, `${workflowId}/${schedule.id}`);
    const plan = planTicks(source, new Date(row.cursor_at), now, this.opts.graceMs);
    const buffered = JSON.parse(row.buffered) as string[];
    const queue = [...buffered, ...plan.fire.map((t) => t.toISOString())];
    if (queue.length === 0 && plan.cursor.toISOString() === row.cursor_at) return;

    const overlap = schedule.trigger.overlap ?? 'skip';
    const prefix = fireKeyPrefix(schedule.id);
    let active = await schedulesSql.activeScheduleRuns(db, workflowId, prefix);
    const waiting: string[] = [];
    let last: { at: string; id: string } | undefined;
    for (const at of queue) {
      const key = fireKey(schedule.id, at);
      // Fired by an earlier pass that did not get to move the cursor, or by another server.
      const already = active.find((r) => r.idempotency_key === key);
      if (already !== undefined) {
        last = { at, id: already.id };
        continue;
      }
      if (active.length > 0 && overlap !== 'allow_all') {
        if (overlap === 'buffer_all') waiting.push(at);
        else if (overlap === 'buffer_one' && waiting.length === 0) waiting.push(at);
        if (overlap !== 'cancel_other') continue;
        for (const run of active) await this.cancel(workflowId, run.id, schedule.id, at);
        active = [];
      }
      const started = await this.fire(workflowId, version, schedule.id, at);
      if (started === undefined) continue;
      last = { at, id: started };
      if (overlap !== 'allow_all') active = [{ id: started, idempotency_key: key }];
    }
    await schedulesSql.updateScheduleCas(db, workflowId, schedule.id, row.rev, {
      cursor_at:
        plan.cursor.toISOString() > row.cursor_at ? plan.cursor.toISOString() : row.cursor_at,
      buffered: JSON.stringify(waiting),
      ...(last !== undefined && { last_fired_at: last.at, last_execution_id: last.id }),
      updated_at: nowIso,
    });
  }

  /** Starts the run of one tick; undefined when the workflow refuses it (said through onError). */
  private async fire(
    workflowId: string,
    version: number,
    triggerId: string,
    scheduledAt: string,
  ): Promise<string | undefined> {
    try {
      const { accepted } = await this.opts.executions.run(
        workflowId,
        { version },
        {
          actor: schedulerActor,
          idempotencyKey: fireKey(triggerId, scheduledAt),
          trigger: { type: 'schedule', scheduledAt, subject: triggerId },
        },
      );
      return accepted.id;
    } catch (err) {
      // The workflow's concurrency group is full and its policy is skip: the tick does not fire.
      if (err instanceof AppError && err.code === 'ERR_CONCURRENCY_SKIPPED') return undefined;
      // Params the manual trigger requires without a default, or an archive racing this pass:
      // the tick is dropped rather than retried forever.
      if (err instanceof AppError && err.status < 500) {
        this.opts.onError(err, { workflowId, triggerId, scheduledAt });
        return undefined;
      }
      throw err;
    }
  }

  private async cancel(
    workflowId: string,
    executionId: string,
    triggerId: string,
    scheduledAt: string,
  ): Promise<void> {
    try {
      await this.opts.executions.cancel(
        workflowId,
        executionId,
        schedulerActor,
        `schedule ${triggerId}: the tick of ${scheduledAt} replaces it (overlap: cancel_other)`,
      );
    } catch (err) {
      // It ended meanwhile: nothing left to cancel.
      if (err instanceof AppError && err.code === 'ERR_EXECUTION_STATE') return;
      throw err;
    }
  }
}
