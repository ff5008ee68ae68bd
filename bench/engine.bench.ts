/**
 * Engine throughput through the HTTP API (issue 3's shapes): a client POSTs /run and waits for
 * the execution to end. The server runs in this process on loopback; the end of an execution is
 * observed through the engine's decision hook (the SSE stream replaces it once it exists).
 * Scenarios, each on SQLite and PostgreSQL, with `noop` nodes (decided inside the engine) and
 * 0 s `wait` nodes (one durable timer task per node):
 *   seq10_serial  500 runs of a 10-node chain, one after another
 *   seq10_c50     the same with 50 in flight (+ POST /run latency while it runs)
 *   fan10_serial  500 runs of a root fanning out to 10 parallel nodes
 *   fan100_serial 100 runs of a root fanning out to 100
 * BENCH_SCALE=0.2 shrinks every count (quick runs); BENCH_DIALECTS=sqlite limits dialects;
 * BENCH_KINDS=noop limits node kinds.
 */
import { defaultConfig } from '../src/config.ts';
import { isTerminalExecution } from '../src/engine/status.ts';
import { composeSwitchyard } from '../src/server.ts';
import { type DialectName, freshPlace, postgresUnavailable } from '../test/helpers/dialects.ts';
import { runPool, summarize } from './stats.ts';

const token = `sy_${'f'.repeat(40)}`;
const scale = Number(process.env.BENCH_SCALE ?? 1);
const dialects = (process.env.BENCH_DIALECTS ?? 'sqlite,postgres').split(',') as DialectName[];
const kinds = (process.env.BENCH_KINDS ?? 'noop,wait0').split(',');

type Kind = 'noop' | 'wait0';
const nodeOf = (kind: Kind, id: string, needs?: string) => ({
  id,
  ...(kind === 'noop' ? { type: 'noop' } : { type: 'wait', duration: '0s' }),
  ...(needs !== undefined && { needs: [needs] }),
});
const chain = (kind: Kind, n: number) => ({
  nodes: Array.from({ length: n }, (_, i) =>
    nodeOf(kind, `s${i}`, i > 0 ? `s${i - 1}` : undefined),
  ),
});
const fan = (kind: Kind, n: number) => ({
  nodes: [
    nodeOf(kind, 'root'),
    ...Array.from({ length: n }, (_, i) => nodeOf(kind, `f${i}`, 'root')),
  ],
});

async function benchDialect(dialect: DialectName): Promise<void> {
  const place = freshPlace(dialect);
  const yard = await composeSwitchyard({
    config: {
      ...defaultConfig,
      dataDir: place.dataDir,
      databaseUrl: place.databaseUrl,
      adminToken: token,
      logLevel: 'silent',
      workerConcurrency: 64,
    },
    ...(place.sqlitePath !== undefined && { sqlitePath: place.sqlitePath }),
    ...(place.pgSchema !== undefined && { pgSchema: place.pgSchema }),
  });
  const waiters = new Map<string, () => void>();
  const ended = new Set<string>();
  yard.engine.onDecision((id, snap) => {
    if (!isTerminalExecution(snap.execution.status)) return;
    ended.add(id);
    waiters.get(id)?.();
  });
  try {
    const base = await yard.app.listen({ port: 0, host: '127.0.0.1' });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const create = async (name: string, graph: unknown) => {
      const res = await fetch(`${base}/api/v1/workflows`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name, graph }),
      });
      return ((await res.json()) as { id: string }).id;
    };
    const runLatency: number[] = [];
    const runOnce = async (wf: string) => {
      const t0 = performance.now();
      const res = await fetch(`${base}/api/v1/workflows/${wf}/run`, {
        method: 'POST',
        headers,
        body: '{}',
      });
      runLatency.push(performance.now() - t0);
      if (res.status !== 202) throw new Error(`run answered ${res.status}: ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      if (!ended.has(id)) await new Promise<void>((resolve) => waiters.set(id, resolve));
      waiters.delete(id);
      ended.delete(id);
    };
    const scenario = async (
      kind: Kind,
      name: string,
      graph: { nodes: unknown[] },
      runs: number,
      inFlight: number,
    ) => {
      const wf = await create(`${name}-${kind}`, graph);
      await runPool(Math.min(10, runs), Math.min(inFlight, 10), () => runOnce(wf)); // warm-up
      runLatency.length = 0;
      const t0 = performance.now();
      const lat = await runPool(runs, inFlight, () => runOnce(wf));
      const secs = (performance.now() - t0) / 1000;
      const s = summarize(lat);
      const r = summarize(runLatency);
      const line: Record<string, unknown> = {
        bench: 'engine',
        scenario: name,
        dialect,
        nodes: kind,
        runs,
        in_flight: inFlight,
        wf_per_s: Math.round((runs / secs) * 10) / 10,
        nodes_per_s: Math.round((runs * graph.nodes.length) / secs),
        exec_p50_ms: s.p50_ms,
        exec_p99_ms: s.p99_ms,
      };
      if (inFlight > 1) Object.assign(line, { run_p50_ms: r.p50_ms, run_p99_ms: r.p99_ms });
      process.stdout.write(`${JSON.stringify(line)}\n`);
    };
    const n = (x: number) => Math.max(5, Math.round(x * scale));
    for (const kind of kinds as Kind[]) {
      await scenario(kind, 'seq10_serial', chain(kind, 10), n(500), 1);
      await scenario(kind, 'seq10_c50', chain(kind, 10), n(500), 50);
      await scenario(kind, 'fan10_serial', fan(kind, 10), n(500), 1);
      await scenario(kind, 'fan100_serial', fan(kind, 100), n(100), 1);
    }
  } finally {
    await yard.close();
    await place.cleanup();
  }
}

for (const d of dialects) {
  if (d === 'postgres') {
    const why = await postgresUnavailable();
    if (why !== undefined) {
      process.stderr.write(`engine: skipping PostgreSQL: ${why}\n`);
      continue;
    }
  }
  await benchDialect(d);
}
