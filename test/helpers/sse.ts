/**
 * SSE clients for tests: a real EventSource (the `eventsource` package, which reconnects and
 * sends Last-Event-ID as browsers do) and a plain fetch reader that proves the server closed.
 */
import { EventSource } from 'eventsource';

export interface SseEvent {
  id: string;
  type: string;
  data: string;
}

/** Every event type the streams send (EventSource only dispatches named events to listeners). */
export const streamEventTypes = [
  'execution.status',
  'node.status',
  'node.retry_scheduled',
  'approval.requested',
  'input.requested',
  'chat.delta',
  'agent.step',
  'artifact.created',
  'cost.updated',
  'log',
  'end',
] as const;

export interface Follower {
  events: SseEvent[];
  /** Resolves with the `end` event's data; the source is closed by then. */
  ended: Promise<{ status: string }>;
  /** Resolves once `n` events (not counting `end`) have arrived. */
  received(n: number): Promise<void>;
  close(): void;
}

/** Opens an EventSource with a bearer token (and optionally a Last-Event-ID to resume after). */
export function follow(url: string, token: string, lastEventId?: string): Follower {
  const es = new EventSource(url, {
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        headers: {
          ...init.headers,
          authorization: `Bearer ${token}`,
          ...(lastEventId !== undefined && { 'last-event-id': lastEventId }),
        },
      }),
  });
  const events: SseEvent[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let endResolve: (v: { status: string }) => void = () => {};
  let endReject: (e: Error) => void = () => {};
  const ended = new Promise<{ status: string }>((resolve, reject) => {
    endResolve = resolve;
    endReject = reject;
  });
  // Callers may never await `ended` (they close early); the rejection is then not an error.
  ended.catch(() => {});
  for (const type of streamEventTypes) {
    es.addEventListener(type, (e: MessageEvent) => {
      if (type === 'end') {
        es.close();
        endResolve(JSON.parse(e.data as string) as { status: string });
        return;
      }
      events.push({ id: e.lastEventId, type, data: e.data as string });
      for (const w of waiters.filter((w) => events.length >= w.n)) w.resolve();
    });
  }
  // The server's own `event: dropped` (slow client, deleted execution, shutdown) ends the stream;
  // EventSource's `error` is only its connection failing, after which it reconnects.
  es.addEventListener('dropped', (e: MessageEvent) => {
    endReject(new Error(`stream dropped: ${e.data as string}`));
  });
  return {
    events,
    ended,
    received: (n) =>
      events.length >= n
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ n, resolve })),
    close: () => {
      es.close();
      endReject(new Error('closed by the test'));
    },
  };
}

/** Reads a whole SSE response with fetch; returning at all means the server closed it. */
export async function readToClose(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; contentType: string; text: string; frames: SseEvent[] }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    text,
    frames: parseFrames(text),
  };
}

/** Frames with an `event:` line, in order (comments and `retry:` skipped). */
export function parseFrames(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    let id = '';
    let type = '';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) type = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (type) out.push({ id, type, data: data.join('\n') });
  }
  return out;
}
