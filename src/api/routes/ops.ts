/** Operations: liveness, readiness, Prometheus metrics and the OpenAPI document. */
import { Type } from 'typebox';
import type { Registry } from 'prom-client';
import { AppError } from '../../errors.ts';
import { errorResponses } from '../schemas.ts';
import type { App, Services } from '../types.ts';

const tags = ['operations'];

export function opsRoutes(app: App, services: Services, registry: Registry): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags,
        summary: 'Liveness: the process answers',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    () => Promise.resolve({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags,
        summary: 'Readiness: the database answers',
        response: { 200: Type.Object({ status: Type.Literal('ready') }), ...errorResponses(503) },
      },
    },
    async () => {
      try {
        await services.ping();
      } catch (err) {
        throw new AppError('ERR_UNAVAILABLE', {
          message: 'The database does not answer.',
          cause: err,
        });
      }
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    { schema: { tags, summary: 'Prometheus metrics (text format)', hide: false } },
    async (_req, reply) => {
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  );

  app.get(
    '/api/v1/openapi.json',
    {
      config: { permission: 'public' },
      schema: { tags, summary: 'This API as an OpenAPI 3 document (public)' },
    },
    () => Promise.resolve(app.swagger()),
  );
}
