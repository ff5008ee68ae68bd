/**
 * The snapshot each execution had after this worker's last decision on it, under the `rev` that
 * decision wrote. Every change of an execution's state or nodes is a compare-and-set that bumps
 * `rev`, so a decision that reads the same `rev` may decide on the kept snapshot instead of
 * reading every node row again: the cost of a step does not grow with the graph.
 */
import type { ExecutionState, Snapshot } from '../engine/types.ts';
import type { Db } from '../store/db.ts';
import { readExecutionWithNodes } from '../store/execution-nodes.ts';
import { getExecution } from '../store/executions.ts';

/** What a committed decision left: the snapshot, the `rev` and the last event number it wrote. */
export interface KeptSnapshot {
  rev: number;
  lastSeq: number;
  snapshot: Snapshot;
  /** The execution's concurrency group (its end hands the group's slot over under a lock). */
  concurrencyGroup: string | null;
}

export class SnapshotCache {
  private readonly entries = new Map<string, KeptSnapshot>();

  /** `max` executions are kept; the least recently decided one goes first. */
  constructor(private readonly max = 2_000) {}

  /** The kept snapshot of an execution if it is the one at `rev`. */
  get(executionId: string, rev: number): Snapshot | undefined {
    const e = this.entries.get(executionId);
    return e !== undefined && e.rev === rev ? e.snapshot : undefined;
  }

  /** The last kept snapshot of an execution, whatever its `rev` (current if nobody else decided since). */
  latest(executionId: string): KeptSnapshot | undefined {
    return this.entries.get(executionId);
  }

  /** Keeps what a committed decision wrote (the snapshot is never mutated afterwards). */
  set(executionId: string, kept: KeptSnapshot): void {
    this.entries.delete(executionId);
    this.entries.set(executionId, kept);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  forget(executionId: string): void {
    this.entries.delete(executionId);
  }
}

/**
 * The current snapshot of an execution outside a decision: the kept one when it is still
 * current, else the execution row and its node rows; undefined when it does not exist.
 */
export async function currentSnapshot(
  db: Db,
  cache: SnapshotCache,
  executionId: string,
): Promise<Snapshot | undefined> {
  const row = await getExecution(db, executionId);
  if (!row) return undefined;
  const kept = cache.get(executionId, row.rev);
  if (kept) return kept;
  const found = await readExecutionWithNodes(db, executionId);
  return found && { execution: JSON.parse(found.row.state) as ExecutionState, nodes: found.nodes };
}
