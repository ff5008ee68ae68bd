/**
 * Waiting inside the worker for executions to change (the agent's `workflow` tool waits for
 * its child to end). A watcher is called after every decision this worker commits on the
 * execution and, on PostgreSQL, whenever any server announces new events of it: one LISTEN
 * connection per worker, opened with the first watcher and closed when the worker stops. A
 * watcher that is called reads the execution again; nothing is polled on a timer.
 */
import type { Logger } from 'pino';
import type { Database } from '../store/db.ts';

type Watcher = () => void;

export class ExecutionWatch {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private listening: Promise<() => Promise<void>> | undefined;
  private closed = false;

  constructor(
    private readonly database: Database,
    private readonly log: Logger,
    /** This worker: its announcements are skipped, since it calls `changed` itself. */
    private readonly ownWriter: string,
  ) {}

  /**
   * Calls `onChange` whenever execution `executionId` may have changed, from when this resolves
   * (the listening connection is up by then); the returned function stops it.
   */
  async watch(executionId: string, onChange: Watcher): Promise<() => void> {
    let set = this.watchers.get(executionId);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(executionId, set);
    }
    set.add(onChange);
    const mine = set;
    const stop = () => {
      mine.delete(onChange);
      if (mine.size === 0 && this.watchers.get(executionId) === mine)
        this.watchers.delete(executionId);
    };
    try {
      await this.listen();
    } catch (err) {
      stop();
      throw err;
    }
    return stop;
  }

  /** Execution `executionId` changed (undefined: any may have, after a reconnect). */
  changed(executionId: string | undefined): void {
    if (executionId === undefined) {
      for (const set of [...this.watchers.values()]) for (const w of [...set]) w();
      return;
    }
    const set = this.watchers.get(executionId);
    if (set !== undefined) for (const w of [...set]) w();
  }

  /** Stops listening (the worker stopped); watchers still registered are called once. */
  async close(): Promise<void> {
    this.closed = true;
    const listening = this.listening;
    this.listening = undefined;
    const stop = await listening?.catch(() => undefined);
    await stop?.();
    this.changed(undefined);
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    this.listening ??= this.database.listenForChanges((kind, executionId, from) => {
      if (kind === 'events' && (from === undefined || from !== this.ownWriter))
        this.changed(executionId);
    });
    try {
      await this.listening;
    } catch (err) {
      // The next watcher tries again; this one fails (its caller retries while unavailable).
      this.listening = undefined;
      this.log.warn({ err }, 'listening for execution changes failed');
      throw err;
    }
  }
}
