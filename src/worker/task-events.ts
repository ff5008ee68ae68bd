/**
 * PURE: what a task means to the engine. A claimed task becomes the engine event it stands for
 * (a `run` task first runs its node), and a node's finished attempt becomes `node.finished`.
 * The worker and the engine fixture tests share these, so both feed the reducer the same events.
 */
import { type ExecutionStatus, isTerminalExecution } from '../engine/status.ts';
import type {
  ArtifactInfo,
  Command,
  Cost,
  EngineEvent,
  ExecutionError,
  Snapshot,
  TaskKind,
} from '../engine/types.ts';
import { zeroCost } from '../engine/cost.ts';
import type { ExecResult } from '../nodes/executor.ts';

/** The parts of a task row the mapping reads. */
export interface TaskLike {
  kind: string;
  node_id: string | null;
  attempt: number;
  payload: string | null;
}

/** What a `child` task carries: how the child execution ended. */
export interface ChildPayload {
  childExecutionId: string;
  status: ExecutionStatus;
  outputs: Record<string, unknown>;
  error: ExecutionError | null;
  cost: Cost;
}

/**
 * The engine event a task stands for; `run` for a task that runs its node first (its event is
 * `finishedEvent`), `null` for a task of no known kind (it is dropped).
 */
export function taskEvent(task: TaskLike): EngineEvent | 'run' | null {
  switch (task.kind as TaskKind) {
    case 'start':
      return { type: 'start' };
    case 'timer':
      return { type: 'timer.fired', nodeId: task.node_id!, attempt: task.attempt };
    case 'deadline':
      return { type: 'deadline' };
    case 'idle':
      return { type: 'idle', turn: task.attempt };
    case 'cancel':
      return { type: 'cancel', actor: 'parent' };
    case 'child': {
      const p = JSON.parse(task.payload ?? '{}') as ChildPayload;
      return { type: 'child.finished', nodeId: task.node_id!, ...p };
    }
    case 'run':
      return 'run';
    default:
      return null;
  }
}

/** The event a run task's attempt is decided with once its executor returned. */
export function finishedEvent(
  nodeId: string,
  attempt: number,
  result: ExecResult,
  cost: Cost,
  artifacts?: ArtifactInfo[],
  secrets?: string[],
): Extract<EngineEvent, { type: 'node.finished' }> {
  const used = secrets !== undefined && secrets.length > 0 ? { secrets } : {};
  return {
    type: 'node.finished',
    nodeId,
    attempt,
    outcome:
      result.status === 'succeeded'
        ? {
            status: 'succeeded',
            outputs: result.outputs,
            cost,
            ...(artifacts && { artifacts }),
            ...used,
          }
        : {
            status: 'failed',
            error: result.error,
            ...(result.outputs && { outputs: result.outputs }),
            cost,
            ...used,
          },
  };
}

/** The event that fails a `workflow` node whose child could not be started. */
export function childStartFailed(
  c: Extract<Command, { type: 'startChild' }>,
  message: string,
): Extract<EngineEvent, { type: 'child.finished' }> {
  return {
    type: 'child.finished',
    nodeId: c.nodeId,
    childExecutionId: c.childExecutionId,
    status: 'failed',
    outputs: {},
    error: { code: 'ERR_CHILD_START', message },
    cost: zeroCost(),
  };
}

/**
 * What a `run` task's attempt does given the execution's snapshot: `ended` (the execution is
 * over) and `stale` (the node moved on: cancelled, retried or taken over) drop the task;
 * `start` marks the queued node running first; `run` runs it (it was marked running in the
 * decision that leased the task to this worker). A task claimed from the queue (`claimed`)
 * whose node is already running was started by a worker that crashed, stopped or lost its
 * lease: `takeover` (decided as `node.taken_over`, the node runs again as the next attempt).
 */
export function runStep(
  snapshot: Snapshot,
  nodeId: string,
  attempt: number,
  claimed: boolean,
): 'ended' | 'stale' | 'start' | 'run' | 'takeover' {
  if (isTerminalExecution(snapshot.execution.status)) return 'ended';
  const st = snapshot.nodes[nodeId];
  if (!st || st.attempt !== attempt || (st.status !== 'queued' && st.status !== 'running'))
    return 'stale';
  if (st.status === 'queued') return 'start';
  return claimed ? 'takeover' : 'run';
}
