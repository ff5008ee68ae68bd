/**
 * The scheduler loop: each pass reads the schedule triggers of every active published version,
 * plans the due ticks (ticks.ts), applies the overlap policy against the schedule's active runs
 * and starts executions. Exactly once: each fire's idempotency key is (trigger id, scheduled
 * time) under the workflow's unique key index, so servers running passes side by side, or a pass
 * repeated after a crash before its cursor moved, start each tick once. The cursor's
 * compare-and-set only records progress.
 */
import {
  type NamedSchedule,
  namedSchedules,
  type ScheduleTrigger,
  type Trigger,
} from '../definition/index.ts';
import { AppError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { ExecutionService } from '../services/executions.ts';
import type { Database } from '../store/db.ts';
import * as schedulesSql from '../store/schedules.ts';
import { PassLoop } from './pass-loop.ts';
import { planTicks, tickSource, ticksBetween } from './ticks.ts';

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
function fireKey(triggerId: string, scheduledAt: string): string {
  return `${fireKeyPrefix(triggerId)}${scheduledAt}`;
}

function fireKeyPrefix(triggerId: string): string {
  return `schedule:${triggerId}@`;
}

const schedulerActor = 'scheduler';

/** The most ticks one backfill may fire. */
const maxBackfillTicks = 1000;

export type Overlap = NonNullable<ScheduleTrigger['overlap']>;

/** What became of one tick of a backfill. */
export interface TickResult {
  scheduledAt: string;
  outcome: 'fired' | 'already_fired' | 'buffered' | 'skipped' | 'refused';
  executionId?: string;
}

export class Scheduler {
  private readonly loop: PassLoop;

  constructor(private readonly opts: SchedulerOptions) {
    this.loop = new PassLoop(opts.intervalMs, opts.clock, (now) => this.runPass(now));
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass at `now` (the clock's time by default); passes never overlap in one process. */
  tick(now?: Date): Promise<void> {
    return this.loop.tick(now);
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

    const { waiting, last } = await this.fireTicks(
      workflowId,
      version,
      schedule.id,
      queue,
      schedule.trigger.overlap ?? 'skip',
    );
    await schedulesSql.updateScheduleCas(db, workflowId, schedule.id, row.rev, {
      cursor_at:
        plan.cursor.toISOString() > row.cursor_at ? plan.cursor.toISOString() : row.cursor_at,
      buffered: JSON.stringify(waiting),
      ...(last !== undefined && { last_fired_at: last.at, last_execution_id: last.id }),
      updated_at: nowIso,
    });
  }

  /**
   * Backfill: fires every tick of the active version's schedule in (from, to] now, under
   * `overlap` (default `allow_all`), with the ticks' own idempotency keys, so a tick that already
   * fired (by the schedule or an earlier backfill) does not fire again. Ticks an overlap policy
   * buffers join the schedule's waiting ticks and fire as runs end.
   */
  async backfill(
    workflowId: string,
    version: number,
    schedule: NamedSchedule,
    range: { from: Date; to: Date; overlap?: Overlap },
  ): Promise<TickResult[]> {
    const source = tickSource(schedule.trigger, `${workflowId}/${schedule.id}`);
    const ticks = ticksBetween(source, range.from, range.to, maxBackfillTicks + 1);
    if (ticks.length > maxBackfillTicks)
      throw new AppError('ERR_BAD_REQUEST', {
        message: `The range holds more than ${maxBackfillTicks} ticks of ${schedule.id}; backfill a shorter range.`,
        context: { workflowId, triggerId: schedule.id },
      });
    const queue = ticks.map((t) => t.toISOString());
    const { results, waiting } = await this.fireTicks(
      workflowId,
      version,
      schedule.id,
      queue,
      range.overlap ?? 'allow_all',
    );
    if (waiting.length > 0) await this.addWaiting(workflowId, schedule.id, waiting);
    return results;
  }

  /**
   * Fires `queue` (scheduled times, oldest first) under `overlap` against the schedule's active
   * runs; answers each tick's result, the ticks left waiting and the newest fire.
   */
  private async fireTicks(
    workflowId: string,
    version: number,
    triggerId: string,
    queue: readonly string[],
    overlap: Overlap,
  ): Promise<{ results: TickResult[]; waiting: string[]; last?: { at: string; id: string } }> {
    const db = this.opts.database.db;
    let active = await schedulesSql.activeScheduleRuns(db, workflowId, fireKeyPrefix(triggerId));
    const results: TickResult[] = [];
    const waiting: string[] = [];
    let last: { at: string; id: string } | undefined;
    for (const at of queue) {
      const key = fireKey(triggerId, at);
      // Fired by an earlier pass that did not get to move the cursor, or by another server.
      const already = active.find((r) => r.idempotency_key === key);
      if (already !== undefined) {
        last = { at, id: already.id };
        results.push({ scheduledAt: at, outcome: 'already_fired', executionId: already.id });
        continue;
      }
      if (active.length > 0 && overlap !== 'allow_all') {
        if (overlap === 'buffer_all' || (overlap === 'buffer_one' && waiting.length === 0)) {
          waiting.push(at);
          results.push({ scheduledAt: at, outcome: 'buffered' });
        } else if (overlap !== 'cancel_other') {
          results.push({ scheduledAt: at, outcome: 'skipped' });
        }
        if (overlap !== 'cancel_other') continue;
        for (const run of active) await this.cancel(workflowId, run.id, triggerId, at);
        active = [];
      }
      const started = await this.fire(workflowId, version, triggerId, at);
      if (started === undefined) {
        results.push({ scheduledAt: at, outcome: 'refused' });
        continue;
      }
      last = { at, id: started.id };
      results.push({
        scheduledAt: at,
        outcome: started.created ? 'fired' : 'already_fired',
        executionId: started.id,
      });
      if (overlap !== 'allow_all') active = [{ id: started.id, idempotency_key: key }];
    }
    return { results, waiting, ...(last !== undefined && { last }) };
  }

  /** Adds ticks to the schedule's waiting list (compare-and-set against passes). */
  private async addWaiting(workflowId: string, triggerId: string, ticks: string[]): Promise<void> {
    const db = this.opts.database.db;
    const now = this.opts.clock.now().toISOString();
    for (;;) {
      const row = await schedulesSql.ensureSchedule(db, {
        workflow_id: workflowId,
        trigger_id: triggerId,
        paused: 0,
        cursor_at: now,
        last_fired_at: null,
        last_execution_id: null,
        buffered: '[]',
        rev: 0,
        updated_at: now,
      });
      const merged = [...new Set([...(JSON.parse(row.buffered) as string[]), ...ticks])].sort();
      const changes = { buffered: JSON.stringify(merged), updated_at: now };
      if (await schedulesSql.updateScheduleCas(db, workflowId, triggerId, row.rev, changes)) return;
    }
  }

  /** Starts the run of one tick; undefined when the workflow refuses it (said through onError). */
  private async fire(
    workflowId: string,
    version: number,
    triggerId: string,
    scheduledAt: string,
  ): Promise<{ id: string; created: boolean } | undefined> {
    try {
      const { accepted, created } = await this.opts.executions.run(
        workflowId,
        { version },
        {
          actor: schedulerActor,
          idempotencyKey: fireKey(triggerId, scheduledAt),
          trigger: { type: 'schedule', scheduledAt, subject: triggerId },
        },
      );
      return { id: accepted.id, created };
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
