/**
 * The one Server-Sent Events writer (CONVENTIONS 8). It writes `id:`/`event:`/`data:` frames and
 * `: heartbeat` comments, keeps each client's unsent bytes bounded, drops a client that stops
 * reading (with a final `event: dropped` saying why) and frees everything when a client goes away.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface SseFrame {
  id?: number;
  event: string;
  /** One JSON document (newlines, if any, become several `data:` lines). */
  data: string;
}

export interface SseOptions {
  /** A `: heartbeat` comment is sent on a quiet stream this often. */
  heartbeatMs: number;
  /** Unsent bytes past which a writer stops adding frames until the socket drains. */
  maxBufferBytes?: number;
  /** A client whose unsent data has not drained for this long is dropped (default: 2 heartbeats, at least 1 s). */
  stallMs?: number;
}

/** Why a writer ended without the stream finishing. */
export type DropReason = 'slow_client' | 'server_shutdown' | 'execution_deleted';

export interface SseStats {
  open: number;
  dropped: Partial<Record<DropReason, number>>;
  /** The most unsent bytes any dropped client had. */
  maxUnsentAtDrop: number;
}

/** Owns every open SSE writer of an app: one timer drives heartbeats and stall checks for all. */
export class SseHub {
  readonly heartbeatMs: number;
  readonly maxBufferBytes: number;
  readonly stallMs: number;
  private readonly writers = new Set<SseWriter>();
  private timer: NodeJS.Timeout | undefined;
  readonly stats: SseStats = { open: 0, dropped: {}, maxUnsentAtDrop: 0 };

  constructor(opts: SseOptions) {
    this.heartbeatMs = opts.heartbeatMs;
    this.maxBufferBytes = opts.maxBufferBytes ?? 1024 * 1024;
    this.stallMs = opts.stallMs ?? Math.max(1000, 2 * opts.heartbeatMs);
  }

  /** Takes the response over from Fastify and sends the stream's headers. */
  open(reply: FastifyReply): SseWriter {
    void reply.hijack();
    const res = reply.raw;
    res.socket?.setNoDelay(true);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // One stream per connection: when it ends the socket goes too, and nothing lingers.
      connection: 'close',
      'x-accel-buffering': 'no',
    });
    const w = new SseWriter(this, res);
    this.writers.add(w);
    this.stats.open = this.writers.size;
    this.timer ??= setInterval(() => this.tick(), Math.min(this.heartbeatMs, 1000));
    this.timer.unref();
    // Sent at once so clients and proxies see the stream open; also the reconnect delay.
    res.write('retry: 1000\n\n');
    return w;
  }

  /** Ends every stream (server shutdown); clients reconnect with Last-Event-ID elsewhere. */
  closeAll(): void {
    for (const w of [...this.writers]) w.drop('server_shutdown');
  }

  /** @internal */
  forget(w: SseWriter, reason: DropReason | undefined, unsent: number): void {
    if (!this.writers.delete(w)) return;
    this.stats.open = this.writers.size;
    if (reason) {
      this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
      if (reason === 'slow_client')
        this.stats.maxUnsentAtDrop = Math.max(this.stats.maxUnsentAtDrop, unsent);
    }
    if (this.writers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const w of this.writers) w.tick(now);
  }
}

export class SseWriter {
  private done = false;
  private lastWriteAt = Date.now();
  /** Since when unsent data has been waiting without the socket draining. */
  private pendingSince: number | undefined;
  private drainWaiters: ((ok: boolean) => void)[] = [];
  private closeListeners: (() => void)[] = [];

  constructor(
    private readonly hub: SseHub,
    private readonly res: ServerResponse,
  ) {
    res.on('drain', this.onDrain);
    res.once('close', this.onSocketClose);
  }

  get closed(): boolean {
    return this.done;
  }

  /** More frames should wait until the socket drains (the bounded buffer is full). */
  get congested(): boolean {
    return this.res.writableLength > this.hub.maxBufferBytes;
  }

  /** Calls `fn` once when the stream ends for any reason. */
  onClose(fn: () => void): void {
    if (this.done) fn();
    else this.closeListeners.push(fn);
  }

  send(frame: SseFrame): void {
    if (this.done) return;
    let text = frame.id !== undefined ? `id: ${frame.id}\n` : '';
    text += `event: ${frame.event}\n`;
    for (const line of frame.data.split('\n')) text += `data: ${line}\n`;
    this.write(`${text}\n`);
  }

  /**
   * Resolves true once unsent data is down to the socket's own high-water mark (at once when
   * it is), false when the stream closed first.
   */
  drained(): Promise<boolean> {
    if (this.done) return Promise.resolve(false);
    if (!this.res.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Sends a last frame and closes the stream normally. */
  end(frame?: SseFrame): void {
    if (this.done) return;
    if (frame) this.send(frame);
    this.finish(undefined);
    this.res.end();
  }

  /**
   * Ends the stream early with `event: dropped` and the reason (never `error`, which EventSource
   * clients also get for their own connection errors); a stalled socket is destroyed.
   */
  drop(reason: DropReason, message = dropMessages[reason]): void {
    if (this.done) return;
    const unsent = this.res.writableLength;
    this.write(
      `: dropped: ${message}\nevent: dropped\ndata: ${JSON.stringify({ reason, message })}\n\n`,
    );
    this.finish(reason, unsent);
    this.res.end();
    if (reason === 'slow_client' || reason === 'server_shutdown') {
      // A reader that catches up sees the reason; one that never reads cannot hold the socket.
      const graceMs = reason === 'slow_client' ? Math.max(this.hub.stallMs, 5000) : 1000;
      const t = setTimeout(() => this.res.destroy(), graceMs);
      t.unref();
      this.res.once('close', () => clearTimeout(t));
    }
  }

  /** @internal Heartbeats on quiet streams; drops clients whose data does not drain. */
  tick(now: number): void {
    if (this.done) return;
    if (this.res.writableLength === 0) {
      this.pendingSince = undefined;
      if (now - this.lastWriteAt >= this.hub.heartbeatMs) this.write(': heartbeat\n\n');
      return;
    }
    this.pendingSince ??= now;
    if (now - this.pendingSince >= this.hub.stallMs) this.drop('slow_client');
  }

  private write(text: string): void {
    this.lastWriteAt = Date.now();
    this.res.write(text);
  }

  private readonly onDrain = (): void => {
    this.pendingSince = undefined;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w(true);
  };

  private readonly onSocketClose = (): void => {
    // The client went away (or the socket was destroyed): free everything.
    this.finish(undefined);
  };

  private finish(reason: DropReason | undefined, unsent = 0): void {
    if (this.done) return;
    this.done = true;
    this.res.off('drain', this.onDrain);
    this.hub.forget(this, reason, unsent);
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w(false);
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const l of listeners) l();
  }
}

const dropMessages: Record<DropReason, string> = {
  slow_client: 'the client did not read its stream in time; reconnect with Last-Event-ID to resume',
  server_shutdown: 'the server is shutting down; reconnect with Last-Event-ID to resume',
  execution_deleted: 'the execution was deleted',
};
