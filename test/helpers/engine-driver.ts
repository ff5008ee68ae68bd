/**
 * Drives the pure reducer (`decide`) to quiescence over a YAML fixture, the way the worker loop
 * would, with no database and no real time: a fake clock that jumps to the next due task, a seeded
 * random, an id counter, a virtual task queue fed by `enqueue` commands, and node outcomes
 * scripted per node and attempt. Tasks become events, and finished attempts `node.finished`,
 * through the worker's own pure mapping (src/worker/task-events.ts), so the fixtures exercise the
 * worker's task handling, not a copy of it. Child workflows run in nested drivers. Control events (cancel,
 * approval, followup, retry, dlq.retry) are injected in order, each when its condition holds.
 *
 * Every decision is checked against the engine's invariants (transition table, no double
 * success without a reset, no active node in a terminal execution, events agree with the
 * snapshot, decide is deterministic and leaves its input alone); a violation throws.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type WorkflowDefinition, defaultDefinitionLimits } from '../../src/definition/index.ts';
import { parseWorkflowYaml } from '../helpers/definition.ts';
import { type Plan, compilePlan } from '../../src/engine/plan.ts';
import { initialNodes } from '../../src/engine/draft.ts';
import { decide } from '../../src/engine/reducer.ts';
import {
  type ExecutionStatus,
  type NodeStatus,
  canTransitionExecution,
  canTransitionNode,
  isActiveNode,
  isTerminalExecution,
} from '../../src/engine/status.ts';
import type {
  Command,
  DecideContext,
  EngineEvent,
  NodeOutcome,
  Snapshot,
  StreamEventType,
  TaskKind,
} from '../../src/engine/types.ts';
import { zeroCost } from '../../src/engine/cost.ts';
import type { ExecResult, NodeError } from '../../src/nodes/executor.ts';
import { builtinNodeRegistry } from '../../src/nodes/registry.ts';
import {
  type ChildPayload,
  childStartFailed,
  finishedEvent,
  runStep,
  taskEvent,
} from '../../src/worker/task-events.ts';

export const engineFixturesDir = fileURLToPath(
  new URL('../fixtures/workflows/engine/', import.meta.url),
);

export function loadEngineFixture(name: string): WorkflowDefinition {
  const text = readFileSync(`${engineFixturesDir}${name}.yaml`, 'utf8');
  return parseWorkflowYaml(text, defaultDefinitionLimits);
}

// --- scripts ---------------------------------------------------------------------------------

/**
 * What one attempt of an executor-run node does. `succeed` (no outputs), `fail` (retryable
 * ERR_NODE_EXIT, exit code 1), `fatal` (the same, not retryable), `hang` (never finishes on its
 * own), or a full outcome with an optional virtual run time.
 */
export type ScriptedRun =
  'succeed' | 'fail' | 'fatal' | 'hang' | (Partial<NodeOutcome> & { durationMs?: number });

/** Per node: one run for every attempt, or a list indexed by attempt (1-based); past its end, `succeed`. */
export type Script = Record<string, ScriptedRun | ScriptedRun[]>;

export const exitError = (retryable = true): NodeError => ({
  code: 'ERR_NODE_EXIT',
  message: 'exit status 1',
  exitCode: 1,
  retryable,
});

/** The run a script gives a node's attempt. */
export function scriptedRun(script: Script, nodeId: string, attempt: number): ScriptedRun {
  const entry = script[nodeId];
  if (entry === undefined) return 'succeed';
  if (!Array.isArray(entry)) return entry;
  return entry[attempt - 1] ?? 'succeed';
}

function outcomeOf(run: Exclude<ScriptedRun, 'hang'>): {
  outcome: NodeOutcome;
  durationMs: number;
} {
  switch (run) {
    case 'succeed':
      return { outcome: { status: 'succeeded', outputs: {} }, durationMs: 0 };
    case 'fail':
      return { outcome: { status: 'failed', error: exitError(true) }, durationMs: 0 };
    case 'fatal':
      return { outcome: { status: 'failed', error: exitError(false) }, durationMs: 0 };
    default: {
      const { durationMs = 0, ...rest } = run;
      const status = rest.status ?? (rest.error ? 'failed' : 'succeeded');
      const outcome: NodeOutcome = { ...rest, status };
      if (status === 'failed' && !outcome.error) outcome.error = exitError(true);
      return { outcome, durationMs };
    }
  }
}

// --- injections ------------------------------------------------------------------------------

