/**
 * A scripted LLM provider on 127.0.0.1 speaking both wire formats: `POST /v1/chat/completions`
 * (OpenAI: `tool_calls` in the assistant message, `finish_reason: tool_calls|stop`,
 * `usage.prompt_tokens/completion_tokens`) and `POST /v1/messages` (Anthropic: `text` and
 * `tool_use` content blocks, `stop_reason: tool_use|end_turn`, `usage.input_tokens/output_tokens`).
 * Each request takes the next reply of the script, whichever format it uses; every request is
 * recorded so a test can check what was sent back (tool results). A request past the end of the
 * script is answered 500, which fails the node under test.
 *
 * A request with `stream: true` is answered with server-sent events, as each API streams: OpenAI
 * `data:` chunks with `choices[0].delta.content` and a last chunk with `usage` (when
 * `stream_options.include_usage` asks for it), then `data: [DONE]`; Anthropic `message_start`,
 * `content_block_delta` (`text_delta`), `message_delta` (stop reason, output tokens) and
 * `message_stop`. The text goes out in `chunks` pieces, each written (and flushed) on its own.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { LlmProvider } from '../../src/nodes/executor.ts';
import { startLocalServer } from './exec-context.ts';

export interface ScriptedToolCall {
  name: string;
  input: Record<string, unknown>;
  /** Default `call_<n>` (counted over the script). */
  id?: string;
}

export interface ScriptedReply {
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** Default 10 prompt and 5 completion tokens. */
  usage?: { prompt: number; completion: number };
  /** An error status instead of a completion (`{error: {message}}`). */
  status?: number;
  retryAfter?: string;
  /** Pieces the streamed text is split into (default 3); the text is cut at these lengths. */
  chunks?: number;
  /** Milliseconds to wait before answering (to hold calls open at once). */
  holdMs?: number;
  /** Milliseconds between the pieces of a streamed answer. */
  chunkDelayMs?: number;
}

export interface RecordedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeLlm {
  url: string;
  requests: RecordedRequest[];
  /** Replaces the script (and forgets the requests). */
  script(replies: ScriptedReply[]): void;
  /** Most requests the server had open at the same time since the last `script`. */
  readonly maxOpen: number;
  /** `performance.now()` when the last piece of the last streamed answer was written. */
  readonly lastPieceAt: number;
  /** Providers of both kinds on this server: `openai` and `anthropic`. */
  providers: Record<'openai' | 'anthropic', LlmProvider>;
  close(): Promise<void>;
}

export async function startFakeLlm(): Promise<FakeLlm> {
  let replies: ScriptedReply[] = [];
  let calls = 0;
  const requests: RecordedRequest[] = [];
  let open = 0;
  let maxOpen = 0;
  let lastPieceAt = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(json));
    };
    const path = req.url ?? '';
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return reply(400, { error: { message: 'the body is not JSON' } });
    }
    requests.push({ path, headers: req.headers, body });
    if (path !== '/v1/chat/completions' && path !== '/v1/messages')
      return reply(404, { error: { message: `no route ${path}` } });
    const next = replies.shift();
    if (next?.holdMs !== undefined) {
      open++;
      maxOpen = Math.max(maxOpen, open);
      await new Promise((resolve) => setTimeout(resolve, next.holdMs));
      open--;
    }
    if (next === undefined)
      return reply(500, { error: { message: 'the fake provider has no more scripted replies' } });
    if (next.status !== undefined) {
      const headers: Record<string, string> =
        next.retryAfter === undefined ? {} : { 'retry-after': next.retryAfter };
      return reply(next.status, { error: { message: `scripted ${next.status}` } }, headers);
    }
    const usage = next.usage ?? { prompt: 10, completion: 5 };
    const toolCalls = (next.toolCalls ?? []).map((c) => ({ ...c, id: c.id ?? `call_${++calls}` }));
    if (body.stream === true) {
      const anthropic = path === '/v1/messages';
      const usageAsked = field(body.stream_options, 'include_usage') === true;
      await streamReply(res, anthropic, next.text ?? '', next.chunks ?? 3, usage, usageAsked, {
        delayMs: next.chunkDelayMs ?? 0,
        wrote: (at) => (lastPieceAt = at),
      });
      return;
    }
    if (path === '/v1/chat/completions') {
      reply(200, {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: next.text ?? null,
              ...(toolCalls.length > 0 && {
                tool_calls: toolCalls.map((c) => ({
                  id: c.id,
                  type: 'function',
                  function: { name: c.name, arguments: JSON.stringify(c.input) },
                })),
              }),
            },
            finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
          },
        ],
        usage: {
          prompt_tokens: usage.prompt,
          completion_tokens: usage.completion,
          total_tokens: usage.prompt + usage.completion,
        },
      });
      return;
    }
    reply(200, {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      content: [
        ...(next.text === undefined ? [] : [{ type: 'text', text: next.text }]),
        ...toolCalls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: c.input })),
      ],
      stop_reason: toolCalls.length > 0 ? 'tool_use' : 'end_turn',
      usage: { input_tokens: usage.prompt, output_tokens: usage.completion },
    });
  };
  const server = await startLocalServer((req, res, raw) => {
    handle(req, res, raw).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
  return {
    url: server.url,
    requests,
    script(next) {
      replies = [...next];
      requests.length = 0;
      calls = 0;
      maxOpen = 0;
    },
    get maxOpen() {
      return maxOpen;
    },
    get lastPieceAt() {
      return lastPieceAt;
    },
    providers: {
      openai: { kind: 'openai', baseUrl: `${server.url}/v1`, apiKey: 'sk-fake' },
      anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: 'ak-fake' },
    },
    close: () => server.close(),
  };
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** `text` cut into `pieces` parts of about equal length (at least one, possibly empty). */
function split(text: string, pieces: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / pieces));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length === 0 ? [''] : out;
}

async function streamReply(
  res: ServerResponse,
  anthropic: boolean,
  text: string,
  pieces: number,
  usage: { prompt: number; completion: number },
  usageAsked: boolean,
  pace: { delayMs: number; wrote(at: number): void },
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = async (event: string | undefined, data: unknown) => {
    const head = event === undefined ? '' : `event: ${event}\n`;
    res.write(`${head}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    // Each piece leaves on its own, as a provider's tokens do.
    await new Promise((resolve) => setTimeout(resolve, pace.delayMs));
  };
  const piece = async (event: string | undefined, data: unknown) => {
    // `send` writes before it waits: the time is the write's.
    const sent = send(event, data);
    pace.wrote(performance.now());
    await sent;
  };
  if (anthropic) {
    await send('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        content: [],
        usage: { input_tokens: usage.prompt, output_tokens: 1 },
      },
    });
    await send('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    });
    for (const part of split(text, pieces))
      await piece('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: part },
      });
    await send('content_block_stop', { type: 'content_block_stop', index: 0 });
    await send('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: usage.completion },
    });
    await send('message_stop', { type: 'message_stop' });
  } else {
    const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
      id: 'chatcmpl-fake',
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    await send(undefined, chunk({ role: 'assistant', content: '' }, null));
    for (const part of split(text, pieces)) await piece(undefined, chunk({ content: part }, null));
    await send(undefined, chunk({}, 'stop'));
    if (usageAsked)
      await send(undefined, {
        id: 'chatcmpl-fake',
        object: 'chat.completion.chunk',
        choices: [],
        usage: {
          prompt_tokens: usage.prompt,
          completion_tokens: usage.completion,
          total_tokens: usage.prompt + usage.completion,
        },
      });
    await send(undefined, '[DONE]');
  }
  res.end();
}
