/**
 * Authentication on every `/api/v1` route. Each route declares the permission it needs in its
 * `config.permission`; `public` routes (the OpenAPI document) need none; `execution` routes (the
 * LLM gateway) take only execution tokens, as `Authorization: Bearer` or `x-api-key`;
 * `authenticated` routes (`GET /api/v1/me`) take any valid credential.
 *
 * Routes with a permission also take the web UI's session cookie when no bearer header is sent
 * (a bearer header wins); a cookie-authenticated write must carry the session's CSRF token.
 *
 * An execution token (`sye_…`) may call `execution` routes, the read routes marked
 * `ownExecution` for its own execution, and any other route only with a permission its workflow's
 * `runtime_config.permissions` granted it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import {
  type ExecutionScope,
  type ExecutionTokenService,
  executionTokenPrefix,
} from '../services/execution-tokens.ts';
import type { SessionAuth, SessionService } from '../services/sessions.ts';
import type { Principal, TokenService } from '../services/tokens.ts';
import { checkCsrf, sessionCookieOf } from './session-cookie.ts';
import type { Permission } from '../types.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission | 'public' | 'execution' | 'authenticated';
    /** An execution token may call this route for its own execution (`:id/executions/:execId`). */
    ownExecution?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** Set when the request came with an execution token. */
    executionScope?: ExecutionScope;
    /** Set when the request came with the session cookie (and no bearer header). */
    sessionAuth?: SessionAuth;
  }
}

/** The principal of an authenticated request (routes with a permission always have one). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('ERR_AUTH_MISSING');
  return request.principal;
}

/** The execution token's scope of a request to an `execution` route. */
export function executionScopeOf(request: FastifyRequest): ExecutionScope {
  if (!request.executionScope) throw new AppError('ERR_AUTH_MISSING');
  return request.executionScope;
}

function secretOf(request: FastifyRequest, gateway: boolean): string {
  const header = request.headers.authorization;
  const apiKey = request.headers['x-api-key'];
  if ((header === undefined || header === '') && gateway && typeof apiKey === 'string') {
    if (!/^\S{1,512}$/.test(apiKey.trim()))
      throw new AppError('ERR_AUTH_INVALID', { message: 'The x-api-key header is malformed.' });
    return apiKey.trim();
  }
  if (header === undefined || header === '') {
    throw new AppError('ERR_AUTH_MISSING', {
      message: gateway
        ? 'An execution token is required: Authorization: Bearer <token> or x-api-key: <token>.'
        : 'A bearer token (Authorization: Bearer <token>) or a session cookie is required.',
    });
  }
  const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
  if (!m)
    throw new AppError('ERR_AUTH_INVALID', {
      message: 'The Authorization header must be "Bearer <token>".',
    });
  return m[1]!;
}

export function registerAuth(
  app: FastifyInstance,
  tokens: TokenService,
  executionTokens: ExecutionTokenService,
  sessions: SessionService,
): void {
  app.decorateRequest('principal', undefined);
  app.decorateRequest('executionScope', undefined);
  app.decorateRequest('sessionAuth', undefined);
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    const needed = config?.permission;
    if (needed === undefined || needed === 'public') return;
    const gateway = needed === 'execution';
    const cookie = hasBearer(request) ? undefined : sessionCookieOf(request);
    if (needed !== 'execution' && cookie !== undefined) {
      const session = await sessions.authenticate(cookie);
      checkCsrf(request, session.csrfToken);
      permit(session.principal, needed);
      request.principal = session.principal;
      request.sessionAuth = session;
      return;
    }
    const secret = secretOf(request, gateway);
    if (secret.startsWith(executionTokenPrefix)) {
      const { scope, permissions } = await executionTokens.authenticate(secret);
      const params = request.params as Record<string, unknown> | undefined;
      const own =
        config?.ownExecution === true &&
        params?.id === scope.workflowId &&
        params.execId === scope.executionId;
      const allowed = gateway || own || needed === 'authenticated' || permissions.has(needed);
      if (!allowed) {
        throw new AppError('ERR_AUTH_FORBIDDEN', {
          message: `An execution token may read its own execution and call the LLM gateway; ${needed} is not among the permissions its workflow's runtime_config grants.`,
          context: { required: needed, executionId: scope.executionId },
        });
      }
      request.executionScope = scope;
      request.principal = {
        tokenId: scope.tokenId,
        name: `execution:${scope.executionId}`,
        permissions,
      };
      return;
    }
    if (gateway) {
      // Authenticated first, so an unknown key is 401 like elsewhere.
      const principal = await tokens.authenticate(secret);
      throw new AppError('ERR_AUTH_FORBIDDEN', {
        message:
          'The LLM gateway takes an execution token (SWITCHYARD_TOKEN of a command), which says which node its calls are billed to.',
        context: { tokenId: principal.tokenId },
      });
    }
    const principal = await tokens.authenticate(secret);
    permit(principal, needed);
    request.principal = principal;
  });
}

function hasBearer(request: FastifyRequest): boolean {
  const header = request.headers.authorization;
  return header !== undefined && header !== '';
}

/** The same check for a bearer token and for a session of it. */
function permit(principal: Principal, needed: Permission | 'authenticated'): void {
  if (needed === 'authenticated' || principal.permissions.has(needed)) return;
  throw new AppError('ERR_AUTH_FORBIDDEN', {
    message: `The token lacks the permission ${needed}.`,
    context: { required: needed, tokenId: principal.tokenId },
  });
}
