/**
 * Bearer-token authentication on every `/api/v1` route. Each route declares the permission it
 * needs in its `config.permission`; `public` routes (the OpenAPI document) need none.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import type { Principal, TokenService } from '../services/tokens.ts';
import type { Permission } from '../types.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission | 'public';
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The principal of an authenticated request (routes with a permission always have one). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('ERR_AUTH_MISSING');
  return request.principal;
}

export function registerAuth(app: FastifyInstance, tokens: TokenService): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const needed = request.routeOptions.config?.permission;
    if (needed === undefined || needed === 'public') return;
    const header = request.headers.authorization;
    if (header === undefined || header === '') {
      throw new AppError('ERR_AUTH_MISSING', {
        message: 'A bearer token is required: Authorization: Bearer <token>.',
      });
    }
    const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
    if (!m)
      throw new AppError('ERR_AUTH_INVALID', {
        message: 'The Authorization header must be "Bearer <token>".',
      });
    const principal = await tokens.authenticate(m[1]!);
    if (!principal.permissions.has(needed)) {
      throw new AppError('ERR_AUTH_FORBIDDEN', {
        message: `The token lacks the permission ${needed}.`,
        context: { required: needed, tokenId: principal.tokenId },
      });
    }
    request.principal = principal;
  });
}
