/**
 * Live views of executions (DESIGN §5): subscribers of an execution are woken when its events or
 * log lines change, then read what follows their cursor. Wake-ups come from this process's
 * engine (after each commit, with the events it committed) and, on PostgreSQL, from one shared
 * LISTEN connection per process that hears every process's commits. Events this process's
 * worker committed are served from its hand-over while they follow on from the cursor
 * (stream-tail.ts); everything else (other processes' commits, log lines, a subscriber that is
 * behind) is read from the tables.
 */
import { type ExecutionStatus, isTerminalExecution } from '../engine/status.ts';
import { AppError } from '../errors.ts';
import type { ChangeKind, Database } from '../store/db.ts';
import * as eventsSql from '../store/events.ts';
import * as logsSql from '../store/logs.ts';
import { type StreamEvent, StreamTails } from './stream-tail.ts';

export type { StreamEvent } from './stream-tail.ts';

export interface LogLine {
  line: number;
  nodeId: string;
  attempt: number;
  stream: string;
  text: string;
  at: string;
}

export interface LogFilter {
  nodeId?: string;
  attempt?: number;
}

/** What one read after a cursor found. */
export interface StreamBatch<T> {
  items: T[];
  /** Set when the execution is terminal and this batch holds everything up to its end. */
  end: ExecutionStatus | null;
  /** True when the execution no longer exists (deleted while followed). */
  gone: boolean;
}

/**
 * One subscriber's wake-up flag. Notifications coalesce: however many arrive while the
 * subscriber reads, it reads once more; its state is two fields whatever the event rate.
 */
export class Subscription {
  private dirty = false;
  private resolve: (() => void) | undefined;
  closed = false;

  constructor(
    readonly executionId: string,
    readonly kind: ChangeKind,
    private readonly detach: (s: Subscription) => void,
  ) {}

  notify(): void {
    this.dirty = true;
    const r = this.resolve;
    this.resolve = undefined;
    r?.();
  }

