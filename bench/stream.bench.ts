/**
 * Event stream fan-out: 1,000 SSE subscribers (plain HTTP on loopback, in a child process so
 * the server's memory is its own) follow one execution. Measures server memory per idle
 * subscriber (heap and RSS delta after GC, ÷ subscribers), then, once the approval is given and
 * the execution runs a chain of short waits (a steady flow paced by the worker's timers), delivery
 * latency (event `at` → received by the client) p50/p99, events produced per second and
 * deliveries per second. BENCH_STEPS sets the chain length (default 30). One JSON line (SQLite; PostgreSQL too when TEST_DATABASE_URL answers).
 * Targets: p99 < 100 ms, < 50 KB per idle subscriber.
 */
import { fork, spawnSync } from 'node:child_process';
import http from 'node:http';
import { type DialectName, postgresUnavailable } from '../test/helpers/dialects.ts';
import { composeOnFreshPlace } from '../test/helpers/harness.ts';
import { summarize } from './stats.ts';

const token = `sy_${'d'.repeat(40)}`;
const subscribers = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const steps = Number(process.env.BENCH_STEPS ?? 30);

type ToParent =
  | { type: 'open'; n: number }
  | { type: 'done'; latencies: number[]; events: number; firstAt: number; lastAt: number };

// --- client process --------------------------------------------------------------------------

async function clientMain(url: string, n: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const latencies: number[] = [];
  let events = 0;
  let open = 0;
  let ended = 0;
  let firstAt = 0;
  let lastAt = 0;
  await new Promise<void>((resolveAll) => {
    for (let i = 0; i < n; i++) {
      const req = http.get(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        if (res.statusCode !== 200) throw new Error(`stream answered ${res.statusCode}`);
        res.setEncoding('utf8');
        let buf = '';
        let counted = false;
        res.on('data', (chunk: string) => {
          const now = Date.now();
          if (!counted) {
            counted = true;
            if (++open === n) process.send!({ type: 'open', n } satisfies ToParent);
          }
          buf += chunk;
          let cut: number;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (!data || !/^event: /m.test(frame) || /^event: end$/m.test(frame)) continue;
            const at = Date.parse((JSON.parse(data) as { at: string }).at);
            // Only live events: the replay at connect time is not delivery latency.
            if (live) {
              latencies.push(now - at);
              events++;
              firstAt ||= now;
              lastAt = now;
            }
          }
        });
        res.on('end', () => {
          if (++ended === n) resolveAll();
        });
      });
      req.on('error', (err) => {
        throw err;
      });
    }
  });
  process.send!({ type: 'done', latencies, events, firstAt, lastAt } satisfies ToParent);
}

let live = false;

// --- server (this process) -------------------------------------------------------------------

function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 200));
}

function memory(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) global.gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

async function bench(dialect: DialectName): Promise<Record<string, unknown>> {
  const { yard, place } = await composeOnFreshPlace(dialect, { token });
  try {
    const base = await yard.app.listen({ port: 0, host: '127.0.0.1' });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const nodes: Record<string, unknown>[] = [{ id: 'gate', type: 'approval' }];
    for (let i = 1; i <= steps; i++)
      nodes.push({
        id: `w${i}`,
        type: 'wait',
        duration: '20ms',
        needs: [i === 1 ? 'gate' : `w${i - 1}`],
      });
    const wf = await call('POST', '/api/v1/workflows', { name: 'stream-bench', graph: { nodes } });
    if (wf.status !== 201) throw new Error(`create answered ${wf.status}`);
    const run = await call('POST', `/api/v1/workflows/${wf.json.id as string}/run`, {});
    const execPath = `/api/v1/workflows/${wf.json.id as string}/executions/${run.json.id as string}`;
    for (;;) {
      const got = await call('GET', execPath);
      if (got.json.status === 'waiting') break;
      await new Promise((r) => setTimeout(r, 20));
    }

    await settle();
    const before = memory();
    const child = fork(
      import.meta.filename,
      ['client', `${base}${execPath}/stream`, String(subscribers)],
      {
        execArgv: ['--import', 'tsx'],
      },
    );
    const messages: ToParent[] = [];
    let notify: () => void = () => {};
    child.on('message', (m: ToParent) => {
      messages.push(m);
      notify();
    });
    const next = async (type: ToParent['type']): Promise<ToParent> => {
      for (;;) {
        const m = messages.find((x) => x.type === type);
        if (m) return m;
        await new Promise<void>((r) => (notify = r));
      }
    };
    await next('open');
    await settle();
    const idle = memory();
    if (yard.sse.stats.open !== subscribers) throw new Error(`${yard.sse.stats.open} streams open`);

    child.send('live');
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const resume = await call('POST', `${execPath}/resume`, { decision: 'approve' });
    if (resume.status !== 200) throw new Error(`resume answered ${resume.status}`);
    const done = (await next('done')) as Extract<ToParent, { type: 'done' }>;
    const seconds = (done.lastAt - Math.min(done.firstAt, t0)) / 1000;
    child.kill();
    return {
      bench: 'stream',
      dialect,
      subscribers,
      events_per_execution: done.events / subscribers,
      deliveries: done.events,
      ...summarize(done.latencies),
      events_per_s: Math.round(done.events / subscribers / seconds),
      deliveries_per_s: Math.round(done.events / seconds),
      idle_heap_kb_per_subscriber: Math.round((idle.heap - before.heap) / subscribers / 102.4) / 10,
      idle_rss_kb_per_subscriber: Math.round((idle.rss - before.rss) / subscribers / 102.4) / 10,
    };
  } finally {
    await yard.close();
    await place.cleanup();
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'client') {
    process.on('message', (m) => {
      if (m === 'live') live = true;
    });
    await clientMain(process.argv[3]!, Number(process.argv[4]));
    process.disconnect();
    return;
  }
  if (typeof global.gc !== 'function') {
    // Memory per subscriber needs a collection before each reading.
    const res = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', import.meta.filename, ...process.argv.slice(2)],
      { stdio: 'inherit' },
    );
    process.exit(res.status ?? 1);
  }
  const dialects: DialectName[] = ['sqlite'];
  if ((await postgresUnavailable()) === undefined) dialects.push('postgres');
  const results = [];
  for (const d of dialects) results.push(await bench(d));
  const line = {
    ...results[0],
    ...(results[1] && { postgres: results[1] }),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

await main();
