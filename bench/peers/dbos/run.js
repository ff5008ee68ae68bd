/* global process, fetch, console, performance */
/**
 * The DBOS Transact peer of bench/workflows.bench.ts (issue 23): the same shapes as workflows of
 * DBOS steps on a PostgreSQL database of its own. Every step is an HTTP GET of the bench's no-op
 * server (NOOP_URL), run through DBOS.runStep, so it is checkpointed like a Switchyard `http`
 * node; the `wait0` shapes use DBOS.sleep(1) (a durable sleep: DBOS.sleep(0) returns at once
 * without touching the database). A shape of L layers of width W runs each layer as
 * Promise.all of W steps. Runs are started with DBOS.startWorkflow and awaited with getResult,
 * `inFlight` at a time; postRun is the time startWorkflow takes to hand back its handle.
 *
 * Input: DBOS_DATABASE_URL, NOOP_URL, BENCH_SHAPES (JSON list of
 * {shape, step, layers, width, runs, inFlight, warmup}). Output: one JSON line per shape.
 */
import { DBOS } from '@dbos-inc/dbos-sdk';

const databaseUrl = process.env.DBOS_DATABASE_URL;
const noopUrl = process.env.NOOP_URL;
const shapes = JSON.parse(process.env.BENCH_SHAPES ?? '[]');
if (!databaseUrl || !noopUrl) throw new Error('DBOS_DATABASE_URL and NOOP_URL are required');

async function call() {
  const res = await fetch(noopUrl);
  if (!res.ok) throw new Error(`no-op server answered ${res.status}`);
  return await res.json();
}

async function shapeWorkflow(layers, width, step) {
  for (let layer = 0; layer < layers; layer++) {
    const one = (i) =>
      step === 'http' ? DBOS.runStep(call, { name: `n${layer}_${i}` }) : DBOS.sleep(1);
    if (width === 1) await one(0);
    else await Promise.all(Array.from({ length: width }, (_, i) => one(i)));
  }
  return layers * width;
}

const workflow = DBOS.registerWorkflow(shapeWorkflow, { name: 'shape' });

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i] * 100) / 100;
}

async function pool(count, concurrency, task) {
  const latencies = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const t0 = performance.now();
      await task();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies.sort((a, b) => a - b);
}

DBOS.setConfig({ name: 'switchyard-bench', systemDatabaseUrl: databaseUrl, logLevel: 'error' });
await DBOS.launch();
try {
  for (const s of shapes) {
    const startLatency = [];
    const once = async () => {
      const t0 = performance.now();
      const handle = await DBOS.startWorkflow(workflow)(s.layers, s.width, s.step);
      startLatency.push(performance.now() - t0);
      const steps = await handle.getResult();
      if (steps !== s.layers * s.width) throw new Error(`workflow returned ${steps}`);
    };
    await pool(s.warmup, Math.min(s.inFlight, s.warmup), once);
    startLatency.length = 0;
    const t0 = performance.now();
    const latencies = await pool(s.runs, s.inFlight, once);
    const secs = (performance.now() - t0) / 1000;
    const row = {
      bench: 'workflows',
      shape: s.shape,
      store: 'dbos',
      runs: s.runs,
      inFlight: s.inFlight,
      wfPerSec: Math.round((s.runs / secs) * 10) / 10,
      stepsPerSec: Math.round((s.runs * s.layers * s.width) / secs),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    };
    if (s.inFlight > 1) {
      startLatency.sort((a, b) => a - b);
      Object.assign(row, {
        postRunP50Ms: percentile(startLatency, 50),
        postRunP99Ms: percentile(startLatency, 99),
      });
    }
    console.log(JSON.stringify(row));
  }
} finally {
  await DBOS.shutdown();
}