export interface DriverView {
  snapshot: Snapshot;
  now: Date;
  events: RecordedEvent[];
  /** The engine event decided last. */
  last: EngineEvent | null;
  /** True when no task is due, no run can finish and the clock cannot move. */
  quiescent: boolean;
}

export interface Injection {
  /** A label for failure messages. */
  label: string;
  when: (view: DriverView) => boolean;
  event: EngineEvent | ((view: DriverView) => EngineEvent);
}

export const nodeIs =
  (nodeId: string, status: NodeStatus) =>
  (v: DriverView): boolean =>
    v.snapshot.nodes[nodeId]?.status === status;
export const executionIs =
  (status: ExecutionStatus) =>
  (v: DriverView): boolean =>
    v.snapshot.execution.status === status;
/** Right after the reducer took `node.started` for the node (its attempt now runs). */
export const afterStarted =
  (nodeId: string) =>
  (v: DriverView): boolean =>
    v.last?.type === 'node.started' &&
    v.last.nodeId === nodeId &&
    v.snapshot.nodes[nodeId]?.status === 'running';
/** Nothing else can happen on its own any more. */
export const quiescent = (v: DriverView): boolean => v.quiescent;

export const inject = (
  label: string,
  when: Injection['when'],
  event: Injection['event'],
): Injection => ({ label, when, event });

// --- results ---------------------------------------------------------------------------------

export interface RecordedEvent {
  seq: number;
  type: StreamEventType;
  nodeId: string | null;
  data: Record<string, unknown>;
  at: string;
}

export interface Task {
  id: string;
  kind: TaskKind;
  nodeId: string | null;
  attempt: number;
  availableAt: string;
  payload?: unknown;
  order: number;
  /**
   * A child's report: the worker writes it when the child ends, after any clear of this
   * execution's tasks that came before, so a clear here does not drop it.
   */
  report?: true;
}

export interface RanAttempt {
  nodeId: string;
  attempt: number;
  at: string;
}

export interface Decided {
  event: EngineEvent;
  at: string;
  before: Snapshot;
  after: Snapshot;
  commands: Command[];
}

export interface DriveResult {
  name: string;
  plan: Plan;
  snapshot: Snapshot;
  events: RecordedEvent[];
  dlq: Extract<Command, { type: 'dlq' }>[];
  commands: Command[];
  decisions: Decided[];
  /** Executor runs (run tasks performed), in the order they started. */
  ran: RanAttempt[];
  /** Child drivers by child execution id. */
  children: Map<string, Driver>;
  /** The notifyParent command, if this execution finished as a child. */
  notified: Extract<Command, { type: 'notifyParent' }> | null;
  /** Tasks left in the queue (e.g. a pending idle timer). */
  tasks: Task[];
  now: Date;
  startedAt: Date;
}

export interface DriveOptions {
  params?: Record<string, unknown>;
  vars?: Record<string, unknown>;
  script?: Script;
  /** Scripts for child workflow fixtures, by workflow name. */
  children?: Record<string, Omit<DriveOptions, 'children'>>;
  inject?: Injection[];
  /** Default 2030-01-01T00:00:00Z. */
  start?: string;
  seed?: number;
  /** Guard against a reducer that never settles. */
  maxSteps?: number;
}

interface Shared {
  ids: number;
}

interface InFlight {
  nodeId: string;
  attempt: number;
  finishAt: number;
  outcome: NodeOutcome;
  order: number;
}

/** What a `child` task carries for a child.finished event. */
function childPayload(ev: Extract<EngineEvent, { type: 'child.finished' }>): ChildPayload {
  const { type: _type, nodeId: _nodeId, ...payload } = ev;
  return payload;
}

/** The worker's node.finished event for a scripted attempt's outcome (task-events.ts). */
function finishedOf(f: InFlight): EngineEvent {
  const o = f.outcome;
  const result: ExecResult =
    o.status === 'succeeded'
      ? { status: 'succeeded', outputs: o.outputs ?? {} }
      : { status: 'failed', error: o.error!, ...(o.outputs && { outputs: o.outputs }) };
  return finishedEvent(f.nodeId, f.attempt, result, o.cost ?? zeroCost(), o.artifacts);
}

