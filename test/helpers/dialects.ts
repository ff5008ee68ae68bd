/**
 * Runs a storage-touching suite on both dialects: SQLite in a temp directory and PostgreSQL at
 * TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), each test in a schema of
 * its own. Without a PostgreSQL server the Postgres half skips with a printed reason, except
 * under CI (CI=true) or SWITCHYARD_REQUIRE_POSTGRES=1, where it fails instead.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { type Database, openDatabase } from '../../src/store/db.ts';
import type { OpenOptions } from '../../src/store/open.ts';
import { scratchDir } from './scratch.ts';

export type DialectName = 'sqlite' | 'postgres';

export const testDatabaseUrl =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const requirePostgres =
  process.env.CI === 'true' || process.env.SWITCHYARD_REQUIRE_POSTGRES === '1';

let probe: Promise<string | undefined> | undefined;

/** Undefined when PostgreSQL answers, else why not. */
export function postgresUnavailable(): Promise<string | undefined> {
  probe ??= (async () => {
    const c = new pg.Client({ connectionString: testDatabaseUrl, connectionTimeoutMillis: 10_000 });
    try {
      await c.connect();
      await c.query('select 1');
      return undefined;
    } catch (err) {
      return `PostgreSQL at ${testDatabaseUrl} does not answer (${(err as Error).message})`;
    } finally {
      await c.end().catch(() => {});
    }
  })();
  return probe;
}

/** Skip option for node:test: a reason string to skip, or false; throws when PG is required. */
export async function skipFor(dialect: DialectName): Promise<string | false> {
  // Probed before the first suite of a file is registered, even the SQLite one: a suite running
  // meanwhile can hold the event loop past the connection timeout on a loaded machine.
  const why = await postgresUnavailable();
  if (dialect === 'sqlite' || why === undefined) return false;
  if (requirePostgres) throw new Error(`${why}; CI requires PostgreSQL`);
  process.stderr.write(`# skipping PostgreSQL tests: ${why}\n`);
  return why;
}

export interface DialectPlace {
  dialect: DialectName;
  databaseUrl: string;
  dataDir: string;
  sqlitePath?: string;
  pgSchema?: string;
  /** Drops the schema / removes the directory. */
  cleanup(): Promise<void>;
}

/** A fresh, empty database location for one test. */
export function freshPlace(dialect: DialectName): DialectPlace {
  const dataDir = scratchDir('switchyard-test-');
  if (dialect === 'sqlite') {
    return {
      dialect,
      databaseUrl: '',
      dataDir,
      sqlitePath: path.join(dataDir, 'switchyard.db'),
      cleanup: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const pgSchema = `sy_test_${randomBytes(6).toString('hex')}`;
  return {
    dialect,
    databaseUrl: testDatabaseUrl,
    dataDir,
    pgSchema,
    cleanup: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      const c = new pg.Client({ connectionString: testDatabaseUrl });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

export const dialectNames: DialectName[] = ['sqlite', 'postgres'];

/** Opens (and migrates) the database at a place; `migrations` opens it as an earlier version left it. */
export function openPlace(
  place: DialectPlace,
  migrations?: OpenOptions['migrations'],
): Promise<Database> {
  return openDatabase({
    databaseUrl: place.databaseUrl,
    dataDir: place.dataDir,
    ...(place.sqlitePath !== undefined && { sqlitePath: place.sqlitePath }),
    ...(place.pgSchema !== undefined && { pgSchema: place.pgSchema }),
    ...(migrations !== undefined && { migrations }),
  });
}
