import type { Migration } from './migration.ts';

/**
 * Browser sessions (issue 12, the web UI's sign-in): a session is started with an API token and
 * names it (`token_id`), so revoking or expiring the token ends its sessions. `hash` is the
 * SHA-256 of the cookie's value; the value itself is never stored. `csrf_token` is kept as it
 * is: it is no credential without the cookie, and the UI reads it again after a reload
 * (`GET /api/v1/me`). Frozen: add a new migration instead.
 */
const tables = (t: { text: string }) => [
  `CREATE TABLE sessions (
    id ${t.text} PRIMARY KEY,
    hash ${t.text} NOT NULL UNIQUE,
    token_id ${t.text} NOT NULL,
    csrf_token ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    expires_at ${t.text} NOT NULL,
    revoked_at ${t.text}
  )`,
  `CREATE INDEX sessions_token ON sessions (token_id)`,
  `CREATE INDEX sessions_expires ON sessions (expires_at)`,
];

export const migration0015: Migration = {
  id: 15,
  name: 'sessions',
  sqlite: tables({ text: 'TEXT' }),
  postgres: tables({ text: 'text' }),
};
