/**
 * Applies pending migrations (CONVENTIONS 5). Each runner records a migration before applying
 * it, inside one transaction that holds a lock, so concurrent starters never apply one twice.
 */
import type SqliteDatabase from 'better-sqlite3';
import type pg from 'pg';
import { type Migration, migrations as all } from './migrations/index.ts';

/** One writer at a time: BEGIN IMMEDIATE takes the write lock before reading what is applied. */
export function migrateSqlite(
  raw: SqliteDatabase.Database,
  migrations: readonly Migration[] = all,
): void {
  raw.exec(
    `CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
  );
  raw.exec('BEGIN IMMEDIATE');
  try {
    const done = new Set(
      (raw.prepare('SELECT id FROM schema_migrations').all() as { id: number }[]).map((r) => r.id),
    );
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      raw
        .prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)')
        .run(m.id, m.name, new Date().toISOString());
      for (const stmt of m.sqlite) raw.exec(stmt);
    }
    raw.exec('COMMIT');
  } catch (err) {
    raw.exec('ROLLBACK');
    throw err;
  }
}

/** An advisory transaction lock serializes concurrent migrators; DDL is transactional here. */
export async function migratePostgres(
  pool: pg.Pool,
  migrations: readonly Migration[] = all,
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('switchyard.migrate'))`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)`,
    );
    const res = await client.query<{ id: number }>('SELECT id FROM schema_migrations');
    const done = new Set(res.rows.map((r) => r.id));
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await client.query(
        'INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)',
        [m.id, m.name, new Date().toISOString()],
      );
      for (const stmt of m.postgres) await client.query(stmt);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
