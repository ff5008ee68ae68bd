/**
 * Opens the database: SQLite (embedded default, WAL) or PostgreSQL when a URL is given, both
 * behind one Kysely instance. Runs migrations safely against concurrent starters and retries
 * transient lock/serialization failures inside transactions.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  type SqliteDatabase as SqliteDialectDatabase,
  sql,
} from 'kysely';
import pg from 'pg';
import { migrations } from './migrations/index.ts';
import type { DatabaseSchema } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<DatabaseSchema>;

export interface OpenOptions {
  /** PostgreSQL URL; empty means SQLite. */
  databaseUrl?: string;
  /** SQLite file path (`:memory:` allowed); default `<dataDir>/switchyard.db`. */
  sqlitePath?: string;
  dataDir?: string;
  /** PostgreSQL schema to use (created if missing); tests isolate themselves with it. */
  pgSchema?: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
}

export interface Database {
  readonly dialect: Dialect;
  readonly db: Db;
  /** Runs `fn` in one transaction, retrying it on transient lock and serialization errors. */
  transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  /**
   * Calls `onWake` whenever another process announces work (PostgreSQL LISTEN/NOTIFY; a no-op
   * on SQLite, which has one process). Returns a function that stops listening.
   */
  listenForWork(onWake: () => void): Promise<() => Promise<void>>;
  /** Announces new work inside `trx`; delivered to listeners when it commits. */
  announceWork(trx: Db): Promise<void>;
  /**
   * Calls `onChange(kind, executionId)` whenever any process commits new execution events or
   * log lines (PostgreSQL LISTEN/NOTIFY; a no-op on SQLite, whose one process wakes streams
   * itself). `executionId` is undefined after a reconnect: anything may have changed meanwhile.
   */
  listenForChanges(
    onChange: (kind: ChangeKind, executionId: string | undefined) => void,
  ): Promise<() => Promise<void>>;
  /** Announces new events (or log lines) of an execution inside `trx`; delivered on commit. */
  announceEvents(trx: Db, executionId: string, kind?: ChangeKind): Promise<void>;
  close(): Promise<void>;
}

/** The NOTIFY channel that wakes idle workers of every process sharing the database. */
export const workChannel = 'switchyard_work';

/** What changed for a stream: execution events or log lines. */
export type ChangeKind = 'events' | 'logs';

/** NOTIFY channels that wake stream subscribers; the payload is the execution id. */
export const changeChannels: Record<ChangeKind, string> = {
  events: 'switchyard_events',
  logs: 'switchyard_logs',
};

const transientPgCodes = new Set(['40001', '40P01', '55P03']);

/** Lock and serialization failures that succeed when tried again. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === 'SQLITE_BUSY' ||
    code === 'SQLITE_BUSY_SNAPSHOT' ||
    (typeof code === 'string' && transientPgCodes.has(code))
  );
}

/** Whether `err` is a unique-constraint violation (both dialects). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

async function withRetry<T>(fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** i) * (0.5 + Math.random())));
    }
  }
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid schema name ${name}`);
  return `"${name}"`;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts);
  return openSqlite(opts);
}

function openSqlite(opts: OpenOptions): Database {
  const file = opts.sqlitePath ?? path.join(opts.dataDir ?? './data', 'switchyard.db');
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const raw = new SqliteDatabase(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  migrateSqlite(raw);
  // Kysely serializes SQLite access through one connection, so transactions never interleave.
  return wrap(
    'sqlite',
    new Kysely<DatabaseSchema>({
      dialect: new SqliteDialect({ database: cachingStatements(raw) }),
    }),
  );
}

/**
 * Kysely prepares every query anew; better-sqlite3 statements are reusable, so the SQL text of
 * each statement is prepared once (bounded cache). Kysely runs one query at a time per
 * connection, so a cached statement is never used twice at once.
 */
function cachingStatements(raw: SqliteDatabase.Database): SqliteDialectDatabase {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    prepare(text: string) {
      let stmt = cache.get(text);
      if (!stmt) {
        stmt = raw.prepare(text);
        if (cache.size >= 2000) cache.clear();
        cache.set(text, stmt);
      }
      return stmt;
    },
    close: () => raw.close(),
  };
}

function wrap(dialect: Dialect, db: Db, pgConfig?: pg.ClientConfig): Database {
  return {
    dialect,
    db,
    transaction: (fn) => withRetry(() => db.transaction().execute(fn)),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    listenForWork: (onWake) =>
      pgConfig
        ? listenPostgres(pgConfig, [workChannel], () => onWake())
        : Promise.resolve(async () => {}),
    announceWork: async (trx) => {
      if (pgConfig) await sql`select pg_notify(${workChannel}, '')`.execute(trx);
    },
    listenForChanges: (onChange) =>
      pgConfig
        ? listenPostgres(pgConfig, Object.values(changeChannels), (channel, payload) =>
            onChange(
              channel === changeChannels.logs ? 'logs' : 'events',
              payload === undefined || payload === '' ? undefined : payload,
            ),
          )
        : Promise.resolve(async () => {}),
    announceEvents: async (trx, executionId, kind = 'events') => {
      if (pgConfig)
        await sql`select pg_notify(${changeChannels[kind]}, ${executionId})`.execute(trx);
    },
    close: () => db.destroy(),
  };
}

/**
 * A dedicated connection LISTENs on `channels`; it reconnects after a drop until stopped, and
 * then calls `onNotify` once per channel without a payload (notifications may have been missed).
 */
async function listenPostgres(
  config: pg.ClientConfig,
  channels: string[],
  onNotify: (channel: string, payload: string | undefined) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  const connect = async (): Promise<void> => {
    if (stopped) return;
    const c = new pg.Client(config);
    c.on('notification', (n) => onNotify(n.channel, n.payload));
    c.on('error', () => {});
    c.on('end', () => {
      if (!stopped) setTimeout(() => void connect().catch(() => {}), 1000).unref();
    });
    try {
      await c.connect();
      for (const channel of channels) await c.query(`LISTEN ${channel}`);
      client = c;
      for (const channel of channels) onNotify(channel, undefined); // anything missed meanwhile
    } catch {
      await c.end().catch(() => {});
      if (!stopped) setTimeout(() => void connect().catch(() => {}), 1000).unref();
    }
  };
  await connect();
  return async () => {
    stopped = true;
    await client?.end().catch(() => {});
  };
}

/** One writer at a time: BEGIN IMMEDIATE takes the write lock before reading what is applied. */
function migrateSqlite(raw: SqliteDatabase.Database): void {
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

async function openPostgres(url: string, opts: OpenOptions): Promise<Database> {
  const schema = opts.pgSchema;
  const poolConfig: pg.PoolConfig = { connectionString: url, max: opts.poolSize ?? 10 };
  if (schema) {
    // Create the schema first with a one-off client; the pool then pins search_path to it.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    } finally {
      await c.end();
    }
    poolConfig.options = `-c search_path=${schema}`;
  }
  const pool = new pg.Pool(poolConfig);
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  await migratePostgres(pool);
  return wrap('postgres', new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) }), {
    connectionString: url,
    ...(poolConfig.options !== undefined && { options: poolConfig.options }),
  });
}

/** An advisory transaction lock serializes concurrent migrators; DDL is transactional here. */
async function migratePostgres(pool: pg.Pool): Promise<void> {
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
