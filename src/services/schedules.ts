/**
 * Schedules of a workflow as the API shows them: the schedule triggers of the active version
 * with their state (paused, last fire) and next fire times; pause and resume. The paused flag
 * lives outside versions, so it survives publish and promote.
 */
import { type Static, Type } from 'typebox';
import { type Trigger, namedSchedules } from '../definition/index.ts';
import { AppError } from '../errors.ts';
import type { Database } from '../store/db.ts';
import * as schedulesSql from '../store/schedules.ts';
import { getVersion } from '../store/versions.ts';
import { getWorkflow } from '../store/workflows.ts';
import type { Overlap, Scheduler } from '../triggers/scheduler.ts';
import { nextTicks, tickSource } from '../triggers/ticks.ts';
import { type Clock, isoNow } from '../clock.ts';

export const ScheduleViewSchema = Type.Object({
  id: Type.String(),
  cron: Type.Optional(Type.String()),
  every: Type.Optional(Type.String()),
  timezone: Type.String({ description: 'IANA time zone of a cron (UTC by default).' }),
  paused: Type.Boolean(),
  nextFireTimes: Type.Array(Type.String({ format: 'date-time' }), {
    description: 'The next 3 scheduled times (before jitter); empty while paused.',
  }),
  lastFiredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Scheduled time of the newest fire.',
  }),
  lastExecutionId: Type.Optional(Type.String()),
});
export type ScheduleView = Static<typeof ScheduleViewSchema>;

export const BackfillResultSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      scheduledAt: Type.String({ format: 'date-time' }),
      outcome: Type.Union(
        [
          Type.Literal('fired'),
          Type.Literal('already_fired'),
          Type.Literal('buffered'),
          Type.Literal('skipped'),
          Type.Literal('refused'),
        ],
        {
          description:
            '`fired`: a run started; `already_fired`: the tick had fired before (its run is `executionId`); `buffered`: waits for the active run to end; `skipped`: dropped by the overlap policy; `refused`: the workflow refused the run (e.g. a required input without default).',
        },
      ),
      executionId: Type.Optional(Type.String()),
    }),
  ),
});

export class ScheduleService {
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
  ) {}

  /** Fires every tick of a schedule in (from, to] now (see Scheduler.backfill). */
  async backfill(
    workflowId: string,
    triggerId: string,
    body: { from: string; to: string; overlap?: Overlap },
  ): Promise<Static<typeof BackfillResultSchema>> {
    const schedule = (await this.activeSchedules(workflowId)).find((s) => s.id === triggerId);
    if (schedule === undefined) throw noSchedule(workflowId, triggerId);
    const from = new Date(body.from);
    const to = new Date(body.to);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to)
      throw new AppError('ERR_BAD_REQUEST', {
        message: 'Backfill needs `from` before `to`, both RFC 3339 times.',
        context: { from: body.from, to: body.to },
      });
    if (to > this.clock.now())
      throw new AppError('ERR_BAD_REQUEST', {
        message:
          'Backfill covers the past: `to` must not be after now (future ticks fire by themselves).',
        context: { to: body.to },
      });
    const wf = await getWorkflow(this.database.db, workflowId);
    const items = await this.scheduler.backfill(workflowId, wf!.active_version!, schedule, {
      from,
      to,
      ...(body.overlap !== undefined && { overlap: body.overlap }),
    });
    return { items };
  }

  /** Schedule triggers of the active version; none while nothing is published. */
  async list(workflowId: string): Promise<ScheduleView[]> {
    const db = this.database.db;
    const schedules = await this.activeSchedules(workflowId);
    const rows = new Map(
      (await schedulesSql.listSchedules(db, workflowId)).map((r) => [r.trigger_id, r]),
    );
    const now = this.clock.now();
    return schedules.map(({ id, trigger }) => {
      const row = rows.get(id);
      const paused = row?.paused === 1;
      // Ticks after the cursor that have not fired yet come first, so an overdue tick shows.
      const from =
        row?.cursor_at != null && row.cursor_at < now.toISOString() ? new Date(row.cursor_at) : now;
      return {
        id,
        ...(trigger.cron !== undefined && { cron: trigger.cron }),
        ...(trigger.every !== undefined && { every: trigger.every }),
        timezone: trigger.timezone ?? 'UTC',
        paused,
        nextFireTimes: paused
          ? []
          : nextTicks(tickSource(trigger, `${workflowId}/${id}`), from, 3).map((t) =>
              t.toISOString(),
            ),
        lastFiredAt: row?.last_fired_at ?? null,
        ...(row?.last_execution_id != null && { lastExecutionId: row.last_execution_id }),
      };
    });
  }

  /** Idempotent. Resuming starts counting at the resume: ticks of the pause never fire. */
  async setPaused(workflowId: string, triggerId: string, paused: boolean): Promise<ScheduleView> {
    const schedules = await this.activeSchedules(workflowId);
    if (!schedules.some((s) => s.id === triggerId)) throw noSchedule(workflowId, triggerId);
    const db = this.database.db;
    const now = isoNow(this.clock);
    // Compare-and-set against a scheduler pass that may be moving the cursor meanwhile.
    for (;;) {
      const row = await schedulesSql.ensureSchedule(db, {
        workflow_id: workflowId,
        trigger_id: triggerId,
        paused: paused ? 1 : 0,
        cursor_at: paused ? null : now,
        last_fired_at: null,
        last_execution_id: null,
        buffered: '[]',
        rev: 0,
        updated_at: now,
      });
      if ((row.paused === 1) === paused) break;
      const changes: schedulesSql.ScheduleChanges = paused
        ? { paused: 1, buffered: '[]', updated_at: now }
        : { paused: 0, cursor_at: now, updated_at: now };
      if (await schedulesSql.updateScheduleCas(db, workflowId, triggerId, row.rev, changes)) break;
    }
    return (await this.list(workflowId)).find((s) => s.id === triggerId)!;
  }

  private async activeSchedules(workflowId: string) {
    const db = this.database.db;
    const wf = await getWorkflow(db, workflowId);
    if (!wf)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${workflowId}.`,
        context: { workflowId },
      });
    if (wf.active_version === null || wf.status === 'archived') return [];
    const v = await getVersion(db, workflowId, wf.active_version);
    return v === undefined ? [] : namedSchedules(JSON.parse(v.trigger_config) as Trigger[]);
  }
}

function noSchedule(workflowId: string, triggerId: string): AppError {
  return new AppError('ERR_SCHEDULE_NOT_FOUND', {
    message: `Workflow ${workflowId} has no schedule ${triggerId} in its active version.`,
    context: { workflowId, triggerId },
  });
}