/** mulberry32: small, seeded, and copyable (for the determinism check). */
class SeededRandom {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  fork(): SeededRandom {
    return new SeededRandom(this.state);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const aborted: NodeError = {
  code: 'ERR_CANCELLED',
  message: 'The node was cancelled.',
  retryable: false,
};

export class Driver {
  readonly def: WorkflowDefinition;
  readonly plan: Plan;
  snapshot: Snapshot;
  now: Date;
  readonly startedAt: Date;
  readonly events: RecordedEvent[] = [];
  readonly commands: Command[] = [];
  readonly decisions: Decided[] = [];
  readonly dlq: Extract<Command, { type: 'dlq' }>[] = [];
  readonly ran: RanAttempt[] = [];
  readonly children = new Map<string, Driver>();
  notified: Extract<Command, { type: 'notifyParent' }> | null = null;
  private tasks = new Map<string, Task>();
  private inflight: InFlight[] = [];
  private injections: Injection[];
  private last: EngineEvent | null = null;
  private order = 0;
  private readonly random: SeededRandom;
  /** Node and execution statuses as the events tell them (checked against the snapshot). */
  private seenNode = new Map<string, NodeStatus>();
  private seenExecution: ExecutionStatus = 'pending';
  private succeededSinceReset = new Set<string>();

  constructor(
    readonly name: string,
    private readonly opts: DriveOptions = {},
    private readonly shared: Shared = { ids: 0 },
    identity: { id: string; parent: { executionId: string; nodeId: string } | null } = {
      id: 'exec_main',
      parent: null,
    },
  ) {
    this.def = loadEngineFixture(name);
    this.plan = compilePlan(
      this.def.graph,
      {
        workflowType: this.def.type,
        ...(this.def.runtimeConfig.idleTimeout !== undefined && {
          idleTimeout: this.def.runtimeConfig.idleTimeout,
        }),
      },
      builtinNodeRegistry,
    );
    this.now = new Date(opts.start ?? '2030-01-01T00:00:00.000Z');
    this.startedAt = this.now;
    this.random = new SeededRandom(opts.seed ?? 42);
    this.injections = [...(opts.inject ?? [])];
    // As the worker's insertExecution creates it.
    this.snapshot = deepFreeze({
      execution: {
        id: identity.id,
        workflowId: `wf_${this.def.name}`,
        version: 1,
        workflowType: this.def.type,
        status: 'pending',
        params: opts.params ?? {},
        vars: { ...this.def.variables, ...opts.vars },
        trigger: identity.parent ? { type: 'workflow', actor: 'system' } : { type: 'manual' },
        createdAt: this.now.toISOString(),
        startedAt: null,
        endedAt: null,
        error: null,
        cost: { estimatedUsd: 0, tokens: { prompt: 0, completion: 0 }, computeSeconds: 0 },
        turn: 0,
        conversation: [],
        awaitingTurn: false,
        parent: identity.parent,
        runtime: {},
      },
      nodes: initialNodes(this.plan),
    });
    for (const id of this.plan.order) this.seenNode.set(id, 'pending');
    this.enqueue({
      type: 'enqueue',
      kind: 'start',
      nodeId: null,
      attempt: 0,
      availableAt: this.now.toISOString(),
    });
  }

  view(quiet = false): DriverView {
    return {
      snapshot: this.snapshot,
      now: this.now,
      events: this.events,
      last: this.last,
      quiescent: quiet,
    };
  }

  /** Runs until nothing can happen on its own and every injection has fired (or none can). */
  run(): this {
    const maxSteps = this.opts.maxSteps ?? 10_000;
    for (let step = 0; ; step++) {
      if (step > maxSteps) throw new Error(`${this.name}: no quiescence after ${maxSteps} steps`);
      if (this.fireInjection(false)) continue;
      if (this.stepDue()) continue;
      const next = this.nextTime();
      if (next !== null) {
        this.now = new Date(next);
        continue;
      }
      if (this.fireInjection(true)) continue;
      break;
    }
    return this;
  }

  /**
   * The worker running the node's current attempt dies: its run is lost (it never reports back)
   * and another worker claims the attempt's task from the queue once the lease is gone, as the
   * worker's loop does (run-node.ts).
   */
  crash(nodeId: string): this {
    const attempt = this.snapshot.nodes[nodeId]?.attempt ?? 0;
    this.inflight = this.inflight.filter((f) => !(f.nodeId === nodeId && f.attempt === attempt));
    this.runNode({
      id: `run:${nodeId}:${attempt}`,
      kind: 'run',
      nodeId,
      attempt,
      availableAt: this.now.toISOString(),
      order: this.order++,
    });
    return this;
  }

