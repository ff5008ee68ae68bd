/**
 * Buffers node log lines and writes them in batches with a per-execution line number (DESIGN §5).
 * Each node attempt has a byte cap; past it one truncation marker is written and the rest
 * dropped. Lines are flushed on a short timer and before a node's result is decided.
 */
import type { Logger } from 'pino';
import { isUnavailable } from '../errors.ts';
import type { Database } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import * as logsSql from '../store/logs.ts';

interface Pending {
  nodeId: string;
  attempt: number;
  stream: string;
  text: string;
  at: string;
}

const flushEveryMs = 200;
const maxLineChars = 16 * 1024;

export class LogWriter {
  private readonly buffers = new Map<string, Pending[]>();
  private readonly nextLine = new Map<string, number>();
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
    buf.push({ nodeId, attempt, stream, text, at: this.now() });
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
      // Back in front of the lines appended meanwhile; the timer tries again.
      this.buffers.set(executionId, [...buf, ...(this.buffers.get(executionId) ?? [])]);
      this.schedule();
      throw err;
    }
  }

  /** Inserts lines after the execution's last one; throws only while the database is unavailable. */
  private async insert(executionId: string, buf: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let line =
        this.nextLine.get(executionId) ?? (await logsSql.maxLogLine(this.db.db, executionId)) + 1;
      const rows = buf.map((p) => ({
        execution_id: executionId,
        line: line++,
        node_id: p.nodeId,
        attempt: p.attempt,
        stream: p.stream,
        text: p.text,
        at: p.at,
      }));
      try {
        await this.db.transaction(async (trx) => {
          await logsSql.insertLogs(trx, rows);
          await this.db.announceEvents(trx, executionId, 'logs');
        });
        this.nextLine.set(executionId, line);
        this.onFlushed(executionId);
        return;
      } catch (err) {
        this.nextLine.delete(executionId);
        if (isUnavailable(err)) throw err;
        // Another process wrote lines of this execution meanwhile: renumber after its lines.
        if (!isUniqueViolation(err) || attempt >= 5) {
          this.log.error(
            { err, executionId, lines: rows.length },
            `dropped ${rows.length} log lines of ${executionId}: ${(err as Error).message}`,
          );
          return;
        }
      }
    }
  }

  /** Forgets per-execution counters (after the execution ended). */
  forget(executionId: string): void {
    this.nextLine.delete(executionId);
    for (const key of this.bytes.keys())
      if (key.startsWith(`${executionId}\u0000`)) this.bytes.delete(key);
  }
}
