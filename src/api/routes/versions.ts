/** Versioning, export and import (seed: "Versioning"). */
import { Type } from 'typebox';
import { AppError } from '../../errors.ts';
import { principalOf } from '../auth.ts';
import { VersionParams, WorkflowIdParams, errorResponses } from '../schemas.ts';
import { VersionSchema, VersionSummarySchema, WorkflowSchema } from '../../wire/workflows.ts';
import { WarningsSchema } from '../../wire/common.ts';
import type { App, Services } from '../types.ts';

const tags = ['versions'];

/** Media types accepted as a YAML body by POST /api/v1/workflows/import and /validate. */
export const yamlMediaTypes = [
  'application/yaml',
  'application/x-yaml',
  'text/yaml',
  'text/x-yaml',
];

export function versionRoutes(app: App, services: Services): void {
  const wf = services.workflows;

  app.get(
    '/api/v1/workflows/:id/versions',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List all versions, newest first',
        params: WorkflowIdParams,
        response: {
          200: Type.Object({ items: Type.Array(VersionSummarySchema) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (req) => wf.listVersions(req.params.id),
  );

  app.get(
    '/api/v1/workflows/:id/versions/:version',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: "Read a version's graph and metadata",
        params: VersionParams,
        response: { 200: VersionSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => wf.getVersion(req.params.id, req.params.version),
  );

  app.post(
    '/api/v1/workflows/:id/versions/:version/restore',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: "Create a new draft from an old version's graph",
        params: VersionParams,
        response: { 201: VersionSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const v = await wf.restore(req.params.id, req.params.version, principalOf(req).name);
      return reply
        .status(201)
        .header('location', `/api/v1/workflows/${v.workflowId}/versions/${v.version}`)
        .send(v);
    },
  );

  app.post(
    '/api/v1/workflows/:id/publish',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: 'Publish the newest draft and make it the active version',
        params: WorkflowIdParams,
        response: { 200: WorkflowSchema, ...errorResponses(401, 403, 404, 409, 422) },
      },
    },
    async (req) => wf.publish(req.params.id),
  );

  app.post(
    '/api/v1/workflows/:id/promote',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: 'Make an existing published version the active version',
        params: WorkflowIdParams,
        body: Type.Object(
          { version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) },
          { additionalProperties: false },
        ),
        response: { 200: WorkflowSchema, ...errorResponses(400, 401, 403, 404, 409, 415) },
      },
    },
    async (req) => wf.promote(req.params.id, req.body.version),
  );

  app.get(
    '/api/v1/workflows/:id/export',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'Export the active version (or ?version=N) as YAML',
        params: WorkflowIdParams,
        querystring: Type.Object(
          { version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The workflow as YAML',
            content: { 'application/yaml': { schema: Type.String() } },
          },
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) => {
      const out = await wf.exportYaml(req.params.id, req.query.version);
      return reply
        .type('application/yaml; charset=utf-8')
        .header(
          'content-disposition',
          `attachment; filename="${out.name.replace(/[^A-Za-z0-9._-]/g, '_')}.yaml"`,
        )
        .header('x-switchyard-version', String(out.version))
        .send(out.yaml);
    },
  );

  app.post(
    '/api/v1/workflows/import',
    {
      config: { permission: 'workflows.create' },
      schema: {
        tags,
        summary: 'Import a YAML document as a new workflow (draft version 1)',
        body: {
          content: Object.fromEntries(yamlMediaTypes.map((t) => [t, { schema: Type.String() }])),
        },
        response: { 201: WorkflowSchema, ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      if (typeof req.body !== 'string') {
        throw new AppError('ERR_UNSUPPORTED_MEDIA_TYPE', {
          message: `Send the workflow as YAML (Content-Type: ${yamlMediaTypes[0]}).`,
        });
      }
      const created = await wf.importYaml(req.body, principalOf(req).name);
      return reply.status(201).header('location', `/api/v1/workflows/${created.id}`).send(created);
    },
  );

  app.post(
    '/api/v1/workflows/validate',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary:
          "Check a YAML document as a save would, with this server's limits and settings; saves nothing",
        body: {
          content: Object.fromEntries(yamlMediaTypes.map((t) => [t, { schema: Type.String() }])),
        },
        response: {
          200: Type.Object({
            valid: Type.Literal(true),
            name: Type.String(),
            nodes: Type.Integer({ description: 'Nodes in the graph.' }),
            warnings: WarningsSchema,
          }),
          ...errorResponses(400, 401, 403, 413, 415, 422),
        },
      },
    },
    (req) => {
      if (typeof req.body !== 'string') {
        throw new AppError('ERR_UNSUPPORTED_MEDIA_TYPE', {
          message: `Send the workflow as YAML (Content-Type: ${yamlMediaTypes[0]}).`,
        });
      }
      return Promise.resolve(wf.validateYaml(req.body));
    },
  );
}
