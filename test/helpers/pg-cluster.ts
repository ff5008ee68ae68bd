/**
 * A private PostgreSQL cluster for tests that stop or restart the database (CLARIFICATIONS):
 * `initdb` in a temp directory, its own port, so the shared server on 5432 is never touched.
 * As root the PostgreSQL binaries run as the `postgres` user. Without `initdb` the suite skips
 * with a printed reason, except under CI or SWITCHYARD_REQUIRE_POSTGRES=1, where it fails.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const requirePostgres =
  process.env.CI === 'true' || process.env.SWITCHYARD_REQUIRE_POSTGRES === '1';

/** The directory holding initdb and pg_ctl, or undefined. */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (dir && existsSync(path.join(dir, 'initdb'))) return dir;
  return undefined;
}

/** Skip option for node:test: a reason string to skip, or false; throws when CI requires it. */
export function skipWithoutCluster(): string | false {
  if (binDir() !== undefined) return false;
  const why = 'initdb is not installed (the postgresql server package provides it)';
  if (requirePostgres) throw new Error(`${why}; CI requires PostgreSQL`);
  process.stderr.write(`# skipping private PostgreSQL cluster tests: ${why}\n`);
  return why;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** `pg_ctl restart -m fast`: every connection is terminated (57P01) and the server comes back. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`: the database is down until `start`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the cluster and removes its directory. */
  destroy(): Promise<void>;
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = binDir();
  if (!bin) throw new Error('initdb is not installed');
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'log');
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, ...postgresIds());
  const pgRun = async (tool: string, args: string[]): Promise<void> => {
    const file = path.join(bin, tool);
    const [cmd, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', file, ...args]]
      : [file, args];
    await run(cmd, argv, { cwd: dir, timeout: 120_000 });
  };
  const port = await freePort();
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  // Unix sockets live in the cluster's own directory; the server listens on loopback only.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const ctl = (...args: string[]) => pgRun('pg_ctl', ['-D', data, '-l', log, '-w', ...args]);
  await ctl('-o', opts, 'start');
  let destroyed = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: () => ctl('-m', 'fast', 'restart'),
    stop: () => ctl('-m', 'fast', 'stop'),
    start: () => ctl('-o', opts, 'start'),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await ctl('-m', 'immediate', 'stop').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresIds(): [number, number] {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return [id('-u'), id('-g')];
}
