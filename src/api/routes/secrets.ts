/**
 * Secrets (`/api/v1/secrets`, `/api/v1/workflows/{id}/secrets`): set, list and delete, all with
 * `secrets.admin`. A value goes in and never comes out: no route returns one.
 */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { WorkflowIdParams, errorResponses } from '../schemas.ts';
import {
  SecretListItemSchema,
  SecretNameSchema,
  SecretSchema,
  SecretValueBodySchema,
} from '../../wire/secrets.ts';
import type { App, Services } from '../types.ts';
import type { SecretScope } from '../../services/secrets.ts';

const tags = ['secrets'];
const config = { permission: 'secrets.admin' } as const;

const GlobalParams = Type.Object({ name: SecretNameSchema });
const WorkflowParams = Type.Object({ ...WorkflowIdParams.properties, name: SecretNameSchema });

export function secretRoutes(app: App, services: Services): void {
  const scopes: {
    prefix: string;
    label: string;
    scope: (params: { id?: string }) => SecretScope;
  }[] = [
    { prefix: '/api/v1/secrets', label: 'a global secret', scope: () => ({}) },
    {
      prefix: '/api/v1/workflows/:id/secrets',
      label: "a workflow's own secret (it wins over a global one of the same name)",
      scope: (p) => ({ workflowId: p.id! }),
    },
  ];
  for (const { prefix, label, scope } of scopes) {
    const isWorkflow = prefix.includes(':id');
    app.put(
      `${prefix}/:name`,
      {
        config,
        schema: {
          tags,
          summary: `Set ${label}: 201 when created, 200 when its value was replaced`,
          params: isWorkflow ? WorkflowParams : GlobalParams,
          body: SecretValueBodySchema,
          response: {
            200: SecretSchema,
            201: SecretSchema,
            ...errorResponses(400, 401, 403, 404, 413, 415),
          },
        },
      },
      async (req, reply) => {
        const { secret, created } = await services.secrets.set(
          scope(req.params as { id?: string }),
          req.params.name,
          req.body.value,
          principalOf(req).name,
        );
        return reply.status(created ? 201 : 200).send(secret);
      },
    );

    app.get(
      prefix,
      {
        config,
        schema: {
          tags,
          summary: `List ${isWorkflow ? "a workflow's own secrets" : 'global secrets'} (never their values)`,
          ...(isWorkflow && { params: WorkflowIdParams }),
          response: {
            200: Type.Object({ items: Type.Array(SecretListItemSchema) }),
            ...errorResponses(400, 401, 403, 404),
          },
        },
      },
      async (req) => ({
        items: await services.secrets.list(scope(req.params as { id?: string })),
      }),
    );

    app.delete(
      `${prefix}/:name`,
      {
        config,
        schema: {
          tags,
          summary: `Delete ${label}`,
          params: isWorkflow ? WorkflowParams : GlobalParams,
          response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (req, reply) => {
        await services.secrets.delete(scope(req.params as { id?: string }), req.params.name);
        return reply.status(204).send(null);
      },
    );
  }
}
