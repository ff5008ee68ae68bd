/**
 * The worker's decisions, one execution at a time: a request for an execution whose decision is
 * in flight waits, and all that waited are handed over together when it is done (decision.ts
 * decides them as one where it can). Different executions go side by side. So the worker's own
 * decisions never race each other for an execution's `rev` (only other processes' may), and a
 * fan-out's results that finish while one is being written share the next write.
 */
import type { EngineEvent, Snapshot } from '../engine/types.ts';
import type { NewLogLine } from '../store/logs.ts';
import type { TaskRow } from '../store/tasks.ts';

/** One event to decide for an execution, and how to tell its caller the outcome. */
export interface DecisionRequest {
  event: EngineEvent;
  /** The finished task, deleted with the decision while this worker still holds it. */
  task?: TaskRow | undefined;
  /** The attempt's last log lines, written with the decision. */
  lines: readonly NewLogLine[];
  resolve: (snapshot: Snapshot | undefined) => void;
  reject: (err: unknown) => void;
}

export class DecisionQueue {
  private readonly waiting = new Map<string, DecisionRequest[]>();

  /** `decide` settles every request of the batch it is given. */
  constructor(
    private readonly decide: (
      executionId: string,
      batch: readonly DecisionRequest[],
    ) => Promise<void>,
  ) {}

  add(executionId: string, request: DecisionRequest): void {
    const queue = this.waiting.get(executionId);
    if (queue !== undefined) {
      queue.push(request);
      return;
    }
    this.waiting.set(executionId, [request]);
    void this.run(executionId);
  }

  private async run(executionId: string): Promise<void> {
    const queue = this.waiting.get(executionId)!;
    while (queue.length > 0) {
      const batch = queue.splice(0);
      try {
        await this.decide(executionId, batch);
      } catch (err) {
        for (const r of batch) r.reject(err);
      }
    }
    this.waiting.delete(executionId);
  }
}
