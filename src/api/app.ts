/** Builds the Fastify app without listening, so tests and the server share one construction. */
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { registerAuth } from './auth.ts';
import { registerErrorHandling, toAppError } from './errors.ts';
import { type EngineGauges, registerMetrics } from './metrics.ts';
import { discardRefusedBody } from './refused-body.ts';
import { sessionCookieName } from './session-cookie.ts';
import { SseHub } from './sse.ts';
import { artifactRoutes } from './routes/artifacts.ts';
import { dlqRoutes } from './routes/dlq.ts';
import { eventRoutes } from './routes/events.ts';
import { executionRoutes } from './routes/executions.ts';
import { hookDeliveryRoute, hookRoutes } from './routes/hooks.ts';
import { llmGatewayRoutes } from './routes/llm-gateway.ts';
import { opsRoutes } from './routes/ops.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { secretRoutes } from './routes/secrets.ts';
import { sessionRoutes } from './routes/session.ts';
import { streamRoutes } from './routes/streams.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { triggerRuleRoutes } from './routes/trigger-rules.ts';
import { versionRoutes, yamlMediaTypes } from './routes/versions.ts';
import { workflowRoutes } from './routes/workflows.ts';
import type { App, Services } from './types.ts';
import type { WorkerStats } from '../worker/worker.ts';
import { validatorCompiler } from './validation.ts';

/** Deepest nesting a JSON body may have. */
const maxJsonDepth = 64;

/** Iterative depth check (a recursive one would itself overflow on hostile input). */
function exceedsDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Says why a JSON body was refused: a syntax error, or a prototype-poisoning key. */
function explainJsonError(body: string): AppError {
  if (body.trim() === '')
    return new AppError('ERR_JSON_MALFORMED', {
      message: 'The body is empty; send a JSON document.',
    });
  try {
    JSON.parse(body);
  } catch (syntax) {
    return new AppError('ERR_JSON_MALFORMED', {
      message: `The body is not valid JSON: ${(syntax as Error).message}`,
    });
  }
  return new AppError('ERR_BAD_REQUEST', {
    message: 'The JSON body holds a forbidden "__proto__" or "constructor.prototype" key.',
  });
}

export interface AppOptions {
  services: Services;
  bodyLimitBytes: number;
  /** Largest webhook delivery (`POST /api/v1/hooks/{hookId}`); default 25 MiB. */
  hookBodyLimitBytes?: number;
  /** The server's logger (shared with the worker); none: the app logs nothing. */
  logger?: Logger;
  version?: string;
  /** Owner of the SSE streams (default: 15 s heartbeats, 1 MiB buffers). */
  sse?: SseHub;
  /** The worker's counters, for `/metrics`. */
  workerStats?: () => WorkerStats;
  /** The engine's metrics and what its gauges read (without SSE, which the app counts). */
  engine?: Omit<EngineGauges, 'sseOpen'>;
}

export async function buildApp(opts: AppOptions): Promise<App> {
  const sse = opts.sse ?? new SseHub({ heartbeatMs: 15_000 });
  // Fastify logs through a child of the server's pino logger that adds its serializers.
  const loggerInstance: FastifyBaseLogger | undefined = opts.logger;
  const app = Fastify({
    ...(loggerInstance ? { loggerInstance } : { logger: false }),
    bodyLimit: opts.bodyLimitBytes,
    // Prototype-poisoning keys in JSON are rejected, not stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Keep ids and long cursors bounded in the router.
    routerOptions: { maxParamLength: 512, ignoreTrailingSlash: true },
    ajv: { customOptions: { removeAdditional: false } },
    // Router-level refusals (over-long params, bad URLs) get the same error body as the rest.
    frameworkErrors: (error, _request, reply) => {
      const e = toAppError(error);
      void (reply as FastifyReply).code(e.status).send(e.toBody());
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // Only JSON (and YAML for import) are accepted; Fastify's built-in text/plain parser is not.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode === 413) discardRefusedBody(request.raw, reply);
    done(null, payload);
  });

  // JSON bodies: Fastify's parser (prototype poisoning rejected) plus a nesting cap, so no later
  // recursive walk (validation, JSON.stringify) can overflow the stack.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: opts.bodyLimitBytes },
    (request, body, done) => {
      void parseJson(request, body as string, (err, value) => {
        if (err) return done(explainJsonError(body as string), undefined);
        if (exceedsDepth(value, maxJsonDepth)) {
          return done(
            new AppError('ERR_BAD_REQUEST', {
              message: `The JSON body nests deeper than ${maxJsonDepth} levels.`,
            }),
            undefined,
          );
        }
        done(null, value);
      });
    },
  );

  app.addContentTypeParser(
    yamlMediaTypes,
    { parseAs: 'string', bodyLimit: opts.bodyLimitBytes },
    (request, body, done) => {
      const url = request.routeOptions.url;
      if (url !== '/api/v1/workflows/import' && url !== '/api/v1/workflows/validate') {
        done(
          new AppError('ERR_UNSUPPORTED_MEDIA_TYPE', {
            message: 'This route takes application/json.',
          }),
        );
        return;
      }
      done(null, body);
    },
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Switchyard API',
        version: opts.version ?? '0.1.0',
        description:
          'Durable workflow engine. Every /api/v1 route but this document, sign-in and webhook deliveries needs `Authorization: Bearer <token>` or the session cookie of `POST /api/v1/session` (writes by cookie also need `X-CSRF-Token`).',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          // The LLM gateway also takes the execution token where SDKs put an Anthropic key.
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          // The web UI's session (POST /api/v1/session); writes also need X-CSRF-Token.
          session: { type: 'apiKey', in: 'cookie', name: sessionCookieName },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });

  const registry = registerMetrics(
    app,
    opts.workerStats,
    opts.engine && { ...opts.engine, sseOpen: () => sse.stats.open },
  );
  registerAuth(app, opts.services.tokens, opts.services.executionTokens, opts.services.sessions);
  opsRoutes(app, opts.services, registry);
  workflowRoutes(app, opts.services);
  versionRoutes(app, opts.services);
  scheduleRoutes(app, opts.services);
  tokenRoutes(app, opts.services);
  sessionRoutes(app, opts.services);
  executionRoutes(app, opts.services);
  dlqRoutes(app, opts.services);
  eventRoutes(app, opts.services);
  artifactRoutes(app, opts.services);
  hookRoutes(app, opts.services);
  secretRoutes(app, opts.services);
  triggerRuleRoutes(app, opts.services);
  llmGatewayRoutes(app, opts.services);
  await hookDeliveryRoute(app, opts.services, opts.hookBodyLimitBytes ?? 25 * 1024 * 1024);
  streamRoutes(app, opts.services, sse);
  // Open streams would keep the server from closing; their clients reconnect elsewhere.
  app.addHook('preClose', (done) => {
    sse.closeAll();
    done();
  });
  await app.ready();
  return app;
}
