/** Prometheus metrics: process defaults plus HTTP request counts and latencies per route. */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerStats } from '../worker/worker.ts';

export function registerMetrics(app: FastifyInstance, workerStats?: () => WorkerStats): Registry {
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
  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs share one label so clients cannot blow up the series count.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  return registry;
}
