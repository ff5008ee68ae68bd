/**
 * The provider layer of the `llm` and `agent` nodes: which provider a node calls (the default
 * one when it names none), and each call to it, bounded by the provider's timeout and its call
 * slots (`maxConcurrency`), tried again in place after `Retry-After` (`maxRetries`), its answer
 * read whole or streamed event by event (the formats are llm-wire.ts), failures mapped to the
 * node error codes (429/5xx and network errors retryable).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecContext, ExecResult, LlmProvider } from './executor.ts';
import { cancelled, fail, formatMs, parseRetryAfter } from './errors.ts';
import { exchange } from './http-client.ts';
import { isRetryableStatus } from './http.ts';
import { LineSplitter } from './line-splitter.ts';
import {
  type ChatRequest,
  type Completion,
  type ProviderApi,
  type StreamAccumulator,
  type StreamSink,
  apiOf,
  providerError,
  snippet,
} from './llm-wire.ts';

export type { ChatMessage, ToolResult } from './llm-wire.ts';

/** Most of a provider's response that is read; a longer one fails as ERR_LLM_RESPONSE. */
const maxLlmResponseBytes = 8 * 1024 * 1024;
/** Longest line of a streamed answer (one event's data). */
const maxSseLineChars = 1024 * 1024;

/**
 * The configured provider `name` and its wire format, or the failed result saying why not; no
 * name: the default provider (`default: true`, or the only one configured).
 */
export function resolveProvider(
  ctx: ExecContext<unknown>,
  name: string | undefined,
): { name: string; provider: LlmProvider; api: ProviderApi } | { failed: ExecResult } {
  const names = [...ctx.providers.keys()];
  const known = names.length === 0 ? 'none are configured' : `configured: ${names.join(', ')}`;
  const chosen = name ?? names.find((n) => ctx.providers.get(n)!.isDefault === true);
  if (chosen === undefined) {
    return {
      failed: fail(
        'ERR_LLM_PROVIDER',
        `the node names no provider and the server has no default provider (${known}; set default: true on one)`,
      ),
    };
  }
  const provider = ctx.providers.get(chosen);
  if (provider === undefined) {
    return {
      failed: fail('ERR_LLM_PROVIDER', `unknown LLM provider ${JSON.stringify(chosen)} (${known})`),
    };
  }
  const api = apiOf(provider);
  if (api === undefined) {
    return {
      failed: fail('ERR_LLM_PROVIDER', `provider ${JSON.stringify(chosen)} has an unknown kind`),
    };
  }
  return { name: chosen, provider, api };
}

export type ChatOutcome =
  { completion: Completion; status: number; ms: number } | { failed: ExecResult };

/** Retries in place when the provider sets no `maxRetries`. */
const defaultMaxRetries = 2;
/** A longer `Retry-After` is left to the engine's durable retry of the node (its `retryAfterMs`). */
const maxRetryWaitMs = 30_000;

/**
 * One call, tried again in place on a 429/5xx, a lost connection or a garbled answer, up to the
 * provider's `maxRetries`, after `Retry-After` (else 0.5 s, 1 s, …); a wait longer than 30 s or
 * than the time left ends the call with the retryable failure, so the engine retries the node
 * later. `limits` bounds it (the time left of the node's timeout, its cancel signal); a failure is
 * the node's failed result with the llm codes. `label` names the call in logs.
 */
