/**
 * Browser sessions (issue 12): an API token is exchanged once for a random session id that
 * travels in an HttpOnly cookie, so browsers can use the SSE streams with `EventSource`. Sessions
 * live in the database (any server of it accepts them, after restarts too) and never outlive
 * their token: each request checks the token as a bearer request would.
 */
import { randomBytes } from 'node:crypto';
import { type Clock, isoNow } from '../clock.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Database } from '../store/db.ts';
import * as sessionsSql from '../store/sessions.ts';
import type { Me, SessionView } from '../wire/sessions.ts';
import { executionTokenPrefix } from './execution-tokens.ts';
import { type Principal, type TokenService, hashSecret, livePrincipal } from './tokens.ts';

/** A request authenticated by its session cookie. */
export interface SessionAuth {
  principal: Principal;
  csrfToken: string;
  expiresAt: string;
}

interface StartedSession {
  /** The cookie's value: shown to the browser once, stored only as its SHA-256. */
  secret: string;
  maxAgeSeconds: number;
  view: SessionView;
}

/** 32 random bytes, base64url. */
const secretPattern = /^[A-Za-z0-9_-]{43}$/;
const newSecret = (): string => randomBytes(32).toString('base64url');

const invalidSession = (why: string): AppError =>
  new AppError('ERR_AUTH_INVALID', {
    message: `The session is not valid: ${why}. Sign in again (POST /api/v1/session).`,
  });

/** `GET /api/v1/me` of a principal. */
export function meOf(principal: Principal, session?: SessionAuth): Me {
  return {
    tokenId: principal.tokenId,
    name: principal.name,
    permissions: [...principal.permissions].sort(),
    expiresAt: session ? session.expiresAt : (principal.expiresAt ?? null),
    via: session ? 'session' : 'bearer',
    ...(session && { csrfToken: session.csrfToken }),
  };
}

export class SessionService {
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly tokens: TokenService,
    private readonly ttlMs: number,
  ) {}

  /** Signs in with an API token; 401 for anything but a live API token. */
  async start(token: string): Promise<StartedSession> {
    if (token.startsWith(executionTokenPrefix))
      throw new AppError('ERR_AUTH_INVALID', {
        message: 'Sign in with an API token (sy_…); an execution token cannot start a session.',
      });
    const principal = await this.tokens.authenticate(token);
    const now = this.clock.now();
    let expires = now.getTime() + this.ttlMs;
    if (principal.expiresAt) expires = Math.min(expires, Date.parse(principal.expiresAt));
    const expiresAt = new Date(expires).toISOString();
    const secret = newSecret();
    const csrfToken = newSecret();
    await sessionsSql.deleteExpiredSessions(this.database.db, now.toISOString());
    await sessionsSql.insertSession(this.database.db, {
      id: newId('ses', now.getTime()),
      hash: hashSecret(secret),
      token_id: principal.tokenId,
      csrf_token: csrfToken,
      created_at: now.toISOString(),
      expires_at: expiresAt,
      revoked_at: null,
    });
    const session: SessionAuth = { principal, csrfToken, expiresAt };
    return {
      secret,
      maxAgeSeconds: Math.max(0, Math.floor((expires - now.getTime()) / 1000)),
      view: { csrfToken, expiresAt, me: meOf(principal, session) },
    };
  }

  /** Resolves a session cookie's value, or throws 401. */
  async authenticate(secret: string): Promise<SessionAuth> {
    if (!secretPattern.test(secret)) throw invalidSession('the cookie is malformed');
    const found = await sessionsSql.getSessionByHash(this.database.db, hashSecret(secret));
    const now = this.clock.now();
    if (!found) throw invalidSession('unknown session');
    if (found.session.revoked_at !== null) throw invalidSession('it was signed out');
    if (found.session.expires_at <= now.toISOString()) throw invalidSession('it expired');
    const principal = livePrincipal(found.token, now);
    if (!principal) throw invalidSession('its token was revoked or expired');
    return { principal, csrfToken: found.session.csrf_token, expiresAt: found.session.expires_at };
  }

  /** Signs out; a malformed, unknown or ended session is ended already. */
  async end(secret: string): Promise<void> {
    if (!secretPattern.test(secret)) return;
    await sessionsSql.revokeSession(this.database.db, hashSecret(secret), isoNow(this.clock));
  }
}
