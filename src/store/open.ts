/**
 * Opens the database: SQLite (embedded default, WAL) or PostgreSQL when a URL is given, both
 * behind one Kysely instance, with pending migrations applied.
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
import type { Database, Db, Dialect } from './database.ts';
import { migratePostgres, migrateSqlite } from './migrate.ts';
import type { Migration } from './migrations/index.ts';
import { changeChannels, changeOf, changePayload, listenPostgres, workChannel } from './notify.ts';
import { isUniqueViolation, withRetry } from './retry.ts';
import type { DatabaseSchema } from './schema.ts';

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
  /** The migrations to apply (default: all); a test opens a database as an earlier version left it. */
  migrations?: readonly Migration[];
}

/** How long opening one PostgreSQL connection may take. */
const connectTimeoutMs = 5_000;

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
  migrateSqlite(raw, opts.migrations);
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
            onChange(channel === changeChannels.logs ? 'logs' : 'events', ...changeOf(payload)),
          )
        : Promise.resolve(async () => {}),
    announceEvents: async (trx, executionId, kind = 'events', from) => {
      if (pgConfig)
        await sql`select pg_notify(${changeChannels[kind]}, ${changePayload(executionId, from)})`.execute(
          trx,
        );
    },
    decisionNotices: (what) => {
      if (!pgConfig) return [];
      const calls = [];
      if (what.work) calls.push(sql`pg_notify(${workChannel}, '')`);
      if (what.eventsOf !== undefined)
        calls.push(
          sql`pg_notify(${changeChannels.events}, ${changePayload(what.eventsOf, what.from)})`,
        );
      if (what.logsOf !== undefined)
        calls.push(
          sql`pg_notify(${changeChannels.logs}, ${changePayload(what.logsOf, what.from)})`,
        );
      return calls;
    },
    close: () => db.destroy(),
  };
}

async function openPostgres(url: string, opts: OpenOptions): Promise<Database> {
  const schema = opts.pgSchema;
  const poolConfig: pg.PoolConfig = { connectionString: url, max: opts.poolSize ?? 10 };
  if (schema) {
    // Create the schema first with a one-off client; the pool then pins search_path to it.
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
    c.on('error', () => {});
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
  // A connection attempt that hangs (a half-open network) fails instead of queueing forever;
  // keep-alive notices a peer that vanished without closing the socket.
  poolConfig.connectionTimeoutMillis = connectTimeoutMs;
  poolConfig.keepAlive = true;
  const pool = new pg.Pool(poolConfig);
  // Every client must survive its connection dying (a PostgreSQL restart sends 57P01 to all of
  // them). pg emits 'error' on the client itself, and without a listener that event kills the
  // process: the pool listens only while a client is idle, so a client checked out by a query
  // or transaction gets a listener of its own for its whole life. The failed query rejects as
  // usual, and the pool discards the dead client when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  pool.on('error', () => {});
  await migratePostgres(pool, opts.migrations);
  return wrap('postgres', new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) }), {
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    keepAlive: true,
    ...(poolConfig.options !== undefined && { options: poolConfig.options }),
  });
}
