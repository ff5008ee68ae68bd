/**
 * The impure half of the engine (DESIGN §4): claim → load → decide → persist (one transaction)
 * → perform. Nothing lives only in memory: every ready node is a row in `tasks` with a lease,
 * every decision is a compare-and-set on the execution's `rev`, so a killed process loses
 * nothing and several processes can share one PostgreSQL database.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Graph, GraphNode } from '../definition/index.ts';
import { parseDuration } from '../definition/index.ts';
import { AppError } from '../errors.ts';
import { ExpressionError, evaluate, render } from '../engine/expressions.ts';
import { decide, expressionContext, initialNodes } from '../engine/reducer.ts';
import { isTerminalExecution } from '../engine/status.ts';
import type { ExecutionStatus } from '../engine/status.ts';
import {
  type Command,
  type ArtifactInfo,
  type Cost,
  type DecideContext,
  type EngineEvent,
  type ExecutionState,
  type NodeState,
  type Snapshot,
  type TaskKind,
  type TriggerInfo,
  zeroCost,
} from '../engine/types.ts';
import { newId } from '../ids.ts';
import type { ExecContext, ExecResult, LlmProvider, NodeUsage } from '../nodes/executor.ts';
import { executors } from '../nodes/executors/index.ts';
import type { Clock } from '../services/clock.ts';
import type { Database, Db } from '../store/db.ts';
import * as dlqSql from '../store/dlq.ts';
import * as eventsSql from '../store/events.ts';
import * as executionsSql from '../store/executions.ts';
import type { ExecutionRow } from '../store/executions.ts';
import * as logsSql from '../store/logs.ts';
import * as nodeRunsSql from '../store/node-runs.ts';
import * as tasksSql from '../store/tasks.ts';
import type { TaskRow } from '../store/tasks.ts';
import { getWorkflow, findLiveWorkflowByName } from '../store/workflows.ts';
import { type RuntimeBroker, RuntimeUnavailableError } from '../runtime/broker.ts';
import type { Sandbox } from '../runtime/types.ts';
import { LogWriter } from './logs.ts';
import { PlanCache } from './plans.ts';

export interface EngineOptions {
  database: Database;
  clock: Clock;
  config: Config;
  /** Hands out the environments nodes run in. */
  broker: RuntimeBroker;
  /** Collects workspace files as artifacts. */
  artifacts: ArtifactCollector;
  /** Identifies this process's leases. */
  workerId?: string;
}

/** What the worker needs of the artifact service. */
export interface ArtifactCollector {
  collect(input: {
    executionId: string;
    workflowId: string;
    nodeId: string | null;
    hostWorkspace: string;
    globs: string[];
    retentionHours: number;
  }): Promise<{ collected: ArtifactInfo[]; skipped: { path: string; reason: string }[] }>;
}

export interface NewExecution {
  workflowId: string;
  version: number;
  workflowType: string;
  runtime: Record<string, unknown>;
  params: Record<string, unknown>;
  trigger: TriggerInfo;
  createdBy: string;
  idempotencyKey?: string;
  parent?: { executionId: string; nodeId: string };
  id?: string;
}

/** Raised inside a decision transaction when another writer decided first. */
class RevConflict extends Error {}

interface Inflight {
  task: TaskRow;
  controller: AbortController;
}

export type EngineListener = (executionId: string, snapshot: Snapshot) => void;
export type LogListener = (executionId: string) => void;

export class ExecutionEngine {
  readonly workerId: string;
  private readonly db: Database;
  private readonly clock: Clock;
  private readonly config: Config;
  private readonly plans = new PlanCache();
  private readonly broker: RuntimeBroker;
  private readonly artifacts: ArtifactCollector;
  private readonly inflight = new Map<string, Inflight>();
  private readonly listeners = new Set<EngineListener>();
  private readonly logListeners = new Set<LogListener>();
  private readonly providers: ReadonlyMap<string, LlmProvider>;
  private readonly logs: LogWriter;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private wakePending = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopListening: (() => Promise<void>) | undefined;

  constructor(opts: EngineOptions) {
    this.db = opts.database;
    this.broker = opts.broker;
    this.artifacts = opts.artifacts;
    this.clock = opts.clock;
    this.config = opts.config;
    this.workerId = opts.workerId ?? `w_${randomBytes(6).toString('hex')}`;
    this.providers = new Map(
      Object.entries(opts.config.llmProviders).map(([name, p]) => [
        name,
        {
          kind: p.kind,
          baseUrl: p.baseUrl,
          ...(p.apiKeyEnv !== undefined &&
            process.env[p.apiKeyEnv] !== undefined && { apiKey: process.env[p.apiKeyEnv] }),
        },
      ]),
    );
    this.logs = new LogWriter(
      this.db,
      opts.config.maxLogBytesPerNode,
      () => this.clock.now().toISOString(),
      (executionId) => {
        for (const l of this.logListeners) l(executionId);
      },
    );
  }

