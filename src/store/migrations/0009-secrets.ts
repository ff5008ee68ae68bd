import type { Migration } from './migration.ts';

/**
 * Secrets (issue 14): write-only values, sealed with AES-256-GCM (src/secrets/crypto.ts).
 * `scope` is '' for a global secret or the workflow id it belongs to; `ciphertext` is base64 of
 * nonce, ciphertext and tag; `key_fingerprint` names the key that sealed it (a rotation finds
 * the rows still sealed with the old one). The fingerprint of the server's key itself is the
 * `secrets_key_fingerprint` row of `settings`. Frozen: add a new migration instead.
 */
const tables = (t: { text: string }) => [
  `CREATE TABLE secrets (
    scope ${t.text} NOT NULL,
    name ${t.text} NOT NULL,
    ciphertext ${t.text} NOT NULL,
    key_fingerprint ${t.text} NOT NULL,
    created_by ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    updated_by ${t.text} NOT NULL,
    updated_at ${t.text} NOT NULL,
    PRIMARY KEY (scope, name)
  )`,
];

export const migration0009: Migration = {
  id: 9,
  name: 'secrets',
  sqlite: tables({ text: 'TEXT' }),
  postgres: tables({ text: 'text' }),
};