  /** Delivers an event now (and performs what follows from it, without running further). */
  deliver(event: EngineEvent): Decided {
    const before = this.snapshot;
    const [ctx, replay] = this.contexts();
    const { next, commands } = decide(this.plan, before, event, ctx);
    // The same input and the same injected clock, random and ids give the same decision.
    assert.deepEqual(
      decide(this.plan, before, event, replay),
      { next, commands },
      `${this.name}: decide is not deterministic for ${event.type}`,
    );
    this.last = event;
    this.snapshot = deepFreeze(next);
    const decided: Decided = { event, at: this.now.toISOString(), before, after: next, commands };
    this.decisions.push(decided);
    this.perform(commands);
    this.checkInvariants(event);
    return decided;
  }

  result(): DriveResult {
    return {
      name: this.name,
      plan: this.plan,
      snapshot: this.snapshot,
      events: this.events,
      dlq: this.dlq,
      commands: this.commands,
      decisions: this.decisions,
      ran: this.ran,
      children: this.children,
      notified: this.notified,
      tasks: [...this.tasks.values()].sort(byTask),
      now: this.now,
      startedAt: this.startedAt,
    };
  }

  /** Injections fire in the order given; the first one whose condition holds is delivered. */
  private fireInjection(quiet: boolean): boolean {
    const next = this.injections[0];
    if (!next || !next.when(this.view(quiet))) return false;
    this.injections.shift();
    this.deliver(typeof next.event === 'function' ? next.event(this.view(quiet)) : next.event);
    return true;
  }

  assertAllInjected(): void {
    assert.deepEqual(
      this.injections.map((i) => i.label),
      [],
      `${this.name}: injections that never fired`,
    );
  }

  /** The real context, and a replay of it (same clock, random state and ids). */
  private contexts(): [DecideContext, DecideContext] {
    const base = this.shared.ids;
    const forked = this.random.fork();
    let replayIds = base;
    const id = (prefix: string, n: number) => `${prefix}_${String(n).padStart(3, '0')}`;
    const real: DecideContext = {
      now: new Date(this.now.getTime()),
      random: () => this.random.next(),
      // The id counter is shared with nested drivers.
      newId: (prefix) => id(prefix, ++this.shared.ids),
    };
    const replay: DecideContext = {
      now: new Date(this.now.getTime()),
      random: () => forked.next(),
      newId: (prefix) => id(prefix, ++replayIds),
    };
    return [real, replay];
  }

  private stepDue(): boolean {
    const nowMs = this.now.getTime();
    const task = [...this.tasks.values()]
      .filter((t) => Date.parse(t.availableAt) <= nowMs)
      .sort(byTask)[0];
    if (task) {
      this.tasks.delete(task.id);
      this.perform1(task);
      return true;
    }
    const done = this.inflight
      .filter((f) => f.finishAt <= nowMs)
      .sort((a, b) => a.finishAt - b.finishAt || a.order - b.order)[0];
    if (done) {
      this.inflight = this.inflight.filter((f) => f !== done);
      this.deliver(finishedOf(done));
      return true;
    }
    return false;
  }

  private nextTime(): number | null {
    const times = [
      ...[...this.tasks.values()].map((t) => Date.parse(t.availableAt)),
      ...this.inflight.map((f) => f.finishAt).filter((t) => Number.isFinite(t)),
    ];
    return times.length === 0 ? null : Math.min(...times);
  }

  /** One task, as the worker's loop performs it (the worker's own task → event mapping). */
  private perform1(task: Task): void {
    const event = taskEvent({
      kind: task.kind,
      node_id: task.nodeId,
      attempt: task.attempt,
      payload: task.payload === undefined ? null : JSON.stringify(task.payload),
    });
    if (event === 'run') this.runNode(task);
    else if (event) this.deliver(event);
    else throw new Error(`${this.name}: a task of unknown kind ${task.kind}`);
  }

