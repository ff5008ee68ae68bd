/** Schedules of a workflow (docs/triggers.md): list with next fire times, pause, resume. */
import { Type } from 'typebox';
import { ScheduleViewSchema } from '../../services/schedules.ts';
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
}
