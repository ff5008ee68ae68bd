/**
 * A small Server-Sent Events reader over a fetch body: lines are split on CR, LF or CRLF;
 * `event`, `data` (joined with newlines), `id` and `retry` fields; `:` lines are comments
 * (heartbeats); a blank line dispatches the event. See the HTML "event stream" format.
 */
import type { ApiClient, Query } from './client.ts';
import { CliError, ExitCode } from './exit-codes.ts';

export interface SseEvent {
  /** `message` when the frame has no `event:` field. */
  event: string;
  data: string;
  /** The frame's `id:`, when it has one. */
  id: string | undefined;
}

async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let sawField = false;
  // A CR at the end of a chunk may be followed by an LF in the next one.
  let skipLf = false;

  const dispatch = (): SseEvent | undefined => {
    const out =
      sawField && (data.length > 0 || event !== '')
        ? { event: event || 'message', data: data.join('\n'), id }
        : undefined;
    event = '';
    data = [];
    id = undefined;
    sawField = false;
    return out;
  };

  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      if (skipLf && buffer.startsWith('\n')) buffer = buffer.slice(1);
      skipLf = false;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const ch = buffer[i];
        if (ch !== '\n' && ch !== '\r') continue;
        const line = buffer.slice(start, i);
        if (ch === '\r') {
          if (i + 1 < buffer.length) {
            if (buffer[i + 1] === '\n') i++;
          } else skipLf = true;
        }
        start = i + 1;
        if (line === '') {
          const ev = dispatch();
          if (ev !== undefined) yield ev;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        sawField = true;
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
      buffer = buffer.slice(start);
    }
  } finally {
    reader.releaseLock();
  }
}

export interface FollowOptions {
  query?: Query;
  signal?: AbortSignal;
  /** Resume after this event id (sent as `Last-Event-ID`). */
  lastEventId?: string;
  /** Connection attempts in a row that may fail before giving up. */
  maxFailures?: number;
}

/**
 * Reads an SSE route until its `end` event, reconnecting with `Last-Event-ID` when the connection
 * drops or the server answers 5xx/429 (backoff 250 ms doubling to 5 s). Other error answers are
 * thrown as they are (a missing route is a CliError with code `ERR_NOT_FOUND`).
 */
export async function followEvents(
  client: ApiClient,
  path: string,
  onEvent: (event: SseEvent) => void,
  opts: FollowOptions = {},
): Promise<void> {
  let last = opts.lastEventId;
  let failures = 0;
  const maxFailures = opts.maxFailures ?? 20;
  for (;;) {
    let res: Response | undefined;
    try {
      res = await client.fetch('GET', path, {
        ...(opts.query !== undefined && { query: opts.query }),
        headers: {
          accept: 'text/event-stream',
          ...(last !== undefined && { 'last-event-id': last }),
        },
        ...(opts.signal !== undefined && { signal: opts.signal }),
      });
    } catch (err) {
      if (opts.signal?.aborted || !retryable(err)) throw err;
    }
    if (res?.body) {
      try {
        for await (const ev of readSse(res.body)) {
          failures = 0;
          if (ev.id !== undefined) last = ev.id;
          onEvent(ev);
          if (ev.event === 'end') {
            await res.body.cancel().catch(() => undefined);
            return;
          }
        }
      } catch (err) {
        if (opts.signal?.aborted) throw err;
      }
    }
    failures++;
    if (failures > maxFailures) {
      throw new CliError(
        `lost the event stream at ${client.baseUrl} (${failures} attempts to reconnect failed)`,
        ExitCode.usage,
      );
    }
    await sleep(Math.min(250 * 2 ** (failures - 1), 5000), opts.signal);
  }
}

function retryable(err: unknown): boolean {
  if (!(err instanceof CliError)) return false;
  if (err.status === undefined) return err.code === 'ERR_NETWORK';
  return err.status >= 500 || err.status === 429;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
