/**
 * Prometheus metrics: process defaults, HTTP request counts and latencies per route, and the
 * engine's (docs/operations.md lists each with what it tells).
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineMetrics } from '../worker/engine-metrics.ts';
import type { WorkerStats } from '../worker/worker.ts';

/** What the engine's gauges read at scrape time. */
export interface EngineGauges {
  metrics: EngineMetrics;
  /** Due tasks no worker holds, and the age of the oldest in seconds (0 when none). */
  queue: () => Promise<{ due: number; oldestAgeSeconds: number }>;
  dlqOpen: () => Promise<number>;
  sseOpen: () => number;
}

export function registerMetrics(
  app: FastifyInstance,
  workerStats?: () => WorkerStats,
  engine?: EngineGauges,
): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_' });
  const requests = new Counter({
    name: 'switchyard_http_requests_total',
    help: 'HTTP requests answered, by method, route and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'switchyard_http_request_duration_seconds',
    help: 'HTTP request latency, by method and route.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  if (workerStats !== undefined)
    new Counter({
      name: 'switchyard_worker_claim_failures_total',
      help: 'Claims of due tasks that failed (the database was away, or a bug); each is retried.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(workerStats().claimFailures);
      },
    });
  if (engine !== undefined) registerEngine(registry, engine);
  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs share one label so clients cannot blow up the series count.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  return registry;
}

function registerEngine(registry: Registry, engine: EngineGauges): void {
  engine.metrics.register(registry);
  // One read of the queue per scrape serves both of its gauges. While the database is away the
  // gauges keep their last values and the rest of /metrics still answers (claim failures show).
  let pending: Promise<{ due: number; oldestAgeSeconds: number } | undefined> | undefined;
  const queue = () =>
    (pending ??= engine
      .queue()
      .catch(() => undefined)
      .finally(() => (pending = undefined)));
  new Gauge({
    name: 'switchyard_queue_due_tasks',
    help: 'Tasks that are due and that no worker holds (waiting for a free slot).',
    registers: [registry],
    async collect() {
      const q = await queue();
      if (q !== undefined) this.set(q.due);
    },
  });
  new Gauge({
    name: 'switchyard_queue_oldest_due_seconds',
    help: 'How long the oldest due task nobody holds has waited (0 when none waits).',
    registers: [registry],
    async collect() {
      const q = await queue();
      if (q !== undefined) this.set(q.oldestAgeSeconds);
    },
  });
  new Gauge({
    name: 'switchyard_dlq_open_entries',
    help: 'Dead-letter entries still open (neither retried nor dismissed).',
    registers: [registry],
    async collect() {
      const open = await engine.dlqOpen().catch(() => undefined);
      if (open !== undefined) this.set(open);
    },
  });
  new Gauge({
    name: 'switchyard_sse_subscribers',
    help: 'Open SSE streams of this server.',
    registers: [registry],
    collect() {
      this.set(engine.sseOpen());
    },
  });
}
