/**
 * The last events this process's worker committed for each followed execution, so a subscriber
 * whose cursor is inside them gets the next events without reading the table again. Only rows
 * that committed get here (the worker hands them over after its commit), and only a run of
 * consecutive seqs with nothing known after it is served: news of a commit the worker did not
 * hand over (another process, an execution's creation) drops the execution's tail, and a
 * cursor before the tail's first event reads the table as before.
 */
import { type ExecutionStatus, isTerminalExecution } from '../engine/status.ts';

/** One execution_events row as streamed: `data` is the stored JSON text. */
export interface StreamEvent {
  seq: number;
  type: string;
  data: string;
  at: string;
}

/** Events kept per execution; a subscriber further behind reads the table. */
const keptPerExecution = 256;

interface Tail {
  events: StreamEvent[];
  /** The execution's status as of the last event. */
  status: ExecutionStatus;
}

export class StreamTails {
  private readonly tails = new Map<string, Tail>();

  /**
   * The worker committed `events` (in seq order; may be empty) of an execution, leaving it at
   * `status`. Appended when they follow the tail, otherwise they start it anew.
   */
  committed(executionId: string, events: readonly StreamEvent[], status: ExecutionStatus): void {
    const tail = this.tails.get(executionId);
    if (events.length === 0) {
      // Nothing new in the table; a status change without an event is not expected, but the
      // tail then no longer knows where the execution stands.
      if (tail !== undefined && tail.status !== status) this.tails.delete(executionId);
      return;
    }
    const first = events[0]!.seq;
    const rows = events.map(({ seq, type, data, at }) => ({ seq, type, data, at }));
    if (tail !== undefined && tail.events.at(-1)!.seq + 1 === first) {
      tail.events.push(...rows);
      if (tail.events.length > keptPerExecution)
        tail.events.splice(0, tail.events.length - keptPerExecution);
      tail.status = status;
    } else {
      this.tails.set(executionId, { events: rows.slice(-keptPerExecution), status });
    }
  }

  /** Something this process was not handed changed the execution (or may have). */
  forget(executionId: string): void {
    this.tails.delete(executionId);
  }

  forgetAll(): void {
    this.tails.clear();
  }

  /**
   * The events after `after` (at most `limit`) when the tail holds all of them, and the end
   * status when they reach the end of a terminal execution; undefined when the table must be read.
   */
  read(
    executionId: string,
    after: number,
    limit: number,
  ): { items: StreamEvent[]; end: ExecutionStatus | null } | undefined {
    const tail = this.tails.get(executionId);
    if (tail === undefined) return undefined;
    const first = tail.events[0]!.seq;
    const last = tail.events.at(-1)!.seq;
    if (after + 1 < first || after > last) return undefined;
    const items = tail.events.slice(after + 1 - first, after + 1 - first + limit);
    const reached = items.at(-1)?.seq ?? after;
    return { items, end: isTerminalExecution(tail.status) && reached >= last ? tail.status : null };
  }
}
