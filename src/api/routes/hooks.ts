/**
 * Webhooks: a workflow's hooks (`/api/v1/workflows/{id}/hooks`, bearer token) and the delivery
 * endpoint `POST /api/v1/hooks/{hookId}`, which takes no token: the body's signature is the
 * authentication, checked over the raw bytes (any content type, up to `hookBodyLimitBytes`).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { WorkflowIdParams, errorResponses } from '../schemas.ts';
import { pageOf, pageQueryFields } from '../../wire/common.ts';
import { DeliverySchema, HookSchema } from '../../wire/hooks.ts';
import type { App, Services } from '../types.ts';

const tags = ['hooks'];

const HookParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  hookId: Type.String({ minLength: 1, maxLength: 64 }),
});

export function hookRoutes(app: App, services: Services): void {
  app.post(
    '/api/v1/workflows/:id/hooks',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: 'Create a hook; the answer holds its secret, shown only this once',
        params: WorkflowIdParams,
        body: Type.Object(
          {
            name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 64 }),
            kind: Type.Optional(Type.Union([Type.Literal('generic'), Type.Literal('github')])),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            ...HookSchema.properties,
            secret: Type.String({ description: 'The HMAC secret, shown only this once.' }),
          }),
          ...errorResponses(400, 401, 403, 404, 409, 415),
        },
      },
    },
    async (req, reply) => {
      const created = await services.hooks.create(
        req.params.id,
        { name: req.body.name, kind: req.body.kind ?? 'generic' },
        principalOf(req).name,
      );
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api/v1/workflows/:id/hooks',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: "List a workflow's hooks (never their secrets)",
        params: WorkflowIdParams,
        response: {
          200: Type.Object({ items: Type.Array(HookSchema) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req) => ({ items: await services.hooks.list(req.params.id) }),
  );

  app.delete(
    '/api/v1/workflows/:id/hooks/:hookId',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: 'Delete a hook: its URL answers 404 from now on',
        params: HookParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await services.hooks.delete(req.params.id, req.params.hookId);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/workflows/:id/hooks/:hookId/deliveries',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: "A hook's deliveries, newest first: accepted, ignored, duplicate or rejected",
        params: HookParams,
        querystring: Type.Object(pageQueryFields, { additionalProperties: false }),
        response: { 200: pageOf(DeliverySchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => services.hooks.deliveries(req.params.id, req.params.hookId, req.query),
  );
}

/**
 * The delivery endpoint, in a scope of its own: every content type is read as raw bytes (the
 * signature covers them exactly), with its own body limit.
 */
export async function hookDeliveryRoute(
  app: App,
  services: Services,
  bodyLimitBytes: number,
): Promise<void> {
  // A plugin function (no await inside): Fastify encapsulates what it registers.
  await app.register((plain, _opts, done) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: bodyLimitBytes },
      (_req, body, done) => done(null, body),
    );
    scope.post(
      '/api/v1/hooks/:hookId',
      {
        bodyLimit: bodyLimitBytes,
        config: { permission: 'public' },
        schema: {
          tags,
          summary:
            'Deliver to a hook: generic (X-Switchyard-Timestamp, X-Switchyard-Signature) or GitHub (X-Hub-Signature-256, X-GitHub-Event, X-GitHub-Delivery); no bearer token',
          security: [],
          params: Type.Object({ hookId: Type.String({ minLength: 1, maxLength: 64 }) }),
          response: {
            200: Type.Object({}, { additionalProperties: true }),
            202: Type.Object({}, { additionalProperties: true }),
            ...errorResponses(401, 404, 413),
          },
        },
      },
      async (req, reply) => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const answer = await services.hooks.receive(req.params.hookId, {
          body,
          contentType: req.headers['content-type'] ?? '',
          header: (name) => {
            const v = req.headers[name];
            return Array.isArray(v) ? v[0] : v;
          },
        });
        return reply.status(answer.status).send(answer.body);
      },
    );
    done();
  });
}