export async function chat(
  ctx: ExecContext<unknown>,
  target: { provider: LlmProvider; api: ProviderApi },
  request: ChatRequest,
  label: string,
  limits: { timeoutMs?: number | undefined; signal: AbortSignal } = ctx,
): Promise<ChatOutcome> {
  const retries = target.provider.maxRetries ?? defaultMaxRetries;
  const started = performance.now();
  const left = () =>
    limits.timeoutMs === undefined
      ? undefined
      : Math.max(0, limits.timeoutMs - (performance.now() - started));
  for (let retry = 0; ; retry++) {
    const outcome = await callOnce(ctx, target, request, label, {
      timeoutMs: left(),
      signal: limits.signal,
    });
    if (!('failed' in outcome)) return outcome;
    const error = outcome.failed.status === 'failed' ? outcome.failed.error : undefined;
    const transient =
      error !== undefined &&
      error.retryable &&
      (error.code === 'ERR_LLM_STATUS' ||
        error.code === 'ERR_LLM_NETWORK' ||
        error.code === 'ERR_LLM_RESPONSE');
    if (!transient || retry >= retries) return outcome;
    const waitMs = error.retryAfterMs ?? 500 * 2 ** retry;
    const after = left();
    if (waitMs > maxRetryWaitMs || (after !== undefined && waitMs >= after)) return outcome;
    ctx.log(
      'system',
      `${error.message}; trying again in ${formatMs(waitMs)} (retry ${retry + 1} of ${retries})`,
    );
    try {
      await sleep(waitMs, undefined, { signal: limits.signal });
    } catch {
      return { failed: cancelled(limits.signal) };
    }
  }
}

/** One exchange with the provider, inside one of its call slots. */
async function callOnce(
  ctx: ExecContext<unknown>,
  target: { provider: LlmProvider; api: ProviderApi },
  request: ChatRequest,
  label: string,
  limits: { timeoutMs?: number | undefined; signal: AbortSignal },
): Promise<ChatOutcome> {
  const { provider, api } = target;
  const queued = performance.now();
  let release: (() => void) | undefined;
  if (provider.slots !== undefined) {
    const wait = [limits.signal];
    if (limits.timeoutMs !== undefined) wait.push(AbortSignal.timeout(limits.timeoutMs));
    try {
      release = await provider.slots.acquire(AbortSignal.any(wait));
    } catch {
      if (limits.signal.aborted) return { failed: cancelled(limits.signal) };
      return {
        failed: fail(
          'ERR_NODE_TIMEOUT',
          `llm ${label} timed out after ${formatMs(ctx.timeoutMs ?? 0)} waiting for one of the provider's ${provider.slots.size} call slots (maxConcurrency)`,
        ),
      };
    }
  }
  try {
    const waited = performance.now() - queued;
    const nodeLeft = limits.timeoutMs === undefined ? undefined : limits.timeoutMs - waited;
    const ownTimeout =
      provider.timeoutMs !== undefined && (nodeLeft === undefined || provider.timeoutMs < nodeLeft);
    return await exchangeOnce(ctx, api, provider, request, label, {
      timeoutMs: ownTimeout ? provider.timeoutMs : nodeLeft,
      signal: limits.signal,
      ownTimeout,
    });
  } finally {
    release?.();
  }
}

