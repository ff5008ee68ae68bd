/**
 * The client half of bench/engine.bench.ts, run in a worker thread so that it does not share
 * the server's event loop: it POSTs /run over loopback and waits for the main thread to say the
 * execution ended (the server's decision hook).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runPool, summarize } from './stats.ts';

interface Job {
  base: string;
  token: string;
  workflowId: string;
  runs: number;
  inFlight: number;
}

const port = parentPort!;
const waiters = new Map<string, () => void>();
const ended = new Set<string>();

port.on('message', (msg: { type: 'ended'; id: string } | { type: 'job'; job: Job }) => {
  if (msg.type === 'ended') {
    const w = waiters.get(msg.id);
    if (w) w();
    else ended.add(msg.id);
    return;
  }
  void run(msg.job).then((result) => port.postMessage({ type: 'result', result }));
});

async function run(job: Job): Promise<unknown> {
  const headers = { authorization: `Bearer ${job.token}`, 'content-type': 'application/json' };
  const runLatency: number[] = [];
  const once = async () => {
    const t0 = performance.now();
    const res = await fetch(`${job.base}/api/v1/workflows/${job.workflowId}/run`, {
      method: 'POST',
      headers,
      body: '{}',
    });
    runLatency.push(performance.now() - t0);
    if (res.status !== 202) throw new Error(`run answered ${res.status}: ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    if (!ended.delete(id)) await new Promise<void>((resolve) => waiters.set(id, resolve));
    waiters.delete(id);
  };
  const t0 = performance.now();
  const lat = await runPool(job.runs, job.inFlight, once);
  const secs = (performance.now() - t0) / 1000;
  return { secs, exec: summarize(lat), run: summarize(runLatency) };
}

port.postMessage({ type: 'ready', workerData: workerData as unknown });
