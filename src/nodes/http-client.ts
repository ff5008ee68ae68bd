/**
 * One HTTP exchange for the `http` and `llm` executors: the node timeout and the cancel signal
 * both abort it (body included), the response body is read up to a cap, and the outcome says which
 * of timeout, cancel, egress refusal or network error ended it. It goes through an egress client
 * (src/egress/dispatcher.ts), never the global fetch, so every connection is checked.
 */
import { type Dispatcher, type Response, fetch } from 'undici';
import { EgressForbiddenError } from '../egress/dispatcher.ts';
import { errorMessage, watchAttempt } from './errors.ts';

interface HttpExchange {
  status: number;
  /** Header names lowercased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  contentType: string;
  /** The body bytes read (at most the cap). */
  body: Buffer;
  /** True when the body was longer than the cap and the rest was not read. */
  truncated: boolean;
  retryAfter: string | null;
  ms: number;
}

export type HttpOutcome =
  | { kind: 'response'; response: HttpExchange }
  | { kind: 'timeout'; ms: number }
  | { kind: 'cancelled'; ms: number }
  /** The egress policy refused the address (`message` names it and the setting that opens it). */
  | { kind: 'forbidden'; message: string; ms: number }
  | { kind: 'network'; message: string; ms: number };

export async function exchange(
  ctx: { timeoutMs?: number | undefined; signal: AbortSignal },
  dispatcher: Dispatcher,
  url: string,
  init: { method: string; headers: Headers; body?: string },
  maxBodyBytes: number,
  /** Sees each chunk of the body as it arrives (streamed answers), with the response's status. */
  onChunk?: (chunk: Uint8Array, head: { status: number; contentType: string }) => void,
): Promise<HttpOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const controller = new AbortController();
  let stopped: 'timeout' | 'cancelled' | undefined;
  const stop = (reason: 'timeout' | 'cancelled') => {
    if (stopped !== undefined) return;
    stopped = reason;
    controller.abort(new Error(reason));
  };
  const unwatch = watchAttempt(ctx, stop);
  try {
    const response = await fetch(url, {
      method: init.method,
      headers: [...init.headers],
      body: init.body,
      signal: controller.signal,
      redirect: 'follow',
      dispatcher,
    });
    const head = {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
    };
    const { body, truncated } = await readCapped(
      response,
      maxBodyBytes,
      onChunk && ((chunk) => onChunk(chunk, head)),
    );
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      const seen = headers[name];
      headers[name] = seen === undefined ? value : `${seen}, ${value}`;
    });
    return {
      kind: 'response',
      response: {
        status: response.status,
        headers,
        contentType: response.headers.get('content-type') ?? '',
        body,
        truncated,
        retryAfter: response.headers.get('retry-after'),
        ms: elapsed(),
      },
    };
  } catch (error) {
    if (stopped !== undefined) return { kind: stopped, ms: elapsed() };
    const cause = (error as { cause?: unknown } | undefined)?.cause;
    if (cause instanceof EgressForbiddenError)
      return { kind: 'forbidden', message: cause.message, ms: elapsed() };
    return { kind: 'network', message: networkMessage(error), ms: elapsed() };
  } finally {
    unwatch();
  }
}

async function readCapped(
  response: Response,
  maxBytes: number,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<{ body: Buffer; truncated: boolean }> {
  if (response.body === null) return { body: Buffer.alloc(0), truncated: false };
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { body: Buffer.concat(chunks, size), truncated: false };
    onChunk?.(value);
    const room = maxBytes - size;
    if (value.byteLength > room) {
      chunks.push(Buffer.from(value.buffer, value.byteOffset, room));
      size += room;
      await reader.cancel();
      return { body: Buffer.concat(chunks, size), truncated: true };
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    size += value.byteLength;
  }
}

/** undici's "fetch failed" hides the reason in `cause` (ECONNREFUSED, ENOTFOUND, ...). */
function networkMessage(error: unknown): string {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause !== undefined) {
    const code = (cause as { code?: unknown }).code;
    const text = errorMessage(cause);
    return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
  }
  return errorMessage(error);
}

export function isJsonContentType(contentType: string): boolean {
  const media = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json') || media === 'text/json';
}

/** The URL for logs and messages, without userinfo. */
export function displayUrl(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}