  /**
   * A run task, as the worker's run-node.ts takes it from the queue: dropped when stale, taken
   * over when its node already runs (a crashed worker's), started, run.
   */
  private runNode(task: Task): void {
    const nodeId = task.nodeId!;
    const step = runStep(this.snapshot, nodeId, task.attempt, true);
    if (step === 'ended' || step === 'stale') return;
    if (step === 'takeover') {
      this.deliver({ type: 'node.taken_over', nodeId, attempt: task.attempt });
      return;
    }
    if (step === 'start') {
      this.deliver({ type: 'node.started', nodeId, attempt: task.attempt });
      if (this.snapshot.nodes[nodeId]?.status !== 'running') return;
    }
    this.ran.push({ nodeId, attempt: task.attempt, at: this.now.toISOString() });
    const run = scriptedRun(this.opts.script ?? {}, nodeId, task.attempt);
    if (run === 'hang') {
      this.inflight.push({
        nodeId,
        attempt: task.attempt,
        finishAt: Number.POSITIVE_INFINITY,
        outcome: { status: 'failed', error: aborted },
        order: this.order++,
      });
      return;
    }
    const { outcome, durationMs } = outcomeOf(run);
    this.inflight.push({
      nodeId,
      attempt: task.attempt,
      finishAt: this.now.getTime() + durationMs,
      outcome,
      order: this.order++,
    });
  }

  private enqueue(c: Extract<Command, { type: 'enqueue' }>): void {
    const id = `${c.kind}:${c.nodeId ?? ''}:${c.attempt}`;
    this.tasks.set(id, {
      id,
      kind: c.kind,
      nodeId: c.nodeId,
      attempt: c.attempt,
      availableAt: c.availableAt,
      ...(c.payload !== undefined && { payload: c.payload }),
      order: this.order++,
    });
  }

  /** A killed run still reports back (its executor saw the abort); the reducer must ignore it. */
  private abort(f: InFlight): void {
    f.finishAt = this.now.getTime();
    f.outcome = { status: 'failed', error: aborted };
  }

  private perform(commands: Command[]): void {
    const clear = commands.some((c) => c.type === 'clearTasks');
    let seq = this.events.at(-1)?.seq ?? 1;
    for (const c of commands) {
      this.commands.push(c);
      switch (c.type) {
        case 'emit':
          this.events.push({
            seq: ++seq,
            type: c.event,
            nodeId: c.nodeId ?? null,
            data: c.data,
            at: this.now.toISOString(),
          });
          break;
        case 'enqueue':
          // The worker drops this execution's tasks written in the decision that clears them.
          if (!clear) this.enqueue(c);
          break;
        case 'dlq':
          this.dlq.push(c);
          break;
        case 'kill':
          for (const [id, t] of this.tasks) if (t.nodeId === c.nodeId) this.tasks.delete(id);
          for (const f of this.inflight) if (f.nodeId === c.nodeId) this.abort(f);
          break;
        case 'startChild':
          this.startChild(c);
          break;
        case 'cancelChild': {
          const child = this.children.get(c.childExecutionId);
          if (child && !isTerminalExecution(child.snapshot.execution.status)) {
            child.deliver({ type: 'cancel', actor: 'parent' });
            child.run();
            this.collectChild(child);
          }
          break;
        }
        case 'notifyParent':
          this.notified = c;
          break;
        case 'clearTasks':
          for (const [id, t] of this.tasks) if (!t.report) this.tasks.delete(id);
          if (isTerminalExecution(this.snapshot.execution.status))
            for (const f of this.inflight) this.abort(f);
          break;
        default: {
          const never: never = c;
          throw new Error(`unknown command ${JSON.stringify(never)}`);
        }
      }
    }
  }

  private startChild(c: Extract<Command, { type: 'startChild' }>): void {
    let child: Driver;
    try {
      child = new Driver(
        c.workflow,
        { ...this.opts.children?.[c.workflow], params: c.params, start: this.now.toISOString() },
        this.shared,
        {
          id: c.childExecutionId,
          parent: { executionId: this.snapshot.execution.id, nodeId: c.nodeId },
        },
      );
    } catch (err) {
      // As the worker does for a workflow it cannot resolve.
      this.enqueue({
        type: 'enqueue',
        kind: 'child',
        nodeId: c.nodeId,
        attempt: 0,
        availableAt: this.now.toISOString(),
        payload: childPayload(childStartFailed(c, String(err))),
      });
      return;
    }
    this.children.set(c.childExecutionId, child);
    child.run();
    this.collectChild(child);
  }

  /** A finished child reports to its parent at the (virtual) time it finished. */
  private collectChild(child: Driver): void {
    const n = child.notified;
    if (!n) return;
    const elapsed = child.now.getTime() - child.startedAt.getTime();
    const id = `child:${n.parentNodeId}:0:${n.childExecutionId}`;
    if (this.tasks.has(id) || this.collected.has(id)) return;
    this.collected.add(id);
    this.tasks.set(id, {
      id,
      kind: 'child',
      nodeId: n.parentNodeId,
      attempt: 0,
      availableAt: new Date(this.now.getTime() + elapsed).toISOString(),
      payload: {
        childExecutionId: n.childExecutionId,
        status: n.status,
        outputs: n.outputs,
        error: n.error,
        cost: n.cost,
      },
      order: this.order++,
      report: true,
    });
  }
  private collected = new Set<string>();

