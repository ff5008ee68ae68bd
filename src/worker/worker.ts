/**
 * The impure half of the engine (DESIGN §4): claim → load → decide → persist (one transaction)
 * → perform. Nothing lives only in memory: every ready node is a row in `tasks` with a lease,
 * every decision is a compare-and-set on the execution's `rev`, so a killed process loses
 * nothing and several processes can share one PostgreSQL database.
 *
 * This file is the loop: claims, leases and their heartbeat, start, and stop (which drains).
 * The parts are `decision.ts` (load → decide → persist), `task-events.ts` (a task → its engine event),
 * `decision-rows.ts` (a decision → its rows), `create-execution.ts`, `run-node.ts`,
 * `secrets.ts` and `environment.ts`.
 */
import { randomBytes } from 'node:crypto';
import { type Logger, pino } from 'pino';
import type { Config } from '../config.ts';
import type { Graph } from '../definition/index.ts';
import type { EgressClients } from '../egress/dispatcher.ts';
import { isTerminalExecution } from '../engine/status.ts';
import type { ExecutionStatus } from '../engine/status.ts';
import type { EngineEvent, Snapshot } from '../engine/types.ts';
import { type NodeRegistry, builtinNodeRegistry } from '../nodes/registry.ts';
import type { RuntimeBroker } from '../runtime/broker.ts';
import type { Clock } from '../clock.ts';
import type { ExecutionTokenService } from '../services/execution-tokens.ts';
import { isUnavailable } from '../errors.ts';
import type { Database } from '../store/db.ts';
import type { EventRow } from '../store/events.ts';
import type { PlatformEventRow } from '../store/platform-events.ts';
import * as executionsSql from '../store/executions.ts';
import type { ExecutionRow } from '../store/executions.ts';
import * as tasksSql from '../store/tasks.ts';
import type { TaskRow } from '../store/tasks.ts';
import type { ArtifactCollector, SecretResolver, WorkerContext } from './context.ts';
import { DecisionWriter } from './decision-writer.ts';
import { EngineMetrics } from './engine-metrics.ts';
import { DecisionQueue } from './decision-queue.ts';
import { ExecutionWatch } from './execution-watch.ts';
import { SnapshotCache } from './snapshots.ts';
import { type NewExecution, createExecution } from './create-execution.ts';
import { decideWaiting, dispatch } from './decision.ts';
import { llmProvidersOf } from './llm-providers.ts';
import { LogWriter } from './logs.ts';
import { commitUntilDone } from './commit-retry.ts';
import { PlanCache } from './plans.ts';
import { runNode } from './run-node.ts';
import { taskEvent } from './task-events.ts';
import { keepsWorkspace } from './workspace-retention.ts';

export type { NewExecution } from './create-execution.ts';

export interface WorkerOptions {
  /** The worker's own connections (its decisions, claims, heartbeats, logs). */
  database: Database;
  /**
   * Where executions started through the API are written (default `database`): on PostgreSQL a
   * pool of their own, so a `POST /run` does not queue behind the worker's writes.
   */
  apiDatabase?: Database;
  clock: Clock;
  config: Config;
  /** Hands out the environments nodes run in. */
  broker: RuntimeBroker;
  /** Collects workspace files as artifacts. */
  artifacts: ArtifactCollector;
  /** The HTTP clients of `http` and `llm` nodes (the caller closes them after `stop`). */
  egress: EgressClients;
  /** Opens the secrets a node names when it starts. */
  secrets: SecretResolver;
  /** Execution tokens of the attempts that run processes (and their gateway usage). */
  executionTokens: ExecutionTokenService;
  /** Host path of this server's LLM gateway socket; none: commands get no gateway. */
  gatewaySocket?: string;
  /** Identifies this process's leases. */
  workerId?: string;
  /** The node types this worker runs (default: the built-in ones). */
  nodeTypes?: NodeRegistry;
  /** Where the worker reports what no execution records (the server's logger); default silent. */
  logger?: Logger;
}

interface Inflight {
  task: TaskRow;
  controller: AbortController;
  /** Settles when the task's work (and its decision) is over. */
  done: Promise<void>;
}

