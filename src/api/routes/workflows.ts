/** Workflow CRUD (seed: "Workflow CRUD"). */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { WorkflowIdParams, errorResponses } from '../schemas.ts';
import { DescriptionSchema, NameSchema, pageOf } from '../../wire/common.ts';
import { WorkflowSchema, WorkflowStatusSchema, WorkflowTypeSchema } from '../../wire/workflows.ts';
import type { App, Services } from '../types.ts';

const tags = ['workflows'];

const CreateBody = Type.Object(
  {
    name: NameSchema,
    description: Type.Optional(DescriptionSchema),
    type: Type.Optional(WorkflowTypeSchema),
    graph: Type.Optional(
      Type.Unknown({ description: 'Graph {nodes, edges}; see docs/workflow-yaml.md.' }),
    ),
    variables: Type.Optional(
      Type.Unknown({ description: 'Map of variable name to string, number or boolean.' }),
    ),
    runtimeConfig: Type.Optional(Type.Unknown({ description: 'Runtime config (camelCase).' })),
    triggerConfig: Type.Optional(Type.Unknown({ description: 'List of triggers.' })),
    concurrency: Type.Optional(
      Type.Unknown({
        description: 'Concurrency group {group, max?, policy?}; see docs/triggers.md.',
      }),
    ),
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  {
    name: Type.Optional(NameSchema),
    description: Type.Optional(DescriptionSchema),
    runtimeConfig: Type.Optional(Type.Unknown()),
    graph: Type.Optional(Type.Unknown()),
    variables: Type.Optional(Type.Unknown()),
    triggerConfig: Type.Optional(Type.Unknown()),
    concurrency: Type.Optional(
      Type.Unknown({
        description: 'Concurrency group {group, max?, policy?}, or null to remove it.',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

const ListQuery = Type.Object(
  {
    type: Type.Optional(WorkflowTypeSchema),
    status: Type.Optional(WorkflowStatusSchema),
    q: Type.Optional(
      Type.String({ maxLength: 128, description: 'Case-insensitive substring of the name.' }),
    ),
    createdBy: Type.Optional(Type.String({ maxLength: 128 })),
    includeArchived: Type.Optional(Type.Boolean({ default: false })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

export function workflowRoutes(app: App, services: Services): void {
  const wf = services.workflows;

  app.get(
    '/api/v1/workflows',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List workflows with filters',
        querystring: ListQuery,
        response: { 200: pageOf(WorkflowSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => wf.list(req.query),
  );

  app.post(
    '/api/v1/workflows',
    {
      config: { permission: 'workflows.create' },
      schema: {
        tags,
        summary: 'Create a workflow (version 1, draft)',
        body: CreateBody,
        response: { 201: WorkflowSchema, ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const created = await wf.create(req.body, principalOf(req).name);
      return reply.status(201).header('location', `/api/v1/workflows/${created.id}`).send(created);
    },
  );

  app.get(
    '/api/v1/workflows/:id',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'Read a workflow with its active version',
        params: WorkflowIdParams,
        response: { 200: WorkflowSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => wf.get(req.params.id),
  );

  app.patch(
    '/api/v1/workflows/:id',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary:
          'Update name, description, runtimeConfig; graph, variables, triggerConfig or concurrency append a draft version',
        params: WorkflowIdParams,
        body: PatchBody,
        response: {
          200: WorkflowSchema,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422),
        },
      },
    },
    async (req) => wf.patch(req.params.id, req.body, principalOf(req).name),
  );

  app.delete(
    '/api/v1/workflows/:id',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: 'Soft-delete (archives all versions)',
        params: WorkflowIdParams,
        response: { 204: Type.Null({ description: 'Archived' }), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      await wf.archive(req.params.id);
      return reply.status(204).send(null);
    },
  );
}
