/**
 * The wire formats of the LLM providers, shared by the `llm` and `agent` nodes: a chat request
 * in one shape (messages, optional tools and tool results, JSON mode, streaming) turned into an
 * OpenAI-compatible `/chat/completions` or an Anthropic `/v1/messages` body, and a 2xx answer
 * (one JSON body, or the events of a streamed one) read back into one completion (text, tool
 * calls, usage). No I/O here: llm-api.ts makes the calls.
 */
import type { LlmProvider } from './executor.ts';

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

export interface StreamSink {
  onText(delta: string): void;
}

/** Reads the events of one streamed answer into a completion. */
export interface StreamAccumulator {
  event(name: string, data: string): void;
  /** The completion, or a message saying what went wrong (an error event, no events). */
  finish(): Completion | string;
}

export interface Completion {
  text: string;
  finishReason: string | null;
  toolCalls: ToolCall[];
  promptTokens?: number;
  completionTokens?: number;
}

export interface ProviderApi {
  request(chat: ChatRequest): { path: string; headers: Headers; body: unknown };
  /** The completion of a 2xx body, or a message saying what is missing. */
  parse(body: unknown): Completion | string;
  /** An accumulator for a streamed (`stream: true`) answer. */
  stream(sink: StreamSink): StreamAccumulator;
}

const anthropicVersion = '2023-06-01';
const defaultAnthropicMaxTokens = 1024;

export function apiOf(provider: LlmProvider): ProviderApi | undefined {
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
export function providerError(body: unknown): string | undefined {
  const error = field(body, 'error');
  const message = typeof error === 'string' ? error : field(error, 'message');
  return typeof message === 'string' ? message : undefined;
}

export function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
