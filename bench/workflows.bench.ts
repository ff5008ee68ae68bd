/**
 * Workflows as a user sees them (issue 23): the server runs as its own process (`node
 * dist/main.js`: the compiled server `npm start` runs, built first when stale) on a fresh SQLite
 * file or a fresh PostgreSQL database;
 * this process is the client. It serves a no-op HTTP endpoint, creates the workflows, POSTs
 * `/run` and waits on the execution's SSE stream for `event: end`. Every node is an `http` node
 * calling the no-op endpoint (the server is started with SWITCHYARD_EGRESS_ALLOW naming it), so
 * every node is a durable step with real I/O; the `wait0` shapes use `wait: 0s` nodes instead.
 * The same shapes run on DBOS Transact (bench/peers/dbos, installed there on first use) on a
 * PostgreSQL database of its own, and every Switchyard row carries `ratioToDbos` (its throughput
 * over DBOS's for the same shape, from steps/s: the same as the wf/s ratio, without its rounding).
 *
 * Shapes (a shape is L layers of W nodes; each node needs every node of the layer before):
 *   chain10_serial        10-node chain, one execution at a time
 *   chain10_c50           the same, 50 in flight (+ POST /run latency while it runs)
 *   fan100_serial         100 parallel nodes, one execution at a time
 *   graph500_serial       50 layers of 10 (500 nodes), one execution at a time
 *   chain10_wait0_serial  10-node chain of `wait: 0s` nodes, one at a time
 *   chain10_wait0_c50     the same, 50 in flight
 *
 * Settings: BENCH_SCALE=0.2 shrinks every count; BENCH_STORES=sqlite,postgres,dbos (default all);
 * BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is where the fresh databases
 * are created and dropped; BENCH_ONLY=chain10_serial,graph500_serial picks shapes;
 * BENCH_PROFILE=<dir> runs only chain10_c50 (or the BENCH_ONLY shapes) per store, with the server under
 * `--cpu-prof --cpu-prof-dir=<dir>/<store>` (summarize with bench/profile-summary.ts).
 * Prints one JSON line per shape and store.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ensureBuilt } from '../test/helpers/build.ts';
import { runPool, summarize } from './stats.ts';

type Store = 'sqlite' | 'postgres' | 'dbos';

interface Shape {
  shape: string;
  step: 'http' | 'wait0';
  layers: number;
  width: number;
  runs: number;
  inFlight: number;
  warmup: number;
}

const scale = Number(process.env.BENCH_SCALE ?? 1);
const stores = (process.env.BENCH_STORES ?? 'sqlite,postgres,dbos').split(',') as Store[];
const pgAdminUrl = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const profileDir = process.env.BENCH_PROFILE;
const root = path.resolve(import.meta.dirname, '..');
const runTimeoutMs = 600_000;

const n = (x: number, min: number) => Math.max(min, Math.round(x * scale));
const shape = (
  name: string,
  step: Shape['step'],
  layers: number,
  width: number,
  runs: number,
  inFlight: number,
): Shape => ({
  shape: name,
  step,
  layers,
  width,
  runs,
  inFlight,
  warmup: Math.min(runs, inFlight > 1 ? 10 : 2),
});
const allShapes: Shape[] = [
  shape('chain10_serial', 'http', 10, 1, n(200, 5), 1),
  shape('chain10_c50', 'http', 10, 1, n(500, 50), 50),
  shape('fan100_serial', 'http', 1, 100, n(50, 3), 1),
  shape('graph500_serial', 'http', 50, 10, n(10, 2), 1),
  shape('chain10_wait0_serial', 'wait0', 10, 1, n(200, 5), 1),
  shape('chain10_wait0_c50', 'wait0', 10, 1, n(500, 50), 50),
];
const only = process.env.BENCH_ONLY?.split(',');
const shapes = allShapes.filter((s) =>
  only !== undefined ? only.includes(s.shape) : !profileDir || s.shape === 'chain10_c50',
);

const round1 = (x: number) => Math.round(x * 10) / 10;

// --- the no-op endpoint every step calls -------------------------------------------------------

async function startNoop(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/noop`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// --- fresh PostgreSQL databases ----------------------------------------------------------------

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgAdminUrl, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function freshDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(pgAdminUrl);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

// --- the server process ------------------------------------------------------------------------

interface Server {
  base: string;
  token: string;
  stop: () => Promise<void>;
}

async function startServer(
  store: 'sqlite' | 'postgres',
  noopUrl: string,
  databaseUrl: string,
  dataDir: string,
): Promise<Server> {
  const token = `sy_${randomBytes(20).toString('hex')}`;
  const noopHost = new URL(noopUrl).host;
  const prof = profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${path.join(path.resolve(profileDir), store)}`]
    : [];
  const args = [...prof, 'dist/main.js', '--port', '0', '--data-dir', dataDir];
  if (databaseUrl) args.push('--database-url', databaseUrl);
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      ...process.env,
      SWITCHYARD_ADMIN_TOKEN: token,
      SWITCHYARD_EGRESS_ALLOW: noopHost,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      keep(chunk);
      out += chunk.toString('utf8');
      const m = /Switchyard listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.on('data', keep); // drained for the rest of its life
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`${store} server exited with ${code}: ${tail}`)));
  });
  return {
    base,
    token,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) process.stderr.write(`workflows: ${store} server exited with ${code}\n`);
    },
  };
}

// --- the client: POST /run, wait for `event: end` on the stream --------------------------------

function graphOf(s: Shape, noopUrl: string): { nodes: Record<string, unknown>[] } {
  const nodes: Record<string, unknown>[] = [];
  for (let l = 0; l < s.layers; l++) {
    const needs = l === 0 ? [] : Array.from({ length: s.width }, (_, i) => `n${l - 1}_${i}`);
    for (let i = 0; i < s.width; i++) {
      nodes.push({
        id: `n${l}_${i}`,
        ...(s.step === 'http' ? { type: 'http', url: noopUrl } : { type: 'wait', duration: '0s' }),
        ...(needs.length > 0 && { needs }),
      });
    }
  }
  return { nodes };
}

/** Resolves with the status in `event: end`; rejects on anything else ending the stream. */
function awaitEnd(url: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { authorization: `Bearer ${token}` } });
    const timer = setTimeout(
      () => req.destroy(new Error('no end within the timeout')),
      runTimeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        clearTimeout(timer);
        reject(new Error(`stream answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      let done = false;
      res.on('data', (chunk: string) => {
        buf += chunk;
        let cut: number;
        while (!done && (cut = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          if (/^event: dropped$/m.test(frame)) {
            done = true;
            reject(new Error(`stream dropped: ${frame}`));
          } else if (/^event: end$/m.test(frame)) {
            done = true;
            const data = /^data: (.*)$/m.exec(frame)?.[1] ?? '{}';
            resolve((JSON.parse(data) as { status: string }).status);
          }
          if (done) {
            clearTimeout(timer);
            req.destroy();
          }
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        if (!done) reject(new Error('stream closed before event: end'));
      });
    });
  });
}

type Row = Record<string, unknown> & { shape: string; stepsPerSec: number };

async function runShapes(
  server: Server,
  store: Store,
  noopUrl: string,
  dbos: Map<string, number>,
): Promise<void> {
  const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
  for (const s of shapes) {
    const res = await fetch(`${server.base}/api/v1/workflows`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: `bench-${s.shape}`, graph: graphOf(s, noopUrl) }),
    });
    if (res.status !== 201) throw new Error(`create answered ${res.status}: ${await res.text()}`);
    const wf = ((await res.json()) as { id: string }).id;
    const postRun: number[] = [];
    const once = async () => {
      const t0 = performance.now();
      const run = await fetch(`${server.base}/api/v1/workflows/${wf}/run`, {
        method: 'POST',
        headers,
        body: '{}',
      });
      postRun.push(performance.now() - t0);
      if (run.status !== 202) throw new Error(`run answered ${run.status}: ${await run.text()}`);
      const { id } = (await run.json()) as { id: string };
      const status = await awaitEnd(
        `${server.base}/api/v1/workflows/${wf}/executions/${id}/stream`,
        server.token,
      );
      if (status !== 'succeeded') throw new Error(`${s.shape}: execution ${id} ended ${status}`);
    };
    await runPool(s.warmup, Math.min(s.inFlight, s.warmup), once);
    postRun.length = 0;
    const t0 = performance.now();
    const latencies = await runPool(s.runs, s.inFlight, once);
    const secs = (performance.now() - t0) / 1000;
    const lat = summarize(latencies);
    const row: Row = {
      bench: 'workflows',
      shape: s.shape,
      store,
      runs: s.runs,
      inFlight: s.inFlight,
      wfPerSec: round1(s.runs / secs),
      stepsPerSec: Math.round((s.runs * s.layers * s.width) / secs),
      p50Ms: lat.p50_ms,
      p99Ms: lat.p99_ms,
    };
    if (s.inFlight > 1) {
      const p = summarize(postRun);
      Object.assign(row, { postRunP50Ms: p.p50_ms, postRunP99Ms: p.p99_ms });
    }
    // Both run the same steps per workflow, so this is the wf/s ratio without wf/s's rounding.
    const peer = dbos.get(s.shape);
    if (peer) row.ratioToDbos = Math.round((row.stepsPerSec / peer) * 100) / 100;
    if (profileDir) row.profiled = true;
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
}

async function benchSwitchyard(
  store: 'sqlite' | 'postgres',
  noopUrl: string,
  dbos: Map<string, number>,
): Promise<void> {
  ensureBuilt();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sy-bench-'));
  let db: { url: string; drop: () => Promise<void> } | undefined;
  try {
    if (store === 'postgres') db = await freshDatabase('sy_bench');
    const server = await startServer(store, noopUrl, db?.url ?? '', dataDir);
    try {
      await runShapes(server, store, noopUrl, dbos);
    } finally {
      await server.stop();
    }
  } finally {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// --- the DBOS peer ------------------------------------------------------------------------------

/** Runs the shapes on DBOS; returns steps/s by shape (empty, with the reason on stderr, on failure). */
async function benchDbos(noopUrl: string): Promise<Map<string, number>> {
  const dir = path.join(import.meta.dirname, 'peers', 'dbos');
  const result = new Map<string, number>();
  if (!existsSync(path.join(dir, 'node_modules', '@dbos-inc', 'dbos-sdk'))) {
    const code = await new Promise<number | null>((r) =>
      spawn('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund'], {
        stdio: ['ignore', process.stderr, 'inherit'],
      }).once('exit', r),
    );
    if (code !== 0) {
      process.stderr.write(`workflows: skipping DBOS: npm install in ${dir} exited ${code}\n`);
      return result;
    }
  }
  const db = await freshDatabase('dbos_bench');
  try {
    const child = spawn(process.execPath, [path.join(dir, 'run.js')], {
      cwd: dir,
      env: {
        ...process.env,
        DBOS_DATABASE_URL: db.url,
        NOOP_URL: noopUrl,
        BENCH_SHAPES: JSON.stringify(shapes),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let cut: number;
      while ((cut = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, cut);
        buf = buf.slice(cut + 1);
        if (line.startsWith('{"bench":"workflows"')) {
          const row = JSON.parse(line) as Row;
          result.set(row.shape, row.stepsPerSec);
          process.stdout.write(`${line}\n`);
        } else if (line.trim() !== '') process.stderr.write(`dbos: ${line}\n`);
      }
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    if (code !== 0) process.stderr.write(`workflows: the DBOS peer exited with ${code}\n`);
  } finally {
    await db.drop();
  }
  return result;
}

// --- main --------------------------------------------------------------------------------------

const noop = await startNoop();
try {
  const dbos = stores.includes('dbos') ? await benchDbos(noop.url) : new Map<string, number>();
  for (const store of stores) {
    if (store === 'sqlite' || store === 'postgres') await benchSwitchyard(store, noop.url, dbos);
  }
} finally {
  await noop.close();
}
