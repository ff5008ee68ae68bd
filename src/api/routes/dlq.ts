/** Dead letter queue (seed: "Dead letter queue"). */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { emptyBodyIsEmptyObject, errorResponses } from '../schemas.ts';
import { pageOf } from '../../wire/common.ts';
import { DlqSchema, DlqStatusSchema } from '../../wire/executions.ts';
import type { App, Services } from '../types.ts';

const tags = ['dlq'];
const DlqParams = Type.Object({ dlqId: Type.String({ minLength: 1, maxLength: 64 }) });

export function dlqRoutes(app: App, services: Services): void {
  const dlq = services.dlq;

  app.get(
    '/api/v1/workflows/dlq',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List failed nodes across all executions',
        querystring: Type.Object(
          {
            workflowId: Type.Optional(Type.String({ maxLength: 64 })),
            executionId: Type.Optional(Type.String({ maxLength: 64 })),
            nodeId: Type.Optional(Type.String({ maxLength: 64 })),
            status: Type.Optional(DlqStatusSchema),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            cursor: Type.Optional(Type.String({ maxLength: 512 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: pageOf(DlqSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => dlq.list(req.query),
  );

  app.get(
    '/api/v1/workflows/dlq/:dlqId',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'Read a failure with full context',
        params: DlqParams,
        response: { 200: DlqSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => dlq.get(req.params.dlqId),
  );

  app.post(
    '/api/v1/workflows/dlq/:dlqId/retry',
    {
      config: { permission: 'workflows.run' },
      schema: {
        tags,
        summary: 'Re-enqueue the failed node (its execution runs again)',
        params: DlqParams,
        response: { 202: DlqSchema, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (req, reply) =>
      reply.status(202).send(await dlq.retry(req.params.dlqId, principalOf(req).name)),
  );

  app.post(
    '/api/v1/workflows/dlq/:dlqId/resolve',
    {
      config: { permission: 'workflows.run' },
      // A POST without a body (curl -X POST) means an empty one.
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags,
        summary: 'Mark the failure handled out-of-band (no retry)',
        params: DlqParams,
        body: Type.Optional(
          Type.Object(
            { note: Type.Optional(Type.String({ maxLength: 4000 })) },
            { additionalProperties: false },
          ),
        ),
        response: { 200: DlqSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) => dlq.resolve(req.params.dlqId, principalOf(req).name, req.body?.note),
  );
}
