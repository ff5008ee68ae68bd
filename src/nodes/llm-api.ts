/**
 * The wire formats of the LLM providers, shared by the `llm` and `agent` nodes: a chat request
 * in one shape (messages, optional tools and tool results) turned into an OpenAI-compatible
 * `/chat/completions` or an Anthropic `/v1/messages` body, the 2xx body read back into one
 * completion (text, tool calls, usage) — or a streamed answer read event by event — and the
 * provider layer around each call: the default provider, the provider's timeout, its call slots
 * (`maxConcurrency`) and in-place retries after `Retry-After` (`maxRetries`), failures mapped to
 * the node error codes (429/5xx and network errors retryable).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecContext, ExecResult, LlmProvider } from './executor.ts';
import { cancelled, fail, formatMs, parseRetryAfter } from './errors.ts';
import { exchange } from './http-client.ts';
import { isRetryableStatus } from './http.ts';
import { LineSplitter } from './line-splitter.ts';

/** A tool the model may call: its JSON Schema is the `parameters`/`input_schema`. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

interface ToolCall {
  id: string;
  name: string;
  /** The arguments as the model gave them: an object, or a string when they are not JSON. */
  input: unknown;
}

export interface ToolResult {
  id: string;
  content: string;
  isError: boolean;
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  /** The results of the previous assistant message's tool calls, in its order. */
  | { role: 'tool'; results: ToolResult[] };

export interface ChatRequest {
  model: string;
  system?: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  tools?: ToolSpec[];
  /** Ask for one JSON value (`response_format: json`), valid for `schema` when one is given. */
  json?: { schema?: Record<string, unknown> };
  /** Stream the answer: text deltas go to the sink as they arrive. */
  stream?: StreamSink;
}

interface StreamSink {
  onText(delta: string): void;
}

/** Reads the events of one streamed answer into a completion. */
interface StreamAccumulator {
  event(name: string, data: string): void;
  /** The completion, or a message saying what went wrong (an error event, no events). */
  finish(): Completion | string;
}

interface Completion {
  text: string;
  finishReason: string | null;
  toolCalls: ToolCall[];
  promptTokens?: number;
  completionTokens?: number;
}

interface ProviderApi {
  request(chat: ChatRequest): { path: string; headers: Headers; body: unknown };
  /** The completion of a 2xx body, or a message saying what is missing. */
  parse(body: unknown): Completion | string;
  /** An accumulator for a streamed (`stream: true`) answer. */
  stream(sink: StreamSink): StreamAccumulator;
}

const anthropicVersion = '2023-06-01';
const defaultAnthropicMaxTokens = 1024;
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

function apiOf(provider: LlmProvider): ProviderApi | undefined {
  switch (provider.kind) {
    case 'openai':
      return openaiApi(provider);
    case 'anthropic':
      return anthropicApi(provider);
    default:
      return undefined;
  }
}

function openaiApi(provider: LlmProvider): ProviderApi {
  return {
    request(chat) {
      const headers = new Headers();
      if (provider.apiKey !== undefined) headers.set('authorization', `Bearer ${provider.apiKey}`);
      const system = systemText(chat);
      const messages: unknown[] = system === undefined ? [] : [{ role: 'system', content: system }];
      for (const m of chat.messages) {
        if (m.role === 'tool') {
          for (const r of m.results)
            messages.push({ role: 'tool', tool_call_id: r.id, content: r.content });
        } else if (m.role === 'assistant' && m.toolCalls !== undefined && m.toolCalls.length > 0) {
          messages.push({
            role: 'assistant',
            content: m.content === '' ? null : m.content,
            tool_calls: m.toolCalls.map((c) => ({
              id: c.id,
              type: 'function',
              function: {
                name: c.name,
                arguments: typeof c.input === 'string' ? c.input : JSON.stringify(c.input),
              },
            })),
          });
        } else messages.push({ role: m.role, content: m.content });
      }
      const body: Record<string, unknown> = { model: chat.model, messages };
      if (chat.json !== undefined) {
        body.response_format =
          chat.json.schema === undefined
            ? { type: 'json_object' }
            : { type: 'json_schema', json_schema: { name: 'output', schema: chat.json.schema } };
      }
      if (chat.stream !== undefined) {
        body.stream = true;
        // Without it a streamed call reports no usage, and would cost $0.
        body.stream_options = { include_usage: true };
      }
      if (chat.maxTokens !== undefined) body.max_tokens = chat.maxTokens;
      if (chat.temperature !== undefined) body.temperature = chat.temperature;
      if (chat.tools !== undefined && chat.tools.length > 0) {
        body.tools = chat.tools.map((t) => ({
          type: 'function',
          function: { name: t.name, description: t.description, parameters: t.parameters },
        }));
      }
      return { path: '/chat/completions', headers, body };
    },
    stream(sink) {
      let text = '';
      let finishReason: string | null = null;
      let promptTokens: number | undefined;
      let completionTokens: number | undefined;
      let chunks = 0;
      let error: string | undefined;
      return {
        event(_name, data) {
          if (data === '[DONE]') return;
          const chunk = parseJson(data);
          if (chunk === undefined) {
            error ??= `a streamed chunk is not JSON: ${snippet(data)}`;
            return;
          }
          chunks++;
          error ??= providerError(chunk);
          const choice = field(field(chunk, 'choices'), 0);
          const delta = field(field(choice, 'delta'), 'content');
          if (typeof delta === 'string' && delta !== '') {
            text += delta;
            sink.onText(delta);
          }
          const reason = field(choice, 'finish_reason');
          if (typeof reason === 'string') finishReason = reason;
          const usage = field(chunk, 'usage');
          promptTokens = count(field(usage, 'prompt_tokens')) ?? promptTokens;
          completionTokens = count(field(usage, 'completion_tokens')) ?? completionTokens;
        },
        finish() {
          if (error !== undefined) return `the stream failed: ${error}`;
          if (chunks === 0) return 'the stream had no chunks';
          return { text, finishReason, toolCalls: [], promptTokens, completionTokens };
        },
      };
    },
    parse(body) {
      const choice = field(field(body, 'choices'), 0);
      const message = field(choice, 'message');
      if (message === undefined) return 'the response has no choices[0].message';
      const usage = field(body, 'usage');
      const calls = field(message, 'tool_calls');
      const toolCalls: ToolCall[] = [];
      if (Array.isArray(calls)) {
        for (const call of calls) {
          const id = field(call, 'id');
          const name = field(field(call, 'function'), 'name');
          if (typeof id !== 'string' || typeof name !== 'string')
            return 'a tool call has no id or function name';
          const args = field(field(call, 'function'), 'arguments');
          toolCalls.push({ id, name, input: parseArguments(args) });
        }
      }
      return {
        text: contentText(field(message, 'content')),
        finishReason: stringOrNull(field(choice, 'finish_reason')),
        toolCalls,
        promptTokens: count(field(usage, 'prompt_tokens')),
        completionTokens: count(field(usage, 'completion_tokens')),
      };
    },
  };
}

function anthropicApi(provider: LlmProvider): ProviderApi {
  return {
    request(chat) {
      const headers = new Headers({ 'anthropic-version': anthropicVersion });
      if (provider.apiKey !== undefined) headers.set('x-api-key', provider.apiKey);
      // Anthropic takes system text as a field, not as messages; tool results are user blocks.
      const first = systemText(chat);
      const system = first === undefined ? [] : [first];
      const messages: unknown[] = [];
      for (const m of chat.messages) {
        if (m.role === 'system') system.push(m.content);
        else if (m.role === 'tool') {
          messages.push({
            role: 'user',
            content: m.results.map((r) => ({
              type: 'tool_result',
              tool_use_id: r.id,
              content: r.content,
              ...(r.isError && { is_error: true }),
            })),
          });
        } else if (m.role === 'assistant' && m.toolCalls !== undefined && m.toolCalls.length > 0) {
          messages.push({
            role: 'assistant',
            content: [
              ...(m.content === '' ? [] : [{ type: 'text', text: m.content }]),
              ...m.toolCalls.map((c) => ({
                type: 'tool_use',
                id: c.id,
                name: c.name,
                input: typeof c.input === 'object' && c.input !== null ? c.input : {},
              })),
            ],
          });
        } else messages.push({ role: m.role, content: m.content });
      }
      const body: Record<string, unknown> = {
        model: chat.model,
        max_tokens: chat.maxTokens ?? defaultAnthropicMaxTokens,
        messages,
      };
      if (system.length > 0) body.system = system.join('\n\n');
      if (chat.stream !== undefined) body.stream = true;
      if (chat.temperature !== undefined) body.temperature = chat.temperature;
      if (chat.tools !== undefined && chat.tools.length > 0) {
        body.tools = chat.tools.map((t) => ({
          name: t.name,
          description: t.description,
          input_schema: t.parameters,
        }));
      }
      return { path: '/v1/messages', headers, body };
    },
    stream(sink) {
      let text = '';
      let finishReason: string | null = null;
      let promptTokens: number | undefined;
      let completionTokens: number | undefined;
      let started = false;
      let error: string | undefined;
      return {
        event(name, data) {
          const event = parseJson(data);
          const type = field(event, 'type') ?? name;
          if (type === 'error' || event === undefined) {
            error ??= providerError(event) ?? snippet(data);
            return;
          }
          if (type === 'message_start') {
            started = true;
            const usage = field(field(event, 'message'), 'usage');
            promptTokens = count(field(usage, 'input_tokens'));
            completionTokens = count(field(usage, 'output_tokens'));
          } else if (type === 'content_block_delta') {
            const delta = field(event, 'delta');
            const piece = field(delta, 'text');
            if (field(delta, 'type') === 'text_delta' && typeof piece === 'string') {
              text += piece;
              sink.onText(piece);
            }
          } else if (type === 'message_delta') {
            const reason = field(field(event, 'delta'), 'stop_reason');
            if (typeof reason === 'string') finishReason = reason;
            const usage = field(event, 'usage');
            promptTokens = count(field(usage, 'input_tokens')) ?? promptTokens;
            completionTokens = count(field(usage, 'output_tokens')) ?? completionTokens;
          }
        },
        finish() {
          if (error !== undefined) return `the stream failed: ${error}`;
          if (!started) return 'the stream had no message_start event';
          return { text, finishReason, toolCalls: [], promptTokens, completionTokens };
        },
      };
    },
    parse(body) {
      const content = field(body, 'content');
      if (!Array.isArray(content)) return 'the response has no content list';
      const usage = field(body, 'usage');
      const toolCalls: ToolCall[] = [];
      for (const block of content) {
        if (field(block, 'type') !== 'tool_use') continue;
        const id = field(block, 'id');
        const name = field(block, 'name');
        if (typeof id !== 'string' || typeof name !== 'string')
          return 'a tool_use block has no id or name';
        toolCalls.push({ id, name, input: field(block, 'input') ?? {} });
      }
      return {
        text: contentText(content),
        finishReason: stringOrNull(field(body, 'stop_reason')),
        toolCalls,
        promptTokens: count(field(usage, 'input_tokens')),
        completionTokens: count(field(usage, 'output_tokens')),
      };
    },
  };
}

/**
 * The system text of a request: its own, plus the instruction to answer in JSON when asked
 * (Anthropic has no JSON mode, and OpenAI's requires the word JSON in the messages).
 */
function systemText(chat: ChatRequest): string | undefined {
  if (chat.json === undefined) return chat.system;
  const instruction =
    chat.json.schema === undefined
      ? 'Answer with a single JSON value and nothing else: no prose, no code fences.'
      : `Answer with a single JSON value and nothing else (no prose, no code fences), valid for this JSON Schema: ${JSON.stringify(chat.json.schema)}`;
  return chat.system === undefined ? instruction : `${chat.system}\n\n${instruction}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** OpenAI sends arguments as a JSON string; one that does not parse is kept as the string. */
function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string') return args ?? {};
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}

function field(value: unknown, key: string | number): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as Record<string | number, unknown>)[key];
}

/** A string content, or the concatenated `text` of a list of content blocks. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block) => {
      const text = field(block, 'text');
      const type = field(block, 'type');
      return typeof text === 'string' && (type === undefined || type === 'text') ? text : '';
    })
    .join('');
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** The provider's own error message (`{error: {message}}` in both APIs). */
function providerError(body: unknown): string | undefined {
  const error = field(body, 'error');
  const message = typeof error === 'string' ? error : field(error, 'message');
  return typeof message === 'string' ? message : undefined;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