export interface WorkerStats {
  /** Claims of due tasks that failed since start (each is retried on the next poll). */
  claimFailures: number;
}

export type DecisionListener = (
  executionId: string,
  snapshot: Snapshot,
  events: readonly EventRow[],
) => void;
export type LogListener = (executionId: string) => void;
export type EndListener = (event: PlatformEventRow) => void;

export class Worker {
  readonly workerId: string;
  /** The engine's Prometheus metrics (registered by the API's `/metrics`). */
  readonly metrics = new EngineMetrics();
  private readonly db: Database;
  private readonly apiDatabase: Database;
  private readonly clock: Clock;
  private readonly config: Config;
  private readonly broker: RuntimeBroker;
  private readonly ctx: WorkerContext;
  private readonly inflight = new Map<string, Inflight>();
  private readonly listeners = new Set<DecisionListener>();
  private readonly logListeners = new Set<LogListener>();
  private readonly endListeners = new Set<EndListener>();
  private readonly logs: LogWriter;
  private readonly log: Logger;
  private readonly watch: ExecutionWatch;
  /** Between start() and the end of stop(): decisions are retried while the database is away. */
  private running = false;
  /** Claims that failed (the database was away, or a bug), in all and in a row. */
  private claimFailures = 0;
  private claimFailuresInARow = 0;
  /** Between start() and the beginning of stop(): new tasks are claimed. */
  private claiming = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private wakePending = false;
  /**
   * Claimable work may be waiting for a free slot: work was announced since the last claim, or
   * the last claim filled every slot it asked for. A finished task wakes the loop only then;
   * work that merely becomes due (timers, expired leases) is found by the poll.
   */
  private backlog = true;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopListening: (() => Promise<void>) | undefined;

  constructor(opts: WorkerOptions) {
    this.db = opts.database;
    this.apiDatabase = opts.apiDatabase ?? opts.database;
    this.broker = opts.broker;
    this.clock = opts.clock;
    this.config = opts.config;
    this.workerId = opts.workerId ?? `w_${randomBytes(6).toString('hex')}`;
    const nodeTypes = opts.nodeTypes ?? builtinNodeRegistry;
    this.log = opts.logger ?? pino({ level: 'silent' });
    const providers = llmProvidersOf(opts.config.llmProviders);
    this.watch = new ExecutionWatch(this.db, this.log, this.workerId);
    this.logs = new LogWriter(
      this.db,
      opts.config.maxLogBytesPerNode,
      () => this.clock.now().toISOString(),
      this.log,
      (executionId) => {
        for (const l of this.logListeners) l(executionId);
      },
      this.workerId,
    );
    this.ctx = {
      workerId: this.workerId,
      db: this.db,
      clock: this.clock,
      config: this.config,
      plans: new PlanCache(nodeTypes),
      snapshots: new SnapshotCache(),
      decisions: new DecisionQueue((id, batch) => decideWaiting(this.ctx, id, batch)),
      writer: new DecisionWriter(this.db, this.workerId, (n) =>
        this.metrics.decisionsPerCommit.observe(n),
      ),
      metrics: this.metrics,
      nodeTypes,
      broker: this.broker,
      artifacts: opts.artifacts,
      logs: this.logs,
      log: this.log,
      providers,
      egress: opts.egress,
      secrets: opts.secrets,
      executionTokens: opts.executionTokens,
      gatewaySocket: opts.gatewaySocket,
      watch: this.watch,
      room: () => (this.claiming ? this.config.workerConcurrency - this.inflight.size : 0),
      runClaimed: (task, decided) => this.runClaimed(task, false, decided),
      wake: () => this.wake(),
      abort: (executionId, nodeId, reason) => {
        for (const f of this.inflight.values())
          if (f.task.execution_id === executionId && (nodeId === null || f.task.node_id === nodeId))
            f.controller.abort(reason);
      },
      attemptsStopped: async (executionId) => {
        const runs = [...this.inflight.values()].filter(
          (f) => f.task.execution_id === executionId && f.task.kind === 'run',
        );
        await Promise.all(runs.map((f) => f.done));
      },
      dispatch: (executionId, event, task, lines) =>
        dispatch(this.ctx, executionId, event, task, lines),
      executionEnded: (event) => {
        for (const l of this.endListeners) l(event);
      },
      decided: (executionId, snapshot, events) => {
        this.watch.changed(executionId);
        for (const l of this.listeners) l(executionId, snapshot, events);
      },
      keepCommitting: (fn, what) =>
        commitUntilDone(fn, {
          keepTrying: () => this.running,
          onRetry: (err, tries) => {
            if (tries === 1 && what)
              this.log.warn(
                { err },
                `database unavailable (${(err as Error).message}); retrying ${what} until it commits`,
              );
          },
        }),
    };
  }

