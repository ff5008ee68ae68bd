/**
 * The wire formats of the LLM providers, shared by the `llm` and `agent` nodes: a chat request
 * in one shape (messages, optional tools and tool results) turned into an OpenAI-compatible
 * `/chat/completions` or an Anthropic `/v1/messages` body, the 2xx body read back into one
 * completion (text, tool calls, usage), and one exchange with its failures mapped to the node
 * error codes (429/5xx and network errors retryable).
 */
import type { ExecContext, ExecResult, LlmProvider } from './executor.ts';
import { cancelled, fail, formatMs, parseRetryAfter } from './errors.ts';
import { exchange } from './http-client.ts';
import { isRetryableStatus } from './http.ts';

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
}

const anthropicVersion = '2023-06-01';
const defaultAnthropicMaxTokens = 1024;
/** Most of a provider's response that is read; a longer one fails as ERR_LLM_RESPONSE. */
const maxLlmResponseBytes = 8 * 1024 * 1024;

/** The configured provider `name` and its wire format, or the failed result saying why not. */
export function resolveProvider(
  ctx: ExecContext<unknown>,
  name: string,
): { provider: LlmProvider; api: ProviderApi } | { failed: ExecResult } {
  const provider = ctx.providers.get(name);
  if (provider === undefined) {
    const names = [...ctx.providers.keys()];
    const known = names.length === 0 ? 'none are configured' : `configured: ${names.join(', ')}`;
    return {
      failed: fail('ERR_LLM_PROVIDER', `unknown LLM provider ${JSON.stringify(name)} (${known})`),
    };
  }
  const api = apiOf(provider);
  if (api === undefined) {
    return {
      failed: fail('ERR_LLM_PROVIDER', `provider ${JSON.stringify(name)} has an unknown kind`),
    };
  }
  return { provider, api };
}

export type ChatOutcome =
  { completion: Completion; status: number; ms: number } | { failed: ExecResult };

/**
 * One call: `limits` bounds it (the time left of the node's timeout, its cancel signal); a
 * failure is the node's failed result with the llm codes. `label` names the call in logs.
 */
export async function chat(
  ctx: ExecContext<unknown>,
  target: { provider: LlmProvider; api: ProviderApi },
  request: ChatRequest,
  label: string,
  limits: { timeoutMs?: number | undefined; signal: AbortSignal } = ctx,
): Promise<ChatOutcome> {
  const { provider, api } = target;
  const built = api.request(request);
  built.headers.set('content-type', 'application/json');
  const url = `${provider.baseUrl.replace(/\/+$/, '')}${built.path}`;
  const outcome = await exchange(
    limits,
    ctx.egress.llm,
    url,
    { method: 'POST', headers: built.headers, body: JSON.stringify(built.body) },
    maxLlmResponseBytes,
  );
  if (outcome.kind !== 'response') {
    const what =
      outcome.kind === 'network' || outcome.kind === 'forbidden'
        ? `error: ${outcome.message}`
        : outcome.kind;
    ctx.log('system', `llm ${label} → ${what} (${outcome.ms} ms)`);
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
  return { completion, status: response.status, ms: response.ms };
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
      const messages: unknown[] =
        chat.system === undefined ? [] : [{ role: 'system', content: chat.system }];
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
      const system = chat.system === undefined ? [] : [chat.system];
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