  /** Resolves at the next notification (at once if one arrived since the last `wait`) or close. */
  wait(): Promise<void> {
    if (this.dirty || this.closed) {
      this.dirty = false;
      return Promise.resolve();
    }
    return new Promise((r) => {
      this.resolve = () => {
        this.dirty = false;
        r();
      };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach(this);
    this.notify();
  }
}

export class ExecutionStream {
  private readonly subscribers = new Map<string, Set<Subscription>>();
  /**
   * Identical reads in flight at once share one query (1,000 followers of one execution). A
   * notification forgets an execution's reads in flight: a reader woken by it must see the
   * commit, so it starts a fresh query instead of joining one that began before.
   */
  private readonly inflight = new Map<string, Map<string, Promise<unknown>>>();
  private readonly tails = new StreamTails();
  private stopListening: (() => Promise<void>) | undefined;
  private count = 0;

  constructor(private readonly database: Database) {}

  /**
   * Starts hearing other processes' commits (PostgreSQL); a no-op on SQLite. Announcements
   * from `ownWriter` (this process's worker, which calls `notify` after each of its commits)
   * are skipped: they would wake every subscriber a second time for the same rows.
   */
  async start(ownWriter?: string): Promise<void> {
    this.stopListening ??= await this.database.listenForChanges((kind, executionId, from) => {
      if (executionId === undefined) this.notifyAll(kind);
      else if (from === undefined || from !== ownWriter) this.notify(executionId, kind);
    });
  }

  async stop(): Promise<void> {
    const stop = this.stopListening;
    this.stopListening = undefined;
    await stop?.();
    for (const set of [...this.subscribers.values()]) for (const s of [...set]) s.close();
  }

  /** Open subscriptions in this process. */
  get subscriberCount(): number {
    return this.count;
  }

  subscribe(executionId: string, kind: ChangeKind): Subscription {
    const sub = new Subscription(executionId, kind, (s) => {
      const set = this.subscribers.get(s.executionId);
      if (set?.delete(s)) this.count--;
      if (set?.size === 0) {
        this.subscribers.delete(s.executionId);
        this.tails.forget(s.executionId);
      }
    });
    let set = this.subscribers.get(executionId);
    if (!set) {
      set = new Set();
      this.subscribers.set(executionId, set);
    }
    set.add(sub);
    this.count++;
    return sub;
  }

  /** New rows of `kind` exist for an execution. Log followers also end on status events. */
  notify(executionId: string, kind: ChangeKind): void {
    if (kind === 'events') this.tails.forget(executionId);
    this.wake(executionId, kind);
  }

  /**
   * This process's worker committed a decision of an execution: `events` (possibly none) are
   * the rows it wrote, and `status` is where the execution stands after it.
   */
  committed(executionId: string, events: readonly StreamEvent[], status: ExecutionStatus): void {
    if (this.subscribers.has(executionId)) this.tails.committed(executionId, events, status);
    this.wake(executionId, 'events');
  }

  private wake(executionId: string, kind: ChangeKind): void {
    this.inflight.delete(executionId);
    const set = this.subscribers.get(executionId);
    if (!set) return;
    for (const s of set) if (kind === 'events' || s.kind === 'logs') s.notify();
  }

  private notifyAll(kind: ChangeKind): void {
    this.inflight.clear();
    if (kind === 'events') this.tails.forgetAll();
    for (const id of [...this.subscribers.keys()]) this.wake(id, kind);
  }

  /** 404 unless the execution exists under `workflowId` (DESIGN §8). */
  async require(workflowId: string, executionId: string): Promise<void> {
    const pos = await eventsSql.streamPosition(this.database.db, executionId);
    if (!pos || pos.workflow_id !== workflowId) throw notFound(workflowId, executionId);
  }

  /**
   * A follower's first read of events (subscribe first): as `readEvents`, read from the table,
   * and 404 unless the execution exists under `workflowId`, in the same statement.
   */
  async firstEvents(
    workflowId: string,
    executionId: string,
    after: number,
    limit: number,
  ): Promise<StreamBatch<StreamEvent>> {
    const read = await eventsSql.positionAndEvents(this.database.db, executionId, after + 1, limit);
    if (!read || read.position.workflow_id !== workflowId) throw notFound(workflowId, executionId);
    return eventsBatch(read, after);
  }

  /** Events with seq > `after`, and whether they reach the end of a terminal execution. */
  readEvents(executionId: string, after: number, limit: number): Promise<StreamBatch<StreamEvent>> {
    const kept = this.tails.read(executionId, after, limit);
    if (kept !== undefined) return Promise.resolve({ ...kept, gone: false });
    return this.shared(executionId, `e\u0000${after}\u0000${limit}`, async () => {
      // One statement: every event up to the position's last_seq is in what it read.
      const read = await eventsSql.positionAndEvents(
        this.database.db,
        executionId,
        after + 1,
        limit,
      );
      return read === undefined ? { items: [], end: null, gone: true } : eventsBatch(read, after);
    });
  }

  /** Log lines after line `after`, and whether the execution is terminal with all lines read. */
  readLogs(
    executionId: string,
    filter: LogFilter,
    after: number,
    limit: number,
  ): Promise<StreamBatch<LogLine>> {
    const key = `l\u0000${filter.nodeId ?? ''}\u0000${filter.attempt ?? ''}\u0000${after}\u0000${limit}`;
    return this.shared(executionId, key, async () => {
      // Lines of a node are flushed before its result is decided, so a terminal status read
      // first means every line is already committed.
      const pos = await eventsSql.streamPosition(this.database.db, executionId);
      if (!pos) return { items: [], end: null, gone: true };
      const items = await this.logLines(executionId, filter, after, limit);
      const status = pos.status as ExecutionStatus;
      return {
        items,
        end: isTerminalExecution(status) && items.length < limit ? status : null,
        gone: false,
      };
    });
  }

  /** A page of log lines: `nextAfter` is set when the page is full (more lines may follow). */
  async listLogs(
    workflowId: string,
    executionId: string,
    q: LogFilter & { after?: number; limit: number },
  ): Promise<{ items: LogLine[]; nextAfter: number | null }> {
    await this.require(workflowId, executionId);
    const items = await this.logLines(executionId, q, q.after ?? 0, q.limit);
    return { items, nextAfter: items.length === q.limit ? items.at(-1)!.line : null };
  }

  private async logLines(
    executionId: string,
    filter: LogFilter,
    after: number,
    limit: number,
  ): Promise<LogLine[]> {
    const rows = await logsSql.listLogs(this.database.db, executionId, {
      ...(filter.nodeId !== undefined && { nodeId: filter.nodeId }),
      ...(filter.attempt !== undefined && { attempt: filter.attempt }),
      after,
      limit,
    });
    return rows.map((r) => ({
      line: r.line,
      nodeId: r.node_id,
      attempt: r.attempt,
      stream: r.stream,
      text: r.text,
      at: r.at,
    }));
  }

  private shared<T>(executionId: string, key: string, read: () => Promise<T>): Promise<T> {
    let reads = this.inflight.get(executionId);
    const running = reads?.get(key) as Promise<T> | undefined;
    if (running) return running;
    if (!reads) {
      reads = new Map();
      this.inflight.set(executionId, reads);
    }
    const mine = reads;
    const p = read().finally(() => {
      if (mine.get(key) !== p) return;
      mine.delete(key);
      if (mine.size === 0 && this.inflight.get(executionId) === mine)
        this.inflight.delete(executionId);
    });
    mine.set(key, p);
    return p;
  }
}

function notFound(workflowId: string, executionId: string): AppError {
  return new AppError('ERR_EXECUTION_NOT_FOUND', {
    message: `Workflow ${workflowId} has no execution ${executionId}.`,
    context: { workflowId, executionId },
  });
}

/** What one read of the position and the events after `after` says. */
function eventsBatch(
  read: NonNullable<Awaited<ReturnType<typeof eventsSql.positionAndEvents>>>,
  after: number,
): StreamBatch<StreamEvent> {
  const { position: pos, events: items } = read;
  const last = items.at(-1)?.seq ?? after;
  const status = pos.status as ExecutionStatus;
  return {
    items,
    end: isTerminalExecution(status) && last >= pos.last_seq ? status : null,
    gone: false,
  };
}
