import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { GraphNode } from '../../src/definition/model.ts';
import type { LlmProvider } from '../../src/nodes/executor.ts';
import { runNode, startLocalServer, failed, succeeded } from '../helpers/exec-context.ts';

const llm = (provider: string, more: Record<string, unknown> = {}): GraphNode => ({
  id: 'ask',
  type: 'llm',
  provider,
  model: 'test-model',
  prompt: 'Say hello',
  ...more,
});

interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/**
 * A fake OpenAI-compatible endpoint (/v1/chat/completions) and Anthropic endpoint
 * (/v1/messages). Each checks the request shape and answers 400 naming what is wrong.
 */
describe('llm executor', () => {
  let server: Awaited<ReturnType<typeof startLocalServer>>;
  let providers: Record<string, LlmProvider> = {};
  const seen: Seen[] = [];

  before(async () => {
    server = await startLocalServer((req, res, raw) => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(json));
      };
      const problem = (message: string) => reply(400, { error: { message } });
      if (req.url?.startsWith('/limited/')) {
        reply(429, { error: { message: 'slow down' } }, { 'retry-after': '3' });
        return;
      }
      if (req.url === '/v1/chat/completions') {
        if (req.headers.authorization !== 'Bearer sk-test') return problem('bad authorization');
        if (body.model !== 'test-model') return problem('bad model');
        if (!Array.isArray(body.messages)) return problem('messages must be a list');
        reply(200, {
          id: 'chatcmpl-1',
          choices: [
            { index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
        });
        return;
      }
      if (req.url === '/v1/messages') {
        if (req.headers['x-api-key'] !== 'ak-test') return problem('bad x-api-key');
        if (req.headers['anthropic-version'] !== '2023-06-01') return problem('bad version');
        if (typeof body.max_tokens !== 'number') return problem('max_tokens is required');
        const messages = body.messages as { role: string }[];
        if (messages.some((m) => m.role === 'system')) return problem('system in messages');
        reply(200, {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          content: [
            { type: 'text', text: 'Hel' },
            { type: 'tool_use', id: 't', name: 'x', input: {} },
            { type: 'text', text: 'lo' },
          ],
          stop_reason: 'end_turn',
          usage: { input_tokens: 20, output_tokens: 5 },
        });
        return;
      }
      reply(404, { error: { message: `no route ${req.url}` } });
    });
    providers = {
      openai: { kind: 'openai', baseUrl: `${server.url}/v1/`, apiKey: 'sk-test' },
      claude: { kind: 'anthropic', baseUrl: server.url, apiKey: 'ak-test' },
      limited: {
        kind: 'openai',
        baseUrl: `${server.url}/limited`,
        apiKey: 'sk-test',
        maxRetries: 0,
      },
      wrongKey: { kind: 'openai', baseUrl: `${server.url}/v1`, apiKey: 'nope' },
    };
  });
  after(() => server.close());

  it('calls an OpenAI-compatible API with the system message first and records usage', async () => {
    seen.length = 0;
    const { result, fixture } = await runNode(
      llm('openai', { system: 'Be brief.', maxTokens: 50, temperature: 0.2 }),
      { providers },
    );
    assert.deepEqual(succeeded(result), {
      text: 'Hello!',
      model: 'test-model',
      finishReason: 'stop',
      usage: { promptTokens: 12, completionTokens: 3 },
    });
    assert.deepEqual(result.usage, {
      model: 'test-model',
      promptTokens: 12,
      completionTokens: 3,
    });
    assert.deepEqual(seen[0]!.body, {
      model: 'test-model',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 50,
      temperature: 0.2,
    });
    assert.match(fixture.text('system').join('\n'), /12 prompt \+ 3 completion tokens/);
    // This endpoint ignores `stream: true`: its one JSON answer is read, and logged, as such.
    assert.deepEqual(fixture.text('stdout'), ['Hello!']);
  });

  it('calls the Anthropic API with system as a field and a default max_tokens', async () => {
    seen.length = 0;
    const { result } = await runNode(
      llm('claude', {
        prompt: undefined,
        system: 'Be brief.',
        messages: [
          { role: 'system', content: 'Answer in English.' },
          { role: 'user', content: 'Hi' },
        ],
      }),
      { providers },
    );
    assert.deepEqual(succeeded(result), {
      text: 'Hello',
      model: 'test-model',
      finishReason: 'end_turn',
      usage: { promptTokens: 20, completionTokens: 5 },
    });
    assert.deepEqual(result.usage, { model: 'test-model', promptTokens: 20, completionTokens: 5 });
    assert.equal(seen[0]!.path, '/v1/messages');
    assert.deepEqual(seen[0]!.body, {
      model: 'test-model',
      max_tokens: 1024,
      system: 'Be brief.\n\nAnswer in English.',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
  });

  it('fails an unknown provider without a request, naming the configured ones', async () => {
    const error = failed((await runNode(llm('missing'), { providers })).result);
    assert.equal(error.code, 'ERR_LLM_PROVIDER');
    assert.equal(error.retryable, false);
    assert.match(error.message, /"missing".*openai, claude/);
  });

  it('leaves a 429 to the engine after Retry-After when no retry is left, and a 400 is final', async () => {
    const limited = failed((await runNode(llm('limited'), { providers })).result);
    assert.equal(limited.code, 'ERR_LLM_STATUS');
    assert.equal(limited.retryable, true);
    assert.equal(limited.retryAfterMs, 3000);
    assert.match(limited.message, /429: slow down/);

    const rejected = failed((await runNode(llm('wrongKey'), { providers })).result);
    assert.equal(rejected.code, 'ERR_LLM_STATUS');
    assert.equal(rejected.retryable, false);
    assert.match(rejected.message, /400: bad authorization/);
  });

  it('reports an unreachable provider as a retryable network error', async () => {
    const closed = await startLocalServer(() => {});
    await closed.close();
    const error = failed(
      (
        await runNode(llm('gone'), {
          providers: { gone: { kind: 'anthropic', baseUrl: closed.url, maxRetries: 0 } },
        })
      ).result,
    );
    assert.equal(error.code, 'ERR_LLM_NETWORK');
    assert.equal(error.retryable, true);
  });
});

/** Providers are the operator's configuration: trusted for llm calls, and for nothing more. */
describe('llm executor and the egress policy', () => {
  let provider: Awaited<ReturnType<typeof startLocalServer>>;
  let other: Awaited<ReturnType<typeof startLocalServer>>;
  let otherHits = 0;

  before(async () => {
    other = await startLocalServer((_req, res) => {
      otherHits += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    // Sends every call on to another loopback port, which no provider names.
    provider = await startLocalServer((_req, res) => {
      res.writeHead(307, { location: `${other.url}/v1/chat/completions` });
      res.end();
    });
  });
  after(async () => {
    await provider.close();
    await other.close();
  });

  it('refuses a redirect from a trusted provider to another loopback origin', async () => {
    const providers = { moved: { kind: 'openai' as const, baseUrl: `${provider.url}/v1` } };
    const error = failed((await runNode(llm('moved'), { providers })).result);
    assert.equal(error.code, 'ERR_EGRESS_FORBIDDEN');
    assert.equal(error.retryable, false);
    const otherPort = new URL(other.url).port;
    assert.match(error.message, new RegExp(`egress to 127\\.0\\.0\\.1 port ${otherPort} `));
    assert.match(error.message, /egressAllow \(SWITCHYARD_EGRESS_ALLOW\)/);
    assert.equal(otherHits, 0);
  });

  it('does not open a provider to http nodes', async () => {
    const providers = { local: { kind: 'openai' as const, baseUrl: `${other.url}/v1` } };
    const call: GraphNode = { id: 'call', type: 'http', url: `${other.url}/v1/models` };
    const error = failed((await runNode(call, { providers })).result);
    assert.equal(error.code, 'ERR_EGRESS_FORBIDDEN');
    assert.equal(otherHits, 0);
  });
});