  private checkInvariants(event: EngineEvent): void {
    const where = `${this.name} after ${event.type}${'nodeId' in event ? ` ${event.nodeId}` : ''}`;
    const fresh = this.decisions.at(-1)!.commands;
    for (const c of fresh) {
      if (c.type !== 'emit') continue;
      if (c.event === 'node.status') {
        const id = c.data.nodeId as string;
        const to = c.data.status as NodeStatus;
        const from = this.seenNode.get(id);
        assert.ok(from !== undefined, `${where}: node.status for unknown node ${id}`);
        assert.ok(from !== to, `${where}: node.status ${id} ${to} repeats its status`);
        assert.ok(canTransitionNode(from, to), `${where}: node ${id} ${from} → ${to}`);
        if (to === 'succeeded') {
          assert.ok(
            !this.succeededSinceReset.has(id),
            `${where}: node ${id} succeeded twice without a reset`,
          );
          this.succeededSinceReset.add(id);
        }
        if (to === 'pending') this.succeededSinceReset.delete(id);
        this.seenNode.set(id, to);
      } else if (c.event === 'execution.status') {
        const to = c.data.status as ExecutionStatus;
        assert.ok(
          canTransitionExecution(this.seenExecution, to) && to !== this.seenExecution,
          `${where}: execution ${this.seenExecution} → ${to}`,
        );
        this.seenExecution = to;
      }
    }
    const s = this.snapshot;
    assert.equal(s.execution.status, this.seenExecution, `${where}: execution status vs events`);
    for (const [id, st] of Object.entries(s.nodes)) {
      assert.equal(st.status, this.seenNode.get(id), `${where}: node ${id} status vs events`);
    }
    if (isTerminalExecution(s.execution.status)) {
      const active = Object.entries(s.nodes)
        .filter(([, st]) => isActiveNode(st.status))
        .map(([id, st]) => `${id}:${st.status}`);
      assert.deepEqual(active, [], `${where}: terminal execution with active nodes`);
      assert.ok(s.execution.endedAt !== null, `${where}: terminal execution without endedAt`);
    }
  }
}

function byTask(a: Task, b: Task): number {
  return Date.parse(a.availableAt) - Date.parse(b.availableAt) || a.order - b.order;
}

/** Drives a fixture to quiescence; every injection must have fired. */
export function drive(name: string, opts: DriveOptions = {}): DriveResult {
  const driver = new Driver(name, opts).run();
  driver.assertAllInjected();
  return driver.result();
}

// --- reading results -------------------------------------------------------------------------

export function nodeStatuses(r: DriveResult): Record<string, NodeStatus> {
  return Object.fromEntries(Object.entries(r.snapshot.nodes).map(([id, st]) => [id, st.status]));
}

/** Why each skipped node was skipped. */
export function skipReasons(r: DriveResult): Record<string, string | null | undefined> {
  return Object.fromEntries(
    Object.entries(r.snapshot.nodes)
      .filter(([, st]) => st.status === 'skipped')
      .map(([id, st]) => [id, st.statusReason]),
  );
}

export function attempts(r: DriveResult): Record<string, number> {
  return Object.fromEntries(Object.entries(r.snapshot.nodes).map(([id, st]) => [id, st.attempt]));
}

export function eventsOf(r: DriveResult, type: StreamEventType, nodeId?: string): RecordedEvent[] {
  return r.events.filter((e) => e.type === type && (nodeId === undefined || e.nodeId === nodeId));
}

/** Node ids in the order their executor runs started (one entry per attempt). */
export function ranOrder(r: DriveResult): string[] {
  return r.ran.map((x) => x.nodeId);
}

export function commandsOf<T extends Command['type']>(
  r: DriveResult,
  type: T,
): Extract<Command, { type: T }>[] {
  return r.commands.filter((c): c is Extract<Command, { type: T }> => c.type === type);
}

/** Seconds on the fake clock since the execution was created. */
export function virtualSeconds(r: DriveResult, iso: string): number {
  return (Date.parse(iso) - r.startedAt.getTime()) / 1000;
}
