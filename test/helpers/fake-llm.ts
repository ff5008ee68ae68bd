/**
 * A scripted LLM provider on 127.0.0.1 speaking both wire formats: `POST /v1/chat/completions`
 * (OpenAI: `tool_calls` in the assistant message, `finish_reason: tool_calls|stop`,
 * `usage.prompt_tokens/completion_tokens`) and `POST /v1/messages` (Anthropic: `text` and
 * `tool_use` content blocks, `stop_reason: tool_use|end_turn`, `usage.input_tokens/output_tokens`).
 * Each request takes the next reply of the script, whichever format it uses; every request is
 * recorded so a test can check what was sent back (tool results). A request past the end of the
 * script is answered 500, which fails the node under test.
 */
import type { IncomingHttpHeaders } from 'node:http';
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
  /** Providers of both kinds on this server: `openai` and `anthropic`. */
  providers: Record<'openai' | 'anthropic', LlmProvider>;
  close(): Promise<void>;
}

export async function startFakeLlm(): Promise<FakeLlm> {
  let replies: ScriptedReply[] = [];
  let calls = 0;
  const requests: RecordedRequest[] = [];
  const server = await startLocalServer((req, res, raw) => {
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
    if (next === undefined)
      return reply(500, { error: { message: 'the fake provider has no more scripted replies' } });
    if (next.status !== undefined) {
      const headers: Record<string, string> =
        next.retryAfter === undefined ? {} : { 'retry-after': next.retryAfter };
      return reply(next.status, { error: { message: `scripted ${next.status}` } }, headers);
    }
    const usage = next.usage ?? { prompt: 10, completion: 5 };
    const toolCalls = (next.toolCalls ?? []).map((c) => ({ ...c, id: c.id ?? `call_${++calls}` }));
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
  });
  return {
    url: server.url,
    requests,
    script(next) {
      replies = [...next];
      requests.length = 0;
      calls = 0;
    },
    providers: {
      openai: { kind: 'openai', baseUrl: `${server.url}/v1`, apiKey: 'sk-fake' },
      anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: 'ak-fake' },
    },
    close: () => server.close(),
  };
}
