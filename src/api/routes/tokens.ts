/** Token administration (DESIGN §8): the secret is shown once, in the create answer. */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { errorResponses } from '../schemas.ts';
import { NameSchema } from '../../wire/common.ts';
import { CreatedTokenSchema, PermissionSchema, TokenSchema } from '../../wire/tokens.ts';
import type { App, Services } from '../types.ts';

const tags = ['tokens'];

export function tokenRoutes(app: App, services: Services): void {
  app.post(
    '/api/v1/tokens',
    {
      config: { permission: 'tokens.admin' },
      schema: {
        tags,
        summary: 'Create a token; the answer holds its secret, shown only this once',
        body: Type.Object(
          {
            name: NameSchema,
            permissions: Type.Array(PermissionSchema, {
              minItems: 1,
              maxItems: 16,
              uniqueItems: true,
            }),
            expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: CreatedTokenSchema,
          ...errorResponses(400, 401, 403, 415),
        },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const expiresAt =
        body.expiresAt === undefined ? undefined : new Date(body.expiresAt).toISOString();
      const created = await services.tokens.create(
        {
          name: body.name,
          permissions: body.permissions,
          ...(expiresAt !== undefined && { expiresAt }),
        },
        principalOf(req).name,
      );
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      config: { permission: 'tokens.admin' },
      schema: {
        tags,
        summary: 'List tokens (never their secrets)',
        querystring: Type.Object(
          { includeRevoked: Type.Optional(Type.Boolean({ default: false })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(TokenSchema) }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req) => ({ items: await services.tokens.list(req.query.includeRevoked ?? false) }),
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      config: { permission: 'tokens.admin' },
      schema: {
        tags,
        summary: 'Revoke a token',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      await services.tokens.revoke(req.params.id);
      return reply.status(204).send(null);
    },
  );
}
