/** Workflow CRUD (seed: "Workflow CRUD"). */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { WorkflowIdParams, errorResponses } from '../schemas.ts';
import { pageOf } from '../../wire/common.ts';
import {
  CreateWorkflowBody,
  ListWorkflowsQuery,
  PatchWorkflowBody,
  WorkflowSchema,
} from '../../wire/workflows.ts';
import type { App, Services } from '../types.ts';

const tags = ['workflows'];

export function workflowRoutes(app: App, services: Services): void {
  const wf = services.workflows;

  app.get(
    '/api/v1/workflows',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List workflows with filters',
        querystring: ListWorkflowsQuery,
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
        body: CreateWorkflowBody,
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
        body: PatchWorkflowBody,
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
