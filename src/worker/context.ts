/**
 * What the worker's parts share: its dependencies and the few things only the `Worker` knows
 * (its free slots, its running attempts, its claim loop). Each part is a set of functions over
 * this context, so no part imports another part's state.
 */
import type { Config } from '../config.ts';
import type { EgressClients } from '../egress/dispatcher.ts';
import type { ArtifactInfo, EngineEvent, Snapshot } from '../engine/types.ts';
import type { LlmProvider } from '../nodes/executor.ts';
import type { NodeRegistry } from '../nodes/registry.ts';
import type { RuntimeBroker } from '../runtime/broker.ts';
import type { Clock } from '../clock.ts';
import type { ExecutionTokenService } from '../services/execution-tokens.ts';
import type { Logger } from 'pino';
import type { Database } from '../store/db.ts';
import type { EventRow } from '../store/events.ts';
import type { PlatformEventRow } from '../store/platform-events.ts';
import type { NewLogLine } from '../store/logs.ts';
import type { TaskRow } from '../store/tasks.ts';
import type { LogWriter } from './logs.ts';
import type { PlanCache } from './plans.ts';
import type { DecisionQueue } from './decision-queue.ts';
import type { EngineMetrics } from './engine-metrics.ts';
import type { DecisionWriter } from './decision-writer.ts';
import type { ExecutionWatch } from './execution-watch.ts';
import type { SnapshotCache } from './snapshots.ts';

/** What the worker needs of the artifact service. */
export interface ArtifactCollector {
  collect(input: {
    executionId: string;
    workflowId: string;
    nodeId: string | null;
    hostWorkspace: string;
    globs: string[];
    retentionHours: number;
    maskPath: (relPath: string) => string;
  }): Promise<{ collected: ArtifactInfo[]; skipped: { path: string; reason: string }[] }>;
}

/**
 * The values of the named secrets a workflow's nodes see (its own secret, else the global one);
 * names with neither are left out. A narrow view of the secret store (SecretService.resolve).
 */
export type SecretResolver = (
  workflowId: string,
  names: readonly string[],
) => Promise<ReadonlyMap<string, string>>;

export interface WorkerContext {
  /** Identifies this process's leases. */
  readonly workerId: string;
  readonly db: Database;
  readonly clock: Clock;
  readonly config: Config;
  readonly plans: PlanCache;
  /** The snapshots of this worker's last decisions, by rev. */
  readonly snapshots: SnapshotCache;
  /** This worker's decisions of one execution, one at a time (those that wait go together). */
  readonly decisions: DecisionQueue;
  /** Writes decisions taken on kept snapshots, many per statement (PostgreSQL). */
  readonly writer: DecisionWriter;
  /** The engine's Prometheus metrics. */
  readonly metrics: EngineMetrics;
  /** The node types this server runs (their executors and late fields). */
  readonly nodeTypes: NodeRegistry;
  readonly broker: RuntimeBroker;
  readonly artifacts: ArtifactCollector;
  readonly logs: LogWriter;
  /** The worker's logger (the server's, or silent). */
  readonly log: Logger;
  readonly providers: ReadonlyMap<string, LlmProvider>;
  /** The egress-checked HTTP clients `http` and `llm` nodes call through. */
  readonly egress: EgressClients;
  /** Opens the secrets a node names when it starts. */
  readonly secrets: SecretResolver;
  /** Execution tokens of the attempts that run processes (and their gateway usage). */
  readonly executionTokens: ExecutionTokenService;
  /** Host path of this server's LLM gateway socket; none: commands get no gateway. */
  readonly gatewaySocket: string | undefined;
  /** Wakes waiters when an execution changes (a child workflow an attempt waits for). */
  readonly watch: ExecutionWatch;
  /** Run slots free right now; 0 while the worker is stopped. */
  room(): number;
  /**
   * Starts a task that is already leased to this worker; `decided` is the snapshot the decision
   * that leased it committed (a `run` task then starts from it instead of reading it again).
   */
  runClaimed(task: TaskRow, decided?: Snapshot): void;
  /** Wakes the claim loop (new work may be due). */
  wake(): void;
  /** Aborts this worker's running attempts of an execution (of one node, with `nodeId`). */
  abort(executionId: string, nodeId: string | null, reason: string): void;
  /** Settles once this worker's running attempts of an execution are over (stopped or finished). */
  attemptsStopped(executionId: string): Promise<void>;
  /** Decides an event for an execution and performs what follows (decision.ts). */
  dispatch(
    executionId: string,
    event: EngineEvent,
    task?: TaskRow,
    /** Log lines to write with the decision (an attempt's last ones). */
    lines?: NewLogLine[],
  ): Promise<Snapshot | undefined>;
  /** Tells the listeners an execution ended and its `execution.*` platform event is recorded. */
  executionEnded(event: PlatformEventRow): void;
  /** Tells the listeners a decision committed, with the execution events it wrote. */
  decided(executionId: string, snapshot: Snapshot, events: readonly EventRow[]): void;
  /**
   * Runs `fn` again while the database is unavailable, until this worker stops
   * (commit-retry.ts): a finished node's result is never dropped on a blip.
   */
  keepCommitting<T>(fn: () => Promise<T>, what?: string): Promise<T>;
}

/** The runtime's idle timeout of a chat workflow, if set. */
export function idleTimeoutOf(runtime: Record<string, unknown>): string | undefined {
  return typeof runtime.idleTimeout === 'string' ? runtime.idleTimeout : undefined;
}