async function exchangeOnce(
  ctx: ExecContext<unknown>,
  api: ProviderApi,
  provider: LlmProvider,
  request: ChatRequest,
  label: string,
  limits: { timeoutMs?: number | undefined; signal: AbortSignal; ownTimeout: boolean },
): Promise<ChatOutcome> {
  const built = api.request(request);
  built.headers.set('content-type', 'application/json');
  const url = `${provider.baseUrl.replace(/\/+$/, '')}${built.path}`;
  const stream = request.stream === undefined ? undefined : new StreamReader(api, request.stream);
  const outcome = await exchange(
    limits,
    ctx.egress.llm,
    url,
    { method: 'POST', headers: built.headers, body: JSON.stringify(built.body) },
    maxLlmResponseBytes,
    stream && ((chunk, head) => stream.push(chunk, head)),
  );
  if (outcome.kind !== 'response') {
    const what =
      outcome.kind === 'network' || outcome.kind === 'forbidden'
        ? `error: ${outcome.message}`
        : outcome.kind;
    ctx.log('system', `llm ${label} → ${what} (${outcome.ms} ms)`);
    if (outcome.kind === 'timeout' && limits.ownTimeout) {
      return {
        failed: fail(
          'ERR_LLM_NETWORK',
          `llm ${label}: no answer within ${formatMs(provider.timeoutMs ?? 0)} (the provider's timeout)`,
        ),
      };
    }
    if (outcome.kind === 'timeout') {
      return {
        failed: fail(
          'ERR_NODE_TIMEOUT',
          `llm ${label} timed out after ${formatMs(ctx.timeoutMs ?? 0)}`,
        ),
      };
    }
    if (outcome.kind === 'cancelled') return { failed: cancelled(limits.signal) };
    if (outcome.kind === 'forbidden')
      return { failed: fail('ERR_EGRESS_FORBIDDEN', `llm ${label}: ${outcome.message}`) };
    return { failed: fail('ERR_LLM_NETWORK', `llm ${label}: ${url} failed: ${outcome.message}`) };
  }
  const response = outcome.response;
  if (stream?.streamed === true && response.status >= 200 && response.status < 300) {
    const completion = stream.finish(response.truncated);
    if (typeof completion === 'string') {
      ctx.log('system', `llm ${label} → ${response.status} (${response.ms} ms)`);
      return { failed: fail('ERR_LLM_RESPONSE', `llm ${label}: ${completion}`) };
    }
    return { completion, status: response.status, ms: response.ms };
  }
  const text = response.body.toString('utf8');
  let body: unknown;
  try {
    body = response.truncated ? undefined : (JSON.parse(text) as unknown);
  } catch {
    body = undefined;
  }
  if (response.status < 200 || response.status >= 300) {
    ctx.log('system', `llm ${label} → ${response.status} (${response.ms} ms)`);
    const retryable = isRetryableStatus(response.status);
    return {
      failed: fail(
        'ERR_LLM_STATUS',
        `llm ${label} answered ${response.status}: ${providerError(body) ?? snippet(text)}`,
        {
          retryable,
          retryAfterMs: retryable ? parseRetryAfter(response.retryAfter, Date.now()) : undefined,
        },
      ),
    };
  }
  // A provider that ignores `stream: true` answers one JSON body: read as such.
  const completion: Completion | string =
    body === undefined
      ? response.truncated
        ? `the response is larger than ${maxLlmResponseBytes} bytes`
        : 'the response is not JSON'
      : api.parse(body);
  if (typeof completion === 'string') {
    ctx.log('system', `llm ${label} → ${response.status} (${response.ms} ms)`);
    return { failed: fail('ERR_LLM_RESPONSE', `llm ${label}: ${completion}`) };
  }
  if (request.stream !== undefined && completion.text !== '')
    request.stream.onText(completion.text);
  return { completion, status: response.status, ms: response.ms };
}

/**
 * A streamed (server-sent events) answer read as it arrives: each event goes to the API's
 * accumulator, which hands text deltas to `onText`; only a 2xx `text/event-stream` is read so.
 */
class StreamReader {
  streamed = false;
  private readonly lines: LineSplitter;
  private readonly events: StreamAccumulator;
  private event = '';
  private data: string[] = [];

  constructor(api: ProviderApi, sink: StreamSink) {
    this.events = api.stream(sink);
    this.lines = new LineSplitter((line) => this.line(line), maxSseLineChars);
  }

  push(chunk: Uint8Array, head: { status: number; contentType: string }): void {
    if (head.status < 200 || head.status >= 300) return;
    if (!head.contentType.toLowerCase().startsWith('text/event-stream')) return;
    this.streamed = true;
    this.lines.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  finish(truncated: boolean): Completion | string {
    this.lines.end();
    this.line('');
    if (truncated) return `the response is larger than ${maxLlmResponseBytes} bytes`;
    return this.events.finish();
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.events.event(this.event, this.data.join('\n'));
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') this.event = value;
    else if (name === 'data') this.data.push(value);
  }
}
