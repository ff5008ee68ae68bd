/**
 * The session cookie of the web UI: HttpOnly (scripts never see it), SameSite=Strict (no other
 * site's page sends it), scoped to the API, `Secure` when the request came over HTTPS.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';

export const sessionCookieName = 'switchyard_session';
const csrfHeader = 'x-csrf-token';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session cookie's value in the request, if it has one. */
export function sessionCookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== sessionCookieName) continue;
    const value = part.slice(eq + 1).trim();
    return value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** The Set-Cookie value of a session (`maxAgeSeconds` 0 clears it). */
export function sessionCookie(
  request: FastifyRequest,
  value: string,
  maxAgeSeconds: number,
): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${sessionCookieName}=${value}; HttpOnly; SameSite=Strict; Path=/api/v1; Max-Age=${maxAgeSeconds}${secure}`;
}

/**
 * A cookie-authenticated POST, PUT, PATCH or DELETE must carry the session's CSRF token in
 * `X-CSRF-Token`: a page of another origin cannot read it, so it cannot forge the request.
 */
export function checkCsrf(request: FastifyRequest, csrfToken: string): void {
  if (safeMethods.has(request.method)) return;
  const sent = request.headers[csrfHeader];
  const given = Buffer.from(typeof sent === 'string' ? sent : '');
  const expected = Buffer.from(csrfToken);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AppError('ERR_AUTH_CSRF', {
      message:
        sent === undefined
          ? `A ${request.method} authenticated by the session cookie needs the X-CSRF-Token header (the csrfToken of the sign-in answer or of GET /api/v1/me).`
          : 'The X-CSRF-Token header does not match the session.',
    });
  }
}
