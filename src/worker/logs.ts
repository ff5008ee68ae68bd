/**
 * Buffers node log lines and writes them in batches with a per-execution line number (DESIGN §5).
 * Each node attempt has a byte cap; past it one truncation marker is written and the rest
 * dropped. Lines are flushed on a short timer, and an attempt's last lines are written in the
 * transaction of its result (`take`). A line's number is given in SQL after the execution's last
 * one, under the execution's row lock (PostgreSQL) that its decisions take too, so writers in
 * several processes never collide.
 */
import type { Logger } from 'pino';
import { isUnavailable } from '../errors.ts';
import type { Database } from '../store/db.ts';
import { lockExecution } from '../store/executions.ts';
import * as logsSql from '../store/logs.ts';
import type { NewLogLine } from '../store/logs.ts';

const flushEveryMs = 200;
const maxLineChars = 16 * 1024;

export class LogWriter {
  private readonly buffers = new Map<string, NewLogLine[]>();
  private readonly bytes = new Map<string, number>();
  private readonly flushing = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database,
    private readonly capBytes: number,
    private readonly now: () => string,
    /** Where a batch that cannot be written is reported. */
    private readonly log: Logger,
    /** Called after each committed batch of an execution's lines (streams follow logs with it). */
    private readonly onFlushed: (executionId: string) => void = () => {},
    /** The worker writing, named in the announcement (`onFlushed` tells its own process). */
    private readonly from?: string,
  ) {}

  append(executionId: string, nodeId: string, attempt: number, stream: string, line: string): void {
    const key = `${executionId}\u0000${nodeId}\u0000${attempt}`;
    const used = this.bytes.get(key) ?? 0;
    if (used > this.capBytes) return;
    let text =
      line.length > maxLineChars ? `${line.slice(0, maxLineChars)}… [line truncated]` : line;
    const size = Buffer.byteLength(text);
    if (used + size > this.capBytes) {
      text = `[log truncated: this node attempt reached the ${this.capBytes}-byte cap]`;
      stream = 'system';
      this.bytes.set(key, this.capBytes + 1);
    } else {
      this.bytes.set(key, used + size);
    }
    let buf = this.buffers.get(executionId);
    if (!buf) {
      buf = [];
      this.buffers.set(executionId, buf);
    }
    buf.push({ node_id: nodeId, attempt, stream, text, at: this.now() });
    if (buf.length >= 500)
      void this.flush(executionId).catch(() => {}); // stays buffered
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flushAll();
    }, flushEveryMs);
    this.timer.unref();
  }

  /** Writes everything buffered; lines the database cannot take now stay buffered, never throws. */
  async flushAll(): Promise<void> {
    await Promise.all([...this.buffers.keys()].map((id) => this.flush(id).catch(() => {})));
  }

  /**
   * Writes everything buffered for an execution; concurrent calls queue behind each other. While
   * the database is unavailable it rejects and the lines stay buffered for the next flush.
   */
  async flush(executionId: string): Promise<void> {
    const prev = this.flushing.get(executionId) ?? Promise.resolve();
    const run = prev.then(() => this.write(executionId));
    this.flushing.set(
      executionId,
      run.catch(() => {}),
    );
    await run;
  }

  private async write(executionId: string): Promise<void> {
    const buf = this.buffers.get(executionId);
    if (!buf || buf.length === 0) return;
    this.buffers.delete(executionId);
    try {
      await this.insert(executionId, buf);
    } catch (err) {
      this.giveBack(executionId, buf);
      throw err;
    }
  }

  /**
   * Takes the lines buffered for an execution, for a decision to write in its own transaction
   * (`insertLines`, then `written`); a decision that does not commit gives them back.
   */
  async take(executionId: string): Promise<NewLogLine[]> {
    await this.flushing.get(executionId);
    const buf = this.buffers.get(executionId) ?? [];
    this.buffers.delete(executionId);
    return buf;
  }

  /** Puts lines back in front of those appended meanwhile; the timer writes them. */
  giveBack(executionId: string, lines: NewLogLine[]): void {
    if (lines.length === 0) return;
    this.buffers.set(executionId, [...lines, ...(this.buffers.get(executionId) ?? [])]);
    this.schedule();
  }

  /** Tells the listeners that lines of an execution committed (written by a decision). */
  written(executionId: string): void {
    this.onFlushed(executionId);
  }

  /** Inserts lines after the execution's last one; throws only while the database is unavailable. */
  private async insert(executionId: string, lines: NewLogLine[]): Promise<void> {
    try {
      await this.db.transaction(async (trx) => {
        await lockExecution(trx, this.db.dialect, executionId);
        await logsSql.insertLines(trx, executionId, lines);
        await this.db.announceEvents(trx, executionId, 'logs', this.from);
      });
      this.onFlushed(executionId);
    } catch (err) {
      if (isUnavailable(err)) throw err;
      this.log.error(
        { err, executionId, lines: lines.length },
        `dropped ${lines.length} log lines of ${executionId}: ${(err as Error).message}`,
      );
    }
  }

  /** Forgets per-execution counters (after the execution ended). */
  forget(executionId: string): void {
    for (const key of this.bytes.keys())
      if (key.startsWith(`${executionId}\u0000`)) this.bytes.delete(key);
  }
}
