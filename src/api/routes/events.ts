/** Platform events (DESIGN §7): post one, list them, read one with what it started and why not. */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { errorResponses } from '../schemas.ts';
import { pageOf, pageQueryFields } from '../../wire/common.ts';
import type { App, Services } from '../types.ts';

const tags = ['events'];

/** Dot-separated words; no '*' or '/', so a trigger's glob has something plain to match. */
const EventTypeSchema = Type.String({
  pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
  maxLength: 128,
  description: 'Dot-separated words, e.g. pr.merged, deploy.requested',
});

const StartedRunSchema = Type.Object({
  executionId: Type.String(),
  workflowId: Type.String(),
  workflowName: Type.String(),
  version: Type.Integer(),
  ruleId: Type.Optional(Type.String({ description: 'The trigger rule that started it.' })),
});

const UnmatchedSchema = Type.Object({
  workflowId: Type.String(),
  workflowName: Type.String(),
  version: Type.Integer(),
  reason: Type.String({ description: 'Why this listening workflow did not start.' }),
  ruleId: Type.Optional(Type.String({ description: 'The trigger rule that did not start it.' })),
});

const PlatformEventSchema = Type.Object({
  id: Type.String({ description: 'evt_…' }),
  type: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  data: Type.Object({}, { additionalProperties: true }),
  source: Type.String({ description: 'api, hook:<hookId> or switchyard' }),
  actor: Type.String(),
  timestamp: Type.String({ format: 'date-time' }),
  chainDepth: Type.Integer({ description: 'How many execution.* events led to this one.' }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('processed')]),
  processedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  executions: Type.Array(StartedRunSchema, { description: 'The runs this event started.' }),
  unmatched: Type.Array(UnmatchedSchema, {
    description: 'Workflows with an event trigger for this type that did not start, and why.',
  }),
});

export function eventRoutes(app: App, services: Services): void {
  const events = services.events;

  app.post(
    '/api/v1/events',
    {
      config: { permission: 'workflows.run' },
      schema: {
        tags,
        summary:
          'Publish a platform event; it starts every active published workflow whose event trigger matches',
        body: Type.Object(
          {
            type: EventTypeSchema,
            subject: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
            data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          },
          { additionalProperties: false },
        ),
        response: { 201: PlatformEventSchema, ...errorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req);
      const body = req.body;
      const event = await events.post(
        {
          type: body.type,
          ...(body.subject !== undefined && { subject: body.subject }),
          ...(body.data !== undefined && { data: body.data }),
        },
        { actor: principal.name, permissions: principal.permissions },
      );
      return reply.status(201).send(event);
    },
  );

  app.get(
    '/api/v1/events',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List platform events, newest first',
        querystring: Type.Object(
          {
            type: Type.Optional(EventTypeSchema),
            ...pageQueryFields,
          },
          { additionalProperties: false },
        ),
        response: { 200: pageOf(PlatformEventSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => events.list(req.query),
  );

  app.get(
    '/api/v1/events/:eventId',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'Read a platform event: the runs it started and why listening workflows did not',
        params: Type.Object({ eventId: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: PlatformEventSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => events.get(req.params.eventId),
  );
}