  /** Called after every committed decision (tests and streams wait on it). */
  onDecision(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after every committed batch of log lines of an execution (log streams wait on it). */
  onLogs(listener: LogListener): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  // --- creating executions -------------------------------------------------------------------

  /** Inserts a pending execution and its start task inside `trx`. */
  /**
   * Creates an execution in its own transaction. When this worker has room, the start task is
   * leased to it and started right after the commit (no claim round trip); otherwise any worker
   * claims it.
   */
  async createExecution(spec: NewExecution): Promise<ExecutionRow> {
    const lease = this.running && this.inflight.size < this.config.workerConcurrency;
    const { row, task } = await this.db.transaction(async (trx) => {
      const r = await this.insertExecution(trx, spec, lease);
      return {
        row: r,
        task: lease
          ? await trx
              .selectFrom('tasks')
              .selectAll()
              .where('id', '=', tasksSql.taskId(r.id, 'start', null, 0))
              .executeTakeFirst()
          : undefined,
      };
    });
    if (task) this.runClaimed(task);
    else this.wake();
    return row;
  }

  /** Inserts a pending execution and its start task inside `trx` (leased to this worker with `lease`). */
  async insertExecution(trx: Db, spec: NewExecution, lease = false): Promise<ExecutionRow> {
    const now = this.clock.now();
    const nowIso = now.toISOString();
    const workflowType = spec.workflowType;
    const vp = await this.plans.get(
      trx,
      spec.workflowId,
      spec.version,
      workflowType,
      idleTimeoutOf(spec.runtime),
    );
    const id = spec.id ?? newId('exec', now.getTime());
    const state: ExecutionState = {
      id,
      workflowId: spec.workflowId,
      version: spec.version,
      workflowType,
      status: 'pending',
      params: spec.params,
      vars: vp.variables,
      trigger: spec.trigger,
      createdAt: nowIso,
      startedAt: null,
      endedAt: null,
      error: null,
      cost: zeroCost(),
      turn: 0,
      conversation: [],
      awaitingTurn: false,
      parent: spec.parent ?? null,
      runtime: spec.runtime,
    };
    const nodes = initialNodes(vp.plan);
    const row: ExecutionRow = {
      id,
      workflow_id: spec.workflowId,
      version: spec.version,
      status: 'pending',
      trigger_type: spec.trigger.type,
      trigger_info: JSON.stringify(spec.trigger),
      params: JSON.stringify(spec.params),
      state: JSON.stringify(state),
      nodes: JSON.stringify(nodes),
      error: null,
      cost_usd: 0,
      rev: 0,
      last_seq: 1,
      idempotency_key: spec.idempotencyKey ?? null,
      parent_execution_id: spec.parent?.executionId ?? null,
      created_by: spec.createdBy,
      created_at: nowIso,
      started_at: null,
      ended_at: null,
      updated_at: nowIso,
    };
    await executionsSql.insertExecution(trx, row);
    await eventsSql.insertEvents(trx, [
      {
        execution_id: id,
        seq: 1,
        type: 'execution.status',
        node_id: null,
        data: JSON.stringify({ seq: 1, executionId: id, status: 'pending', at: nowIso }),
        at: nowIso,
      },
    ]);
    await this.db.announceEvents(trx, id);
    const start = this.taskRow(id, 'start', null, 0, nowIso);
    if (lease) {
      start.lease_owner = this.workerId;
      start.lease_expires_at = new Date(now.getTime() + this.config.leaseMs).toISOString();
    }
    await tasksSql.upsertTasks(trx, [start]);
    if (!lease) await this.db.announceWork(trx);
    return row;
  }

  // --- decisions -----------------------------------------------------------------------------

  /**
   * Decides `event` for an execution in one transaction and performs what follows. With
   * `task`, the task must still be leased to this worker and is deleted in the same
   * transaction (otherwise the result is stale and dropped). Returns the new snapshot, or
   * undefined when the execution does not exist or the task was lost.
   */
  async dispatch(
    executionId: string,
    event: EngineEvent,
    task?: TaskRow,
  ): Promise<Snapshot | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.db.transaction((trx) =>
          this.decideIn(trx, executionId, event, task),
        );
        if (!out) return undefined;
        this.afterCommit(executionId, out.snapshot, out.commands, out.direct);
        return out.snapshot;
      } catch (err) {
        if (err instanceof RevConflict && attempt < 20) continue;
        throw err;
      }
    }
  }

  private async decideIn(
    trx: Db,
    executionId: string,
    event: EngineEvent,
    task?: TaskRow,
  ): Promise<{ snapshot: Snapshot; commands: Command[]; direct: TaskRow[] } | undefined> {
    const row = await executionsSql.getExecutionForDecision(trx, this.db.dialect, executionId);
    if (!row) {
      if (task) await trx.deleteFrom('tasks').where('id', '=', task.id).execute();
      return undefined;
    }
    if (task && !(await tasksSql.completeTask(trx, task.id, this.workerId))) return undefined;
    const snapshot: Snapshot = {
      execution: JSON.parse(row.state) as ExecutionState,
      nodes: JSON.parse(row.nodes) as Record<string, NodeState>,
    };
    const vp = await this.plans.get(
      trx,
      row.workflow_id,
      row.version,
      snapshot.execution.workflowType,
      idleTimeoutOf(snapshot.execution.runtime),
    );
    const now = this.clock.now();
    const ctx: DecideContext = { now, random: Math.random, newId: (p) => newId(p, now.getTime()) };
    let { next, commands } = decide(vp.plan, snapshot, event, ctx);

    // Child workflows that cannot be resolved fail their node at once, in this same decision.
    for (let guard = 0; guard < 50; guard++) {
      const unresolved: Extract<EngineEvent, { type: 'child.finished' }>[] = [];
      for (const c of commands) {
        if (c.type !== 'startChild' || c.childExecutionId === '') continue;
        const ok = await this.startChild(trx, next.execution, c);
        if (typeof ok === 'string') {
          unresolved.push({
            type: 'child.finished',
            nodeId: c.nodeId,
            childExecutionId: c.childExecutionId,
            status: 'failed',
            outputs: {},
            error: { code: 'ERR_CHILD_START', message: ok },
            cost: zeroCost(),
          });
        }
        c.childExecutionId = '';
      }
      if (unresolved.length === 0) break;
      for (const ev of unresolved) {
        const more = decide(vp.plan, next, ev, ctx);
        next = more.next;
        commands = [...commands, ...more.commands];
      }
    }

    // Direct dispatch: due run tasks this worker has room for are leased to it right away and
    // marked running in the same decision, saving a claim round trip per node.
    const direct: TaskRow[] = [];
    const nowIso = now.toISOString();
    const leaseUntil = new Date(now.getTime() + this.config.leaseMs).toISOString();
    let room = this.running ? this.config.workerConcurrency - this.inflight.size : 0;
    const taskRows: TaskRow[] = [];
    for (const c of commands) {
      if (c.type !== 'enqueue') continue;
      const t = this.taskRow(executionId, c.kind, c.nodeId, c.attempt, c.availableAt, c.payload);
      // Due run and timer tasks (a 0 s wait) are leased to this worker when it has room.
      if (
        (c.kind === 'run' || c.kind === 'timer') &&
        room > 0 &&
        c.availableAt <= nowIso &&
        !isTerminalExecution(next.execution.status)
      ) {
        t.lease_owner = this.workerId;
        t.lease_expires_at = leaseUntil;
        direct.push(t);
        room--;
      }
      taskRows.push(t);
    }
    for (const t of direct) {
      if (t.kind !== 'run') continue;
      const more = decide(
        vp.plan,
        next,
        { type: 'node.started', nodeId: t.node_id!, attempt: t.attempt },
        ctx,
      );
      next = more.next;
      commands = [...commands, ...more.commands];
    }

    await this.persist(trx, row, snapshot, next, commands, taskRows, nowIso);
    return { snapshot: next, commands, direct };
  }

  private async persist(
    trx: Db,
    row: ExecutionRow,
    before: Snapshot,
    next: Snapshot,
    commands: Command[],
    taskRows: TaskRow[],
    nowIso: string,
  ): Promise<void> {
    const id = row.id;
    let seq = row.last_seq;
    const events: eventsSql.EventRow[] = [];
    const dlqRows: dlqSql.DlqRow[] = [];
    let clear = false;
    for (const c of commands) {
      switch (c.type) {
        case 'emit':
          seq++;
          events.push({
            execution_id: id,
            seq,
            type: c.event,
            node_id: c.nodeId ?? null,
            data: JSON.stringify({ seq, executionId: id, ...c.data, at: nowIso }),
            at: nowIso,
          });
          break;
        case 'dlq': {
          // Lines are flushed before a node's result is decided, so the tail is complete.
          const tail = await logsSql.tailLogs(trx, id, c.nodeId, 50);
          dlqRows.push({
            id: newId('dlq', this.clock.now().getTime()),
            execution_id: id,
            workflow_id: row.workflow_id,
            version: row.version,
            node_id: c.nodeId,
            attempts: c.attempts,
            error: JSON.stringify(c.error),
            log_tail: JSON.stringify(tail.map((l) => `[${l.stream}] ${l.text}`)),
            inputs: JSON.stringify(c.inputs),
            status: 'open',
            created_at: nowIso,
            resolved_at: null,
            resolved_by: null,
            note: null,
          });
          break;
        }
        case 'kill':
          await tasksSql.deleteNodeTasks(trx, id, c.nodeId);
          break;
        case 'cancelChild':
          taskRows.push(this.taskRow(c.childExecutionId, 'cancel', null, 0, nowIso));
          break;
        case 'notifyParent':
          taskRows.push(
            this.taskRow(
              c.parentExecutionId,
              'child',
              c.parentNodeId,
              0,
              nowIso,
              {
                childExecutionId: c.childExecutionId,
                status: c.status,
                outputs: c.outputs,
                error: c.error,
                cost: c.cost,
              },
              `${c.childExecutionId}`,
            ),
          );
          break;
        case 'clearTasks':
          clear = true;
          break;
        case 'enqueue':
        case 'startChild':
          break;
        default:
          assertUnreachable(c);
      }
    }
    // The compare-and-set comes first: a concurrent decider fails here, before writing anything.
    const e = next.execution;
    const ok = await executionsSql.updateExecutionCas(trx, id, row.rev, {
      status: e.status,
      state: JSON.stringify(e),
      nodes: JSON.stringify(next.nodes),
      error: e.error ? JSON.stringify(e.error) : null,
      cost_usd: e.cost.estimatedUsd,
      last_seq: seq,
      started_at: e.startedAt,
      ended_at: e.endedAt,
      updated_at: nowIso,
    });
    if (!ok) throw new RevConflict();
    if (clear) await tasksSql.deleteTasksOf(trx, id);
    // Tasks for other executions (children, parents) survive this execution's clear.
    await tasksSql.upsertTasks(
      trx,
      clear ? taskRows.filter((t) => t.execution_id !== id) : taskRows,
    );
    // Other processes' idle workers learn of tasks this worker did not lease itself.
    if (taskRows.some((t) => t.lease_owner === null)) await this.db.announceWork(trx);
    await eventsSql.insertEvents(trx, events);
    // Streams of every process re-read the table after their last seq when this commits.
    if (events.length > 0) await this.db.announceEvents(trx, id);
    await dlqSql.insertDlq(trx, dlqRows);
    await nodeRunsSql.insertNodeRuns(trx, this.finishedRuns(row, before, next));
  }

  /** One node_runs row per attempt that ended in this decision. */
  private finishedRuns(
    row: ExecutionRow,
    before: Snapshot,
    next: Snapshot,
  ): nodeRunsSql.NodeRunRow[] {
    const out: nodeRunsSql.NodeRunRow[] = [];
    for (const [nodeId, st] of Object.entries(next.nodes)) {
      const prev = before.nodes[nodeId];
      const ended =
        (st.status === 'succeeded' ||
          st.status === 'failed' ||
          st.status === 'cancelled' ||
          (st.status === 'queued' && st.error !== null)) &&
        st.attempt > 0;
      if (!ended || (prev && prev.status === st.status && prev.attempt === st.attempt)) continue;
      if (st.status === 'cancelled' && (prev?.status === 'pending' || prev?.status === undefined))
        continue;
      const attempt = st.status === 'queued' ? st.attempt - 1 : st.attempt;
      const delta = subtractCost(st.cost, prev?.cost ?? zeroCost());
      out.push({
        execution_id: row.id,
        node_id: nodeId,
        attempt,
        workflow_id: row.workflow_id,
        version: row.version,
        status: st.status === 'queued' ? 'failed' : st.status,
        started_at: st.startedAt,
        ended_at: st.endedAt ?? this.clock.now().toISOString(),
        error: st.error ? JSON.stringify(st.error) : null,
        compute_seconds: delta.computeSeconds,
        prompt_tokens: delta.tokens.prompt,
        completion_tokens: delta.tokens.completion,
        cost_usd: delta.estimatedUsd,
      });
    }
    return out;
  }

  private afterCommit(
    executionId: string,
    snapshot: Snapshot,
    commands: Command[],
    direct: TaskRow[],
  ): void {
    for (const c of commands) {
      if (c.type === 'kill') this.abortLocal(executionId, c.nodeId, 'cancelled');
    }
    if (isTerminalExecution(snapshot.execution.status)) {
      for (const f of this.inflight.values())
        if (f.task.execution_id === executionId) f.controller.abort('cancelled');
      this.logs.forget(executionId);
      // Once per end: later decisions on a finished execution (e.g. artifacts) do not release again.
      if (commands.some((c) => c.type === 'clearTasks'))
        void this.finishEnvironment(executionId, snapshot.execution);
    }
    for (const t of direct) this.runClaimed(t);
    if (
      commands.some(
        (c) => c.type === 'enqueue' || c.type === 'notifyParent' || c.type === 'cancelChild',
      )
    )
      this.wake();
    for (const l of this.listeners) l(executionId, snapshot);
  }

  private abortLocal(executionId: string, nodeId: string, reason: string): void {
    for (const f of this.inflight.values()) {
      if (f.task.execution_id === executionId && f.task.node_id === nodeId)
        f.controller.abort(reason);
    }
  }

  private async startChild(
    trx: Db,
    parent: ExecutionState,
    c: Extract<Command, { type: 'startChild' }>,
  ): Promise<true | string> {
    const wf =
      (await getWorkflow(trx, c.workflow)) ?? (await findLiveWorkflowByName(trx, c.workflow));
    if (!wf || wf.status === 'archived')
      return `workflow '${c.workflow}' was not found (or is archived)`;
    const version = c.version ?? wf.active_version ?? wf.latest_version;
    const exists = await trx
      .selectFrom('workflow_versions')
      .select('version')
      .where('workflow_id', '=', wf.id)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!exists) return `workflow '${c.workflow}' has no version ${version}`;
    await this.insertExecution(trx, {
      id: c.childExecutionId,
      workflowId: wf.id,
      version,
      workflowType: wf.type,
      runtime: { ...(JSON.parse(wf.runtime_config) as Record<string, unknown>) },
      params: c.params,
      trigger: {
        type: 'workflow',
        subject: `${parent.id}/${c.nodeId}`,
        actor: parent.trigger.actor ?? 'system',
      },
      createdBy: 'system',
      parent: { executionId: parent.id, nodeId: c.nodeId },
    });
    return true;
  }

  private taskRow(
    executionId: string,
    kind: TaskKind,
    nodeId: string | null,
    attempt: number,
    availableAt: string,
    payload?: unknown,
    suffix?: string,
  ): TaskRow {
    return {
      id: tasksSql.taskId(executionId, kind, nodeId, attempt) + (suffix ? `:${suffix}` : ''),
      execution_id: executionId,
      kind,
      node_id: nodeId,
      attempt,
      payload: payload === undefined ? null : JSON.stringify(payload),
      available_at: availableAt,
      lease_owner: null,
      lease_expires_at: null,
      created_at: this.clock.now().toISOString(),
    };
  }

  // --- the loop ------------------------------------------------------------------------------

  /** Starts claiming work. A SQLite server owns its database, so leases left by a killed predecessor are released at once. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.db.dialect === 'sqlite') await tasksSql.releaseLeases(this.db.db);
    this.heartbeatTimer = setInterval(
      () => void this.heartbeat(),
      Math.max(200, Math.floor(this.config.leaseMs / 3)),
    );
    this.heartbeatTimer.unref();
    this.stopListening = await this.db.listenForWork(() => this.wake());
    // Environments (containers, cgroups) of executions that ended while no server watched.
    void this.broker
      .reap(async (id) => {
        const row = await executionsSql.getExecution(this.db.db, id);
        return row !== undefined && !isTerminalExecution(row.status as ExecutionStatus);
      })
      .then((removed) => {
        if (removed.length > 0)
          process.stderr.write(`switchyard: reaped ${removed.length} leftover environments\n`);
      })
      .catch(() => undefined);
    this.loopDone = this.loop();
  }

  /** Stops claiming, aborts running attempts (their tasks are released for another worker) and waits for them. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.heartbeatTimer);
    await this.stopListening?.();
    this.wake();
    await this.loopDone;
    for (const f of this.inflight.values()) f.controller.abort('shutdown');
    for (let i = 0; i < 200 && this.inflight.size > 0; i++) await sleep(25);
    await this.logs.flushAll();
    await tasksSql.releaseLeases(this.db.db, this.workerId).catch(() => 0);
  }

  wake(): void {
    this.wakePending = true;
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const room = this.config.workerConcurrency - this.inflight.size;
      let claimed: TaskRow[] = [];
      this.wakePending = false;
      if (room > 0) {
        try {
          const now = this.clock.now();
          claimed = await this.db.transaction((trx) =>
            tasksSql.claimTasks(
              trx,
              this.db.dialect,
              this.workerId,
              now.toISOString(),
              new Date(now.getTime() + this.config.leaseMs).toISOString(),
              Math.min(room, 64),
            ),
          );
        } catch {
          claimed = [];
        }
      }
      for (const t of claimed) this.runClaimed(t);
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

  private runClaimed(task: TaskRow): void {
    const controller = new AbortController();
    this.inflight.set(task.id, { task, controller });
    void this.process(task, controller)
      .catch((err: unknown) => {
        process.stderr.write(
          `switchyard worker: task ${task.id} failed: ${(err as Error)?.stack ?? String(err)}\n`,
        );
      })
      .finally(() => {
        this.inflight.delete(task.id);
        this.wake();
      });
  }

  private async process(task: TaskRow, controller: AbortController): Promise<void> {
    const execId = task.execution_id;
    switch (task.kind as TaskKind) {
      case 'start':
        await this.dispatch(execId, { type: 'start' }, task);
        return;
      case 'timer':
        await this.dispatch(
          execId,
          { type: 'timer.fired', nodeId: task.node_id!, attempt: task.attempt },
          task,
        );
        return;
      case 'deadline':
        await this.dispatch(execId, { type: 'deadline' }, task);
        return;
      case 'idle':
        await this.dispatch(execId, { type: 'idle', turn: task.attempt }, task);
        return;
      case 'cancel':
        await this.dispatch(execId, { type: 'cancel', actor: 'parent' }, task);
        return;
      case 'child': {
        const p = JSON.parse(task.payload ?? '{}') as {
          childExecutionId: string;
          status: ExecutionStatus;
          outputs: Record<string, unknown>;
          error: null;
          cost: Cost;
        };
        await this.dispatch(execId, { type: 'child.finished', nodeId: task.node_id!, ...p }, task);
        return;
      }
      case 'run':
        await this.runNode(task, controller);
        return;
      default:
        await this.db.db.deleteFrom('tasks').where('id', '=', task.id).execute();
    }
  }

  private async runNode(task: TaskRow, controller: AbortController): Promise<void> {
    const execId = task.execution_id;
    const nodeId = task.node_id!;
    const row = await executionsSql.getExecution(this.db.db, execId);
    if (!row || isTerminalExecution(row.status as ExecutionStatus)) {
      await this.db.db.deleteFrom('tasks').where('id', '=', task.id).execute();
      return;
    }
    let snapshot: Snapshot = {
      execution: JSON.parse(row.state) as ExecutionState,
      nodes: JSON.parse(row.nodes) as Record<string, NodeState>,
    };
    const st = snapshot.nodes[nodeId];
    if (!st || st.attempt !== task.attempt || (st.status !== 'queued' && st.status !== 'running')) {
      await this.db.db
        .deleteFrom('tasks')
        .where('id', '=', task.id)
        .where('lease_owner', '=', this.workerId)
        .execute();
      return;
    }
    if (st.status === 'queued') {
      const s = await this.dispatch(execId, {
        type: 'node.started',
        nodeId,
        attempt: task.attempt,
      });
      if (!s || s.nodes[nodeId]?.status !== 'running') return;
      snapshot = s;
    }
    const vp = await this.plans.get(
      this.db.db,
      row.workflow_id,
      row.version,
      snapshot.execution.workflowType,
      idleTimeoutOf(snapshot.execution.runtime),
    );
    const def = vp.plan.nodes.get(nodeId);
    if (!def) return;
    const result = await this.execute(snapshot, def, task, controller);
    if (controller.signal.aborted && controller.signal.reason === 'shutdown') return; // another worker re-runs it
    const artifacts =
      result.status === 'succeeded' && Array.isArray(def.artifacts) && def.artifacts.length > 0
        ? await this.collect(snapshot.execution, def.id, def.artifacts as string[])
        : undefined;
    await this.logs.flush(execId);
    const cost = this.price(result.usage, snapshot.execution.runtime);
    await this.dispatch(
      execId,
      {
        type: 'node.finished',
        nodeId,
        attempt: task.attempt,
        outcome:
          result.status === 'succeeded'
            ? {
                status: 'succeeded',
                outputs: result.outputs,
                cost,
                ...(artifacts && { artifacts }),
              }
            : {
                status: 'failed',
                error: result.error,
                ...(result.outputs && { outputs: result.outputs }),
                cost,
              },
      },
      task,
    );
  }

  /** Builds the executor context and runs the node's executor; never throws. */
  private async execute(
    snapshot: Snapshot,
    def: GraphNode,
    task: TaskRow,
    controller: AbortController,
  ): Promise<ExecResult> {
    const e = snapshot.execution;
    const exprCtx = expressionContext(snapshot);
    const executor = executors.get(def.type);
    if (!executor)
      return {
        status: 'failed',
        error: {
          code: 'ERR_NODE_TYPE',
          message: `No executor for node type ${def.type}.`,
          retryable: false,
        },
      };
    let sandbox: Sandbox;
    try {
      sandbox = await this.sandboxOf(e);
    } catch (err) {
      // A missing image (ERR_NODE_IMAGE) will not appear by retrying; an engine that is down may.
      const code = (err as { code?: unknown }).code;
      const image = code === 'ERR_NODE_IMAGE';
      return {
        status: 'failed',
        error: {
          code: image
            ? 'ERR_NODE_IMAGE'
            : err instanceof RuntimeUnavailableError
              ? 'ERR_RUNTIME_UNAVAILABLE'
              : 'ERR_RUNTIME',
          message: `No environment for the node: ${(err as Error).message}`,
          retryable: !image,
        },
      };
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.vars))
      env[k] = typeof v === 'string' ? v : JSON.stringify(v);
    for (const [k, v] of Object.entries(e.params))
      env[`PARAM_${k.toUpperCase()}`] = typeof v === 'string' ? v : JSON.stringify(v);
    Object.assign(env, {
      SWITCHYARD_EXECUTION_ID: e.id,
      SWITCHYARD_WORKFLOW_ID: e.workflowId,
      SWITCHYARD_NODE_ID: def.id,
      SWITCHYARD_ATTEMPT: String(task.attempt),
      SWITCHYARD_WORKER_ID: this.workerId,
    });
    const log = (stream: 'stdout' | 'stderr' | 'system', line: string) =>
      this.logs.append(e.id, def.id, task.attempt, stream, line);
    const first = renderOrFail(def, exprCtx);
    if ('failed' in first) return first.failed;
    const node = first.node;
    const timeoutMs = typeof def.timeout === 'string' ? parseDuration(def.timeout) : undefined;
    const providers = this.providers;
    const ctx: ExecContext = {
      executionId: e.id,
      workflowId: e.workflowId,
      nodeId: def.id,
      attempt: task.attempt,
      node,
      workspace: sandbox.hostWorkspace,
      sandbox,
      env,
      ...(timeoutMs !== undefined && { timeoutMs }),
      signal: controller.signal,
      log,
      evaluate: (expression, extra) => evaluate(expression, { ...exprCtx, ...extra }),
      render: (value, extra) => render(value, { ...exprCtx, ...extra }),
      async runInline(inline, extra) {
        const inner = executors.get(inline.type);
        if (inline.type === 'noop') return { status: 'succeeded', outputs: {} };
        if (!inner)
          return {
            status: 'failed',
            error: {
              code: 'ERR_NODE_TYPE',
              message: `Node type ${inline.type} cannot run inline.`,
              retryable: false,
            },
          };
        const renderedInline = renderOrFail(inline, { ...exprCtx, ...extra });
        if ('failed' in renderedInline) return renderedInline.failed;
        const rendered = renderedInline.node;
        const t = typeof inline.timeout === 'string' ? parseDuration(inline.timeout) : undefined;
        return inner({
          ...ctx,
          node: rendered,
          nodeId: `${def.id}.${inline.id}`,
          ...(t !== undefined && { timeoutMs: t }),
          log: (s, l) => log(s, `[${inline.id}] ${l}`),
        });
      },
      providers,
      killGraceMs: this.config.killGraceMs,
    };
    try {
      return await executor(ctx);
    } catch (err) {
      return {
        status: 'failed',
        error: {
          code: 'ERR_NODE_CRASH',
          message: `The executor failed: ${(err as Error)?.message ?? String(err)}`,
          retryable: true,
        },
      };
    }
  }

  /** The execution's environment; the first acquisition is recorded on the execution. */
  private async sandboxOf(e: ExecutionState): Promise<Sandbox> {
    const sandbox = await this.broker.sandboxFor({
      executionId: e.id,
      workflowId: e.workflowId,
      config: e.runtime,
    });
    if (!e.environment || e.environment.isolation !== sandbox.isolation) {
      const environment = {
        runtime: sandbox.runtime,
        isolation: sandbox.isolation,
        unenforced: [...sandbox.unenforced],
      };
      e.environment = environment;
      await this.dispatch(e.id, { type: 'environment', environment }).catch(() => undefined);
    }
    return sandbox;
  }

  /** Collects files matching `globs` from the execution's workspace; never throws. */
  private async collect(
    e: ExecutionState,
    nodeId: string | null,
    globs: string[],
  ): Promise<ArtifactInfo[]> {
    try {
      const hostWorkspace = this.broker.hostWorkspaceOf({
        executionId: e.id,
        workflowId: e.workflowId,
        config: e.runtime,
      });
      const retention = Number(e.runtime.retentionHours ?? 24);
      const out = await this.artifacts.collect({
        executionId: e.id,
        workflowId: e.workflowId,
        nodeId,
        hostWorkspace,
        globs,
        retentionHours: Number.isFinite(retention) && retention > 0 ? retention : 24,
      });
      for (const s of out.skipped)
        if (nodeId)
          this.logs.append(e.id, nodeId, 0, 'system', `artifact ${s.path} not kept: ${s.reason}`);
      return out.collected;
    } catch (err) {
      process.stderr.write(
        `switchyard: collecting artifacts of ${e.id} failed: ${(err as Error).message}\n`,
      );
      return [];
    }
  }

  /**
   * After an execution ended: the workflow-level artifacts are collected, then the environment
   * is released (a per-execution sandbox is destroyed).
   */
  private async finishEnvironment(executionId: string, e: ExecutionState): Promise<void> {
    // Detached at once: a retry that reopens the execution gets a fresh sandbox, never this one.
    const released = this.broker.release(executionId).catch((err: unknown) => {
      process.stderr.write(
        `switchyard: releasing the environment of ${executionId} failed: ${(err as Error).message}\n`,
      );
    });
    // Files stay in the host workspace after the sandbox is gone, so collection can follow.
    const globs = Array.isArray(e.runtime.artifacts) ? (e.runtime.artifacts as string[]) : [];
    if (e.environment && globs.length > 0) {
      const artifacts = await this.collect(e, null, globs);
      if (artifacts.length > 0)
        await this.dispatch(executionId, { type: 'artifacts.collected', artifacts }).catch(
          () => undefined,
        );
    }
    await released;
  }

  private price(usage: NodeUsage | undefined, runtime: Record<string, unknown>): Cost {
    if (!usage) return zeroCost();
    const cpu = cpuOf(runtime.cpu);
    const computeSeconds = Math.round((usage.runtimeSeconds ?? 0) * cpu * 1000) / 1000;
    const prompt = usage.promptTokens ?? 0;
    const completion = usage.completionTokens ?? 0;
    // Tokens are priced per model; fan-out nodes report a breakdown when they used several.
    const perModel =
      usage.models ??
      (usage.model !== undefined
        ? { [usage.model]: { promptTokens: prompt, completionTokens: completion } }
        : {});
    let tokenUsd = 0;
    for (const [model, u] of Object.entries(perModel)) {
      const p = this.config.modelPrices[model];
      if (p) tokenUsd += (u.promptTokens * p.prompt + u.completionTokens * p.completion) / 1e6;
    }
    const usd = computeSeconds * this.config.cpuSecondPriceUsd + tokenUsd;
    return {
      computeSeconds,
      tokens: { prompt, completion },
      estimatedUsd: Math.round(usd * 1e6) / 1e6,
    };
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

  /** Re-reads an execution's graph (for services). */
  async graphOf(workflowId: string, version: number, workflowType: string): Promise<Graph> {
    return (await this.plans.get(this.db.db, workflowId, version, workflowType)).graph;
  }
}

