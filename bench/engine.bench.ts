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
import { Worker } from 'node:worker_threads';
import { isTerminalExecution } from '../src/engine/status.ts';
import { type DialectName, postgresUnavailable } from '../test/helpers/dialects.ts';
import { composeOnFreshPlace } from '../test/helpers/harness.ts';

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
  const { yard, place } = await composeOnFreshPlace(dialect, {
    config: { workerConcurrency: Number(process.env.BENCH_WORKER_CONCURRENCY ?? 64) },
    token,
  });
  // The worker registers tsx itself: loader flags are not inherited reliably by worker threads.
  const clientUrl = new URL('./engine-client.ts', import.meta.url).href;
  const client = new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(clientUrl)}); });`,
    { eval: true },
  );
  await new Promise((resolve) => client.once('message', resolve));
  yard.worker.onDecision((id, snap) => {
    if (isTerminalExecution(snap.execution.status)) client.postMessage({ type: 'ended', id });
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
    const drive = (workflowId: string, runs: number, inFlight: number) =>
      new Promise<{
        secs: number;
        exec: { p50_ms: number; p99_ms: number };
        run: { p50_ms: number; p99_ms: number };
      }>((resolve) => {
        client.once('message', (m: { result: never }) => resolve(m.result));
        client.postMessage({ type: 'job', job: { base, token, workflowId, runs, inFlight } });
      });
    const scenario = async (
      kind: Kind,
      name: string,
      graph: { nodes: unknown[] },
      runs: number,
      inFlight: number,
    ) => {
      const wf = await create(`${name}-${kind}`, graph);
      await drive(wf, Math.min(10, runs), Math.min(inFlight, 10)); // warm-up
      const { secs, exec: s, run: r } = await drive(wf, runs, inFlight);
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
    await client.terminate();
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
