/**
 * Waiting on an execution's events (CONVENTIONS 11): a wait subscribes to the execution's change
 * notifications (the engine's commits in this process, LISTEN/NOTIFY from others) and re-reads
 * after each one; nothing waits on a timer. The deadline is a failure guard only.
 */
import type { Harness } from './harness.ts';

/** Deadline for any wait on a real execution: generous, for a loaded 2-core machine. */
export const waitDeadlineMs = 20_000;

/** Wire shapes of the error objects the events carry. */
export interface EventError {
  code: string;
  message: string;
  exitCode?: number;
  nodeId?: string;
}
interface EventCost {
  estimatedUsd: number;
  tokens: { prompt: number; completion: number };
  computeSeconds: number;
}

/**
 * The payload of each stream event type, as the contract names them. Written out here on
 * purpose: tests read the wire, not src/engine/types.ts.
 */
export interface EventData {
  'execution.status': { status: string; error?: EventError };
  'node.status': {
    nodeId: string;
    status: string;
    attempt: number;
    error?: EventError;
    statusReason?: string;
    /** On the `queued` event of a re-run: the attempt that was taken over. */
    takenOver?: number;
  };
  'node.retry_scheduled': {
    nodeId: string;
    attempt: number;
    nextAttempt: number;
    delayMs: number;
    error: EventError;
  };
  'approval.requested': { nodeId: string; message: string | null; approvers?: string[] };
  'input.requested': { nodeId?: string; message?: string | null; turn?: number; chat?: boolean };
  'chat.delta': { turn: number; nodeId: string; attempt: number; text: string };
  'agent.step': {
    nodeId: string;
    attempt: number;
    step: number;
    toolCalls: {
      id: string;
      name: string;
      args: string;
      ok: boolean;
      durationMs: number;
      error?: string;
    }[];
    toolCallsOmitted?: number;
    usage: { prompt: number; completion: number };
    finishReason: string | null;
  };
  'artifact.created': { nodeId: string | null; path: string; size: number };
  'cost.updated': { nodeId: string; node: EventCost; execution: EventCost };
}
export type EventType = keyof EventData;

export interface ExecutionEvent<T extends EventType = EventType> {
  seq: number;
  type: T;
  data: EventData[T];
  at: string;
}

/** A stream log line as the logs routes answer it. */
export interface LogEntry {
  line: number;
  nodeId: string;
  attempt: number;
  stream: string;
  text: string;
  at: string;
}

/** Rejects after `ms` with a message naming what was awaited; `clear` stops the timer. */
function deadline(ms: number, what: () => string): { expired: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)),
      ms,
    );
  });
  expired.catch(() => {});
  return { expired, clear: () => clearTimeout(timer) };
}

/**
 * Re-runs `check` once now and again after every change of the execution (`kind`: its events, or
 * its log lines) until it answers something other than undefined; fails at the deadline.
 */
export async function onChanges<T>(
  h: Harness,
  executionId: string,
  kind: 'events' | 'logs',
  what: () => string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = waitDeadlineMs,
): Promise<T> {
  // Subscribed before the first read: a commit between the read and the wait still wakes it.
  const sub = h.yard.streams.subscribe(executionId, kind);
  const guard = deadline(timeoutMs, what);
  try {
    for (;;) {
      const got = await Promise.race([check(), guard.expired]);
      if (got !== undefined) return got;
      await Promise.race([sub.wait(), guard.expired]);
    }
  } finally {
    guard.clear();
    sub.close();
  }
}

/**
 * The first event of `type` (after seq `after`, default: from the start) whose data satisfies
 * `match`. Events are durable, so one committed before the call is found too. Fails when the
 * execution ends without such an event (unless `pastEnd`: artifacts collected at release are
 * announced after the end), or at the deadline.
 */
export async function awaitEvent<T extends EventType>(
  h: Harness,
  executionId: string,
  type: T,
  match: (data: EventData[T]) => boolean = () => true,
  opts: { after?: number; timeoutMs?: number; pastEnd?: boolean } = {},
): Promise<ExecutionEvent<T>> {
  let cursor = opts.after ?? 0;
  const seen: string[] = [];
  const what = () =>
    `a ${type} event of ${executionId} after seq ${opts.after ?? 0}; saw ${seen.join(', ') || 'none'}`;
  return onChanges(
    h,
    executionId,
    'events',
    what,
    async () => {
      for (;;) {
        const batch = await h.yard.streams.readEvents(executionId, cursor, 500);
        if (batch.gone) throw new Error(`execution ${executionId} is gone; waited for ${what()}`);
        for (const e of batch.items) {
          cursor = e.seq;
          seen.push(`${e.seq}:${e.type} ${e.data}`);
          if (e.type !== type) continue;
          const data = JSON.parse(e.data) as EventData[T];
          if (match(data)) return { seq: e.seq, type, data, at: e.at };
        }
        if (batch.end !== null && opts.pastEnd !== true)
          throw new Error(`execution ${executionId} ended ${batch.end}; waited for ${what()}`);
        if (batch.items.length < 500) return undefined;
      }
    },
    opts.timeoutMs,
  );
}

/** The seq of the execution's latest event (0 before any): a cursor for `awaitEvent`'s `after`. */
export async function lastSeq(h: Harness, executionId: string): Promise<number> {
  let cursor = 0;
  for (;;) {
    const batch = await h.yard.streams.readEvents(executionId, cursor, 500);
    cursor = batch.items.at(-1)?.seq ?? cursor;
    if (batch.items.length < 500) return cursor;
  }
}

/**
 * The log lines of an execution once `match` holds for them (all lines so far, in order); woken
 * by each committed batch of lines.
 */
export async function awaitLogs(
  h: Harness,
  executionId: string,
  what: string,
  match: (lines: LogEntry[]) => boolean,
  timeoutMs = waitDeadlineMs,
): Promise<LogEntry[]> {
  const lines: LogEntry[] = [];
  return onChanges(
    h,
    executionId,
    'logs',
    () => `${what} in the logs of ${executionId}; saw ${JSON.stringify(lines.map((l) => l.text))}`,
    async () => {
      for (;;) {
        const batch = await h.yard.streams.readLogs(executionId, {}, lines.at(-1)?.line ?? 0, 500);
        lines.push(...batch.items);
        if (batch.items.length < 500) {
          if (match(lines)) return [...lines];
          if (batch.end !== null) throw new Error(`execution ${executionId} ended ${batch.end}`);
          return undefined;
        }
      }
    },
    timeoutMs,
  );
}
