/** Running and controlling executions (seed: "Running and controlling"). */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { terminalExecutionStatuses } from '../../engine/status.ts';
import {
  ExecutionIdParams,
  WorkflowIdParams,
  emptyBodyIsEmptyObject,
  errorResponses,
} from '../schemas.ts';
import { literalUnion, pageOf } from '../../wire/common.ts';
import {
  ExecutionSchema,
  ExecutionStatusSchema,
  ExecutionSummarySchema,
  RunAcceptedSchema,
  UsageSchema,
} from '../../wire/executions.ts';
import { usageGroupings } from '../../wire/usage-groupings.ts';
import type { App, Services } from '../types.ts';

const tags = ['executions'];
const DateTime = Type.String({ format: 'date-time' });
const NodeIds = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  minItems: 1,
  maxItems: 1000,
  uniqueItems: true,
});

export function executionRoutes(app: App, services: Services): void {
  const ex = services.executions;

  app.post(
    '/api/v1/workflows/:id/run',
    {
      config: { permission: 'workflows.run' },
      // A POST without a body (curl -X POST) means an empty one.
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags,
        summary:
          "Start an execution; body {params} matching the manual trigger's inputs; answers 202 at once",
        params: WorkflowIdParams,
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        }),
        body: Type.Optional(
          Type.Object(
            {
              params: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Unknown())),
              version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
            },
            { additionalProperties: false },
          ),
        ),
        response: { 202: RunAcceptedSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      const { accepted } = await ex.run(req.params.id, req.body ?? {}, {
        actor: principalOf(req).name,
        ...(typeof key === 'string' && { idempotencyKey: key }),
      });
      return reply
        .status(202)
        .header('location', `/api/v1/workflows/${accepted.workflowId}/executions/${accepted.id}`)
        .send(accepted);
    },
  );

  app.get(
    '/api/v1/workflows/executions',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List executions across workflows (filterable, newest first)',
        querystring: Type.Object(
          {
            workflowId: Type.Optional(Type.String({ maxLength: 64 })),
            status: Type.Optional(ExecutionStatusSchema),
            triggerType: Type.Optional(Type.String({ maxLength: 64 })),
            version: Type.Optional(Type.Integer({ minimum: 1 })),
            since: Type.Optional(DateTime),
            until: Type.Optional(DateTime),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            cursor: Type.Optional(Type.String({ maxLength: 512 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: pageOf(ExecutionSummarySchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => ex.list(req.query),
  );

  app.get(
    '/api/v1/workflows/:id/executions/:execId',
    {
      config: { permission: 'workflows.read', ownExecution: true },
      schema: {
        tags,
        summary: 'Read an execution with node states and cost',
        params: ExecutionIdParams,
        response: { 200: ExecutionSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => ex.get(req.params.id, req.params.execId),
  );

  app.delete(
    '/api/v1/workflows/:id/executions',
    {
      config: { permission: 'workflows.run' },
      schema: {
        tags,
        summary: 'Bulk delete terminal executions of a workflow',
        params: WorkflowIdParams,
        querystring: Type.Object(
          {
            status: Type.Optional(literalUnion(terminalExecutionStatuses)),
            before: Type.Optional(DateTime),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ deleted: Type.Integer() }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req) => ex.bulkDelete(req.params.id, req.query),
  );

  app.delete(
    '/api/v1/workflows/:id/executions/:execId',
    {
      config: { permission: 'workflows.run' },
      schema: {
        tags,
        summary: 'Delete an execution record (409 while active)',
        params: ExecutionIdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      await ex.delete(req.params.id, req.params.execId);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/workflows/:id/executions/:execId/cancel',
    {
      config: { permission: 'workflows.run' },
      // A POST without a body (curl -X POST) means an empty one.
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags,
        summary: 'Cancel a pending, running or waiting execution',
        params: ExecutionIdParams,
        body: Type.Optional(
          Type.Object(
            { reason: Type.Optional(Type.String({ maxLength: 1000 })) },
            { additionalProperties: false },
          ),
        ),
        response: { 200: ExecutionSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) =>
      ex.cancel(req.params.id, req.params.execId, principalOf(req).name, req.body?.reason),
  );

  app.post(
    '/api/v1/workflows/:id/executions/:execId/retry',
    {
      config: { permission: 'workflows.run' },
      // A POST without a body (curl -X POST) means an empty one.
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags,
        summary:
          'Retry a failed or cancelled execution from its failed nodes, keeping prior outputs',
        params: ExecutionIdParams,
        body: Type.Optional(
          Type.Object(
            {
              nodes: Type.Optional(NodeIds),
              fresh: Type.Optional(
                Type.Boolean({
                  description:
                    'Run every node again in an empty workspace (needed once the workspace expired: 409 ERR_WORKSPACE_EXPIRED)',
                }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
        response: { 202: ExecutionSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) =>
      reply
        .status(202)
        .send(
          await ex.retry(
            req.params.id,
            req.params.execId,
            principalOf(req).name,
            req.body?.nodes,
            req.body?.fresh === true,
          ),
        ),
  );

  app.post(
    '/api/v1/workflows/:id/executions/:execId/resume',
    {
      config: { permission: 'workflows.run' },
      schema: {
        tags,
        summary: 'Answer a waiting approval: approve or reject',
        params: ExecutionIdParams,
        body: Type.Object(
          {
            nodeId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            decision: literalUnion(['approve', 'reject']),
            comment: Type.Optional(Type.String({ maxLength: 4000 })),
            data: Type.Optional(Type.Unknown()),
            override: Type.Optional(
              Type.Boolean({
                description:
                  'A tokens.admin token decides in place of the approval’s listed approvers; recorded as outputs.override.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: ExecutionSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) => ex.resume(req.params.id, req.params.execId, principalOf(req), req.body),
  );

  app.post(
    '/api/v1/workflows/:id/executions/:execId/followup',
    {
      config: { permission: 'workflows.run' },
      schema: {
        tags,
        summary: 'Answer a waiting input node, or start the next turn of a chat execution',
        params: ExecutionIdParams,
        body: Type.Object(
          {
            message: Type.String({ minLength: 1, maxLength: 100_000 }),
            data: Type.Optional(Type.Unknown()),
          },
          { additionalProperties: false },
        ),
        response: { 202: ExecutionSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) =>
      reply
        .status(202)
        .send(await ex.followup(req.params.id, req.params.execId, principalOf(req).name, req.body)),
  );

  app.get(
    '/api/v1/workflows/:id/usage',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'Aggregate usage (tokens and compute) of a workflow',
        params: WorkflowIdParams,
        querystring: Type.Object(
          {
            since: Type.Optional(DateTime),
            until: Type.Optional(DateTime),
            groupBy: Type.Optional(literalUnion(usageGroupings)),
          },
          { additionalProperties: false },
        ),
        response: { 200: UsageSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => services.usage.get(req.params.id, req.query),
  );
}
