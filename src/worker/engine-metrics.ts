/**
 * The engine's Prometheus metrics (docs/operations.md): made by the worker, registered by the
 * API's `/metrics` next to the HTTP ones. Figures read from the database at scrape time (queue
 * depth, DLQ entries) are the API's; these are what only the worker sees as it decides.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { NodeRunRow } from '../store/node-runs.ts';

export class EngineMetrics {
  readonly executionsStarted = new Counter({
    name: 'switchyard_executions_started_total',
    help: 'Executions that started running (left pending), by workflow type.',
    labelNames: ['type'] as const,
    registers: [],
  });
  readonly executionsFinished = new Counter({
    name: 'switchyard_executions_finished_total',
    help: 'Executions that reached an end, by workflow type and status.',
    labelNames: ['type', 'status'] as const,
    registers: [],
  });
  readonly nodeDuration = new Histogram({
    name: 'switchyard_node_duration_seconds',
    help: 'Duration of node attempts that ended, by node type and status.',
    labelNames: ['node_type', 'status'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [],
  });
  readonly leaseTakeovers = new Counter({
    name: 'switchyard_lease_takeovers_total',
    help: 'Running attempts whose lease ran out and whose node this worker took over.',
    registers: [],
  });
  readonly sandboxAcquire = new Histogram({
    name: 'switchyard_sandbox_acquire_seconds',
    help: 'Time to get an execution its environment (sandbox or container), by runtime.',
    labelNames: ['runtime'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [],
  });
  readonly decisionsPerCommit = new Histogram({
    name: 'switchyard_decisions_per_commit',
    help: 'Engine decisions written by one commit (one statement or one transaction).',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [],
  });

  register(registry: Registry): void {
    registry.registerMetric(this.executionsStarted);
    registry.registerMetric(this.executionsFinished);
    registry.registerMetric(this.nodeDuration);
    registry.registerMetric(this.leaseTakeovers);
    registry.registerMetric(this.sandboxAcquire);
    registry.registerMetric(this.decisionsPerCommit);
  }

  /** Node attempts a committed decision ended, with their node types. */
  nodeRunsEnded(runs: readonly NodeRunRow[], typeOf: (nodeId: string) => string | undefined): void {
    for (const r of runs) {
      const seconds = (Date.parse(r.ended_at) - Date.parse(r.started_at ?? r.ended_at)) / 1000;
      if (Number.isFinite(seconds))
        this.nodeDuration.observe(
          { node_type: typeOf(r.node_id) ?? 'unknown', status: r.status },
          Math.max(0, seconds),
        );
    }
  }
}
