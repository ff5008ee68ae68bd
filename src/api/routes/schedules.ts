/** Schedules of a workflow (docs/triggers.md): list with next fire times, pause, resume. */
import { Type } from 'typebox';
import { BackfillResultSchema, ScheduleViewSchema } from '../../services/schedules.ts';
import { WorkflowIdParams, errorResponses } from '../schemas.ts';
import type { App, Services } from '../types.ts';

const tags = ['schedules'];
const ScheduleParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  triggerId: Type.String({ minLength: 1, maxLength: 64 }),
});

export function scheduleRoutes(app: App, services: Services): void {
  app.get(
    '/api/v1/workflows/:id/schedules',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: "The active version's schedules with their next fire times and last fire",
        params: WorkflowIdParams,
        response: {
          200: Type.Object({ items: Type.Array(ScheduleViewSchema) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req) => ({ items: await services.schedules.list(req.params.id) }),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/api/v1/workflows/:id/schedules/:triggerId/${action}`,
      {
        config: { permission: 'workflows.edit' },
        schema: {
          tags,
          summary:
            action === 'pause'
              ? 'Pause a schedule (idempotent): it fires nothing until resumed'
              : 'Resume a schedule (idempotent): ticks from now on fire, those of the pause do not',
          params: ScheduleParams,
          response: { 200: ScheduleViewSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (req) =>
        services.schedules.setPaused(req.params.id, req.params.triggerId, action === 'pause'),
    );
  }

  app.post(
    '/api/v1/workflows/:id/schedules/:triggerId/backfill',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary:
          'Fire every tick of a schedule in (from, to] now, under its own overlap policy (default allow_all); ticks that fired before do not fire again',
        params: ScheduleParams,
        body: Type.Object(
          {
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            overlap: Type.Optional(
              Type.Union([
                Type.Literal('skip'),
                Type.Literal('buffer_one'),
                Type.Literal('buffer_all'),
                Type.Literal('cancel_other'),
                Type.Literal('allow_all'),
              ]),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: BackfillResultSchema, ...errorResponses(400, 401, 403, 404, 415) },
      },
    },
    async (req) =>
      services.schedules.backfill(req.params.id, req.params.triggerId, {
        from: req.body.from,
        to: req.body.to,
        ...(req.body.overlap !== undefined && { overlap: req.body.overlap }),
      }),
  );
}
