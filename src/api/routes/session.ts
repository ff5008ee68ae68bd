/**
 * The web UI's sign-in (issue 12): an API token is exchanged for an HttpOnly, SameSite=Strict
 * session cookie; `GET /api/v1/me` says who the caller is and what it may do, for a bearer token
 * or a session alike.
 */
import { Type } from 'typebox';
import { meOf } from '../../services/sessions.ts';
import { MeSchema, SessionBodySchema, SessionSchema } from '../../wire/sessions.ts';
import { principalOf } from '../auth.ts';
import { errorResponses } from '../schemas.ts';
import { checkCsrf, sessionCookie, sessionCookieOf } from '../session-cookie.ts';
import type { App, Services } from '../types.ts';

const tags = ['session'];

export function sessionRoutes(app: App, services: Services): void {
  app.post(
    '/api/v1/session',
    {
      config: { permission: 'public' },
      schema: {
        tags,
        summary:
          'Sign in: exchange an API token for the session cookie (HttpOnly, SameSite=Strict, Path=/api/v1)',
        security: [],
        body: SessionBodySchema,
        response: {
          201: {
            ...SessionSchema,
            description:
              'Signed in; `Set-Cookie: switchyard_session=…` carries the session. Send `csrfToken` as X-CSRF-Token on writes.',
          },
          ...errorResponses(400, 401, 415),
        },
      },
    },
    async (req, reply) => {
      const started = await services.sessions.start(req.body.token);
      return reply
        .status(201)
        .header('set-cookie', sessionCookie(req, started.secret, started.maxAgeSeconds))
        .header('cache-control', 'no-store')
        .send(started.view);
    },
  );

  app.delete(
    '/api/v1/session',
    {
      config: { permission: 'public' },
      schema: {
        tags,
        summary:
          'Sign out: end the session of the cookie and clear the cookie (idempotent; a live session needs X-CSRF-Token)',
        security: [{ session: [] }],
        response: { 204: Type.Null(), ...errorResponses(403) },
      },
    },
    async (req, reply) => {
      const cookie = sessionCookieOf(req);
      if (cookie !== undefined) {
        const live = await services.sessions.authenticate(cookie).catch(() => undefined);
        // Only the session's own page may end it; an ended or unknown one is ended already.
        if (live) checkCsrf(req, live.csrfToken);
        await services.sessions.end(cookie);
      }
      return reply
        .status(204)
        .header('set-cookie', sessionCookie(req, '', 0))
        .send(null);
    },
  );

  app.get(
    '/api/v1/me',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags,
        summary:
          'Who am I: the token (by bearer or session), its permissions and when the credential ends',
        response: { 200: MeSchema, ...errorResponses(401) },
      },
    },
    (req) => Promise.resolve(meOf(principalOf(req), req.sessionAuth)),
  );
}
