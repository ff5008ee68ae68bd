/** SQL for `sessions`. Only SHA-256 hashes of the cookie values are stored. */
import type { Db } from './db.ts';
import type { SessionsTable, TokensTable } from './schema.ts';

type SessionRow = SessionsTable;

/** A session with what its token says today (permissions, revocation, expiry). */
interface SessionWithToken {
  session: SessionRow;
  token: TokensTable;
}

export async function insertSession(db: Db, row: SessionRow): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

export async function getSessionByHash(
  db: Db,
  hash: string,
): Promise<SessionWithToken | undefined> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('tokens', 'tokens.id', 'sessions.token_id')
    .select([
      'sessions.id as s_id',
      'sessions.hash as s_hash',
      'sessions.token_id as s_token_id',
      'sessions.csrf_token as s_csrf_token',
      'sessions.created_at as s_created_at',
      'sessions.expires_at as s_expires_at',
      'sessions.revoked_at as s_revoked_at',
      'tokens.id',
      'tokens.name',
      'tokens.hash',
      'tokens.permissions',
      'tokens.created_by',
      'tokens.created_at',
      'tokens.last_used_at',
      'tokens.expires_at',
      'tokens.revoked_at',
    ])
    .where('sessions.hash', '=', hash)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    session: {
      id: row.s_id,
      hash: row.s_hash,
      token_id: row.s_token_id,
      csrf_token: row.s_csrf_token,
      created_at: row.s_created_at,
      expires_at: row.s_expires_at,
      revoked_at: row.s_revoked_at,
    },
    token: {
      id: row.id,
      name: row.name,
      hash: row.hash,
      permissions: row.permissions,
      created_by: row.created_by,
      created_at: row.created_at,
      last_used_at: row.last_used_at,
      expires_at: row.expires_at,
      revoked_at: row.revoked_at,
    },
  };
}

/** Ends a session (sign-out); ending an ended one changes nothing. */
export async function revokeSession(db: Db, hash: string, now: string): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ revoked_at: now })
    .where('hash', '=', hash)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Drops sessions that expired before `before`, so sign-ins do not grow the table without bound. */
export async function deleteExpiredSessions(db: Db, before: string): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<', before).execute();
}