  /** Called after every committed decision (tests and streams wait on it). */
  onDecision(listener: DecisionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after every committed batch of log lines of an execution (log streams wait on it). */
  /** Called after a decision that ended an execution committed, with its `execution.*` event. */
  onExecutionEnded(listener: EndListener): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  onLogs(listener: LogListener): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  /** Creates an execution in its own transaction (see create-execution.ts). */
  createExecution(spec: NewExecution): Promise<ExecutionRow> {
    return createExecution(this.ctx, spec, this.apiDatabase);
  }

  /**
   * Decides `event` for an execution in one transaction and performs what follows (see
   * decision.ts); undefined when the execution does not exist or the task was lost.
   */
  dispatch(executionId: string, event: EngineEvent, task?: TaskRow): Promise<Snapshot | undefined> {
    return dispatch(this.ctx, executionId, event, task);
  }

  /** Re-reads an execution's graph (for services). */
  async graphOf(workflowId: string, version: number, workflowType: string): Promise<Graph> {
    return (await this.ctx.plans.get(this.db.db, workflowId, version, workflowType)).graph;
  }

  // --- the loop ------------------------------------------------------------------------------

  /** Starts claiming work. A SQLite server owns its database, so leases left by a killed predecessor are released at once. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.claiming = true;
    if (this.db.dialect === 'sqlite') await tasksSql.releaseLeases(this.db.db);
    this.heartbeatTimer = setInterval(
      () => void this.heartbeat(),
      Math.max(200, Math.floor(this.config.leaseMs / 3)),
    );
    this.heartbeatTimer.unref();
    this.stopListening = await this.db.listenForWork(() => this.wake());
    // Environments (containers, cgroups) and workspaces of executions that ended while no
    // server watched.
    void this.broker
      .reap(
        async (id) => {
          const row = await executionsSql.getExecution(this.db.db, id);
          return row !== undefined && !isTerminalExecution(row.status as ExecutionStatus);
        },
        (id) => this.keepsWorkspace(id),
      )
      .then((removed) => {
        if (removed.length > 0)
          this.log.info({ removed }, `reaped ${removed.length} leftover environments`);
      })
      .catch((err: unknown) => this.log.error({ err }, 'reaping leftover environments failed'));
    this.loopDone = this.loop();
  }

  /** Removes the workspaces of deleted executions (their rows are gone). */
  async removeWorkspaces(executionIds: string[]): Promise<void> {
    for (const id of executionIds) await this.broker.removeWorkspace(id);
  }

  /** Removes the workspaces whose retention ended (workspace-retention.ts); returns them. */
  reapWorkspaces(): Promise<string[]> {
    return this.broker.reapWorkspaces((id) => this.keepsWorkspace(id));
  }

  private async keepsWorkspace(executionId: string): Promise<boolean> {
    const row = await executionsSql.getExecution(this.db.db, executionId);
    return keepsWorkspace(row, this.ctx.clock.now());
  }

  /**
   * Drains and stops: no task is claimed any more; running attempts may finish for up to
   * `drainTimeoutMs` (their results commit as usual, their leases are kept alive); the rest are
   * aborted (their processes stopped with `killGraceMs`) and their tasks released, so the next
   * server runs them again.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.claiming = false;
    await this.stopListening?.();
    this.wake();
    await this.loopDone;
    await this.drained(this.config.drainTimeoutMs);
    this.running = false;
    for (const f of this.inflight.values()) f.controller.abort('shutdown');
    await this.drained(this.config.killGraceMs + 5000);
    await this.watch.close();
    clearInterval(this.heartbeatTimer);
    await this.logs.flushAll();
    await tasksSql.releaseLeases(this.db.db, this.workerId).catch(() => 0);
  }

  /** Settles when nothing runs any more, or after `ms`. */
  private async drained(ms: number): Promise<void> {
    if (this.inflight.size === 0 || ms <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    // Tasks that end start no others (nothing is claimed), but a decision may still be running one directly.
    const all = async () => {
      while (this.inflight.size > 0)
        await Promise.all([...this.inflight.values()].map((f) => f.done));
    };
    await Promise.race([all(), expired]);
    clearTimeout(timer);
  }

  /** Counters for the metrics endpoint. */
  stats(): WorkerStats {
    return { claimFailures: this.claimFailures };
  }

  wake(): void {
    this.backlog = true;
    this.resume();
  }

  private resume(): void {
    this.wakePending = true;
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    while (this.claiming) {
      const room = this.config.workerConcurrency - this.inflight.size;
      let claimed: TaskRow[] = [];
      this.wakePending = false;
      if (room > 0) {
        try {
          const now = this.clock.now();
          // One statement, atomic on its own: no transaction around it.
          claimed = await tasksSql.claimTasks(
            this.db.db,
            this.db.dialect,
            this.workerId,
            now.toISOString(),
            new Date(now.getTime() + this.config.leaseMs).toISOString(),
            Math.min(room, 64),
          );
          this.claimFailuresInARow = 0;
          // Work announced while the claim ran is claimed by the next round.
          if (!this.wakePending) this.backlog = claimed.length === Math.min(room, 64);
        } catch (err) {
          // The loop polls again; an outage is logged when it starts and then once a minute or so,
          // anything else every time (it is a bug).
          claimed = [];
          this.claimFailures++;
          const inARow = ++this.claimFailuresInARow;
          if (!isUnavailable(err) || inARow === 1 || inARow % 100 === 0)
            this.log.warn(
              { err, failuresInARow: inARow },
              `claiming tasks failed (${inARow} in a row): ${(err as Error).message}`,
            );
        }
      }
      // A task still running here whose lease ran out (an outage longer than the lease) was just
      // re-leased to this worker by the claim: the run in progress goes on, none starts twice.
      for (const t of claimed) if (!this.inflight.has(t.id)) this.runClaimed(t, true);
      if (claimed.length > 0 && claimed.length === Math.min(room, 64)) continue;
      if (this.wakePending) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.config.pollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** `fromQueue`: claimed by the loop (not leased in a decision of this worker). */
  private runClaimed(task: TaskRow, fromQueue = false, decided?: Snapshot): void {
    const controller = new AbortController();
    // A task other than `run` is one decision, so all of it is tried again while the database is
    // unavailable; a `run` task retries its steps itself (the node must not run twice).
    const done = (
      task.kind === 'run'
        ? this.process(task, controller, fromQueue, decided)
        : this.ctx.keepCommitting(() => this.process(task, controller, fromQueue))
    )
      .catch((err: unknown) => {
        this.log.error({ err, taskId: task.id }, `task ${task.id} failed`);
      })
      .finally(() => {
        this.inflight.delete(task.id);
        if (this.backlog) this.resume();
      });
    this.inflight.set(task.id, { task, controller, done });
  }

  private async process(
    task: TaskRow,
    controller: AbortController,
    fromQueue: boolean,
    decided?: Snapshot,
  ): Promise<void> {
    const event = taskEvent(task);
    if (event === 'run') await runNode(this.ctx, task, controller, fromQueue, decided);
    else if (event) await this.dispatch(task.execution_id, event, task);
    else await tasksSql.deleteTask(this.db.db, task.id);
  }

  private async heartbeat(): Promise<void> {
    if (this.inflight.size === 0) return;
    const ids = [...this.inflight.keys()];
    try {
      const held = await tasksSql.heartbeat(
        this.db.db,
        this.workerId,
        ids,
        new Date(this.clock.now().getTime() + this.config.leaseMs).toISOString(),
      );
      // A task that is gone was cancelled or taken over: stop working on it.
      for (const id of ids) if (!held.has(id)) this.inflight.get(id)?.controller.abort('cancelled');
    } catch {
      // the next beat tries again; the lease is long enough to miss one
    }
  }
}