/**
 * Renders a node's `${{ }}` templates, except the fields its executor evaluates itself per item
 * or iteration (map `items`, loop `until`, and the nested templates of map, loop and parallel).
 */
function renderNode(def: GraphNode, ctx: Record<string, unknown>): GraphNode {
  const keep = deferredFields[def.type] ?? alwaysDeferred;
  const rest: Record<string, unknown> = {};
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(def)) (keep.has(k) ? kept : rest)[k] = v;
  return { ...render(rest, ctx), ...kept } as GraphNode;
}

/** The rendered node, or the failed result of an expression that could not be evaluated. */
function renderOrFail(
  def: GraphNode,
  ctx: Record<string, unknown>,
): { node: GraphNode } | { failed: ExecResult } {
  try {
    return { node: renderNode(def, ctx) };
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    return {
      failed: {
        status: 'failed',
        error: { code: 'ERR_EXPRESSION', message: err.message, retryable: false },
      },
    };
  }
}

/** `if` was decided by the engine before the node started. */
const alwaysDeferred: ReadonlySet<string> = new Set(['if']);
const deferredFields: Record<string, ReadonlySet<string>> = {
  map: new Set(['if', 'items', 'node']),
  loop: new Set(['if', 'until', 'node']),
  parallel: new Set(['if', 'branches']),
};

/** "2" → 2, "500m" → 0.5; unknown → 1. */
export function cpuOf(value: unknown): number {
  if (typeof value === 'number' && value > 0) return value;
  if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(value.trim());
    if (m) return m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
  }
  return 1;
}

function idleTimeoutOf(runtime: Record<string, unknown>): string | undefined {
  return typeof runtime.idleTimeout === 'string' ? runtime.idleTimeout : undefined;
}

function subtractCost(a: Cost, b: Cost): Cost {
  return {
    estimatedUsd: Math.max(0, Math.round((a.estimatedUsd - b.estimatedUsd) * 1e6) / 1e6),
    tokens: {
      prompt: Math.max(0, a.tokens.prompt - b.tokens.prompt),
      completion: Math.max(0, a.tokens.completion - b.tokens.completion),
    },
    computeSeconds: Math.max(0, Math.round((a.computeSeconds - b.computeSeconds) * 1000) / 1000),
  };
}

function assertUnreachable(x: never): never {
  throw new AppError('ERR_INTERNAL', { message: `unhandled command ${JSON.stringify(x)}` });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
