/**
 * Starts a real Switchyard server process (the compiled `switchyard` bin, as `npm start` runs it)
 * and waits for it to listen.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { ensureBuilt, repoRoot as root, switchyardBin } from './build.ts';
import { testDatabaseUrl } from './dialects.ts';
import { eventually } from './eventually.ts';

ensureBuilt();

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The secrets key of every server a test starts (32 bytes, base64). */
export const testSecretsKey = Buffer.alloc(32, 7).toString('base64');

export async function startServer(
  args: string[],
  env: Record<string, string> = {},
  cwd = root,
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [switchyardBin, 'serve', '--port', '0', '--log-level', 'warn', ...args],
    {
      cwd,
      env: {
        ...process.env,
        SWITCHYARD_ADMIN_TOKEN: '',
        DATABASE_URL: '',
        // Servers sharing a database must share the secrets key (a server with another refuses
        // to start): every test server gets this one unless the test passes its own.
        SWITCHYARD_SECRETS_KEY: testSecretsKey,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${out}\n${err}`)),
      30_000,
    );
    const check = () => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}\n${err}`));
    });
  });
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A fresh PostgreSQL database for a server process; returns its URL and a dropper. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sy_e2e_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(testDatabaseUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: testDatabaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The URL the server prints once it listens; fails if the process exits first. */
export async function listening(child: ChildProcess, what: string): Promise<string> {
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return eventually(
    `${what} to listen`,
    () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}):\n${out}\n${err}`);
      return /listening on (http:\/\/\S+)/.exec(out)?.[1];
    },
    60_000,
  );
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** True once nothing accepts connections on the URL's port. */
export function portClosed(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
