/**
 * The `llm` node against the scripted provider (test/helpers/fake-llm.ts) streaming in both wire
 * formats: outputs and token counts, the answer in the log as it arrives, `response_format: json`
 * with a schema, and the provider layer (default provider, retry after `Retry-After`, the
 * per-provider timeout and concurrency cap).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GraphNode } from '../../src/definition/model.ts';
import { CallSlots } from '../../src/nodes/call-slots.ts';
import type { LlmProvider } from '../../src/nodes/executor.ts';
import { failed, runNode, succeeded } from '../helpers/exec-context.ts';
import { type FakeLlm, startFakeLlm } from '../helpers/fake-llm.ts';

const ask = (more: Record<string, unknown> = {}): GraphNode => ({
  id: 'ask',
  type: 'llm',
  provider: 'openai',
  model: 'gpt-test',
  prompt: 'Write three lines',
  ...more,
});

describe('llm executor, streamed', () => {
  let llm: FakeLlm;
  before(async () => {
    llm = await startFakeLlm();
  });
  after(() => llm.close());

  for (const kind of ['openai', 'anthropic'] as const) {
    it(`${kind}: outputs text, model, finish reason and token counts; the log gets each line as it arrives`, async () => {
      llm.script([
        {
          text: 'alpha\nbeta\ngamma',
          chunks: 3,
          chunkDelayMs: 60,
          usage: { prompt: 321, completion: 45 },
        },
      ]);
      const { result, fixture } = await runNode(ask({ provider: kind }), {
        providers: llm.providers,
      });
      assert.deepEqual(succeeded(result), {
        text: 'alpha\nbeta\ngamma',
        model: 'gpt-test',
        finishReason: kind === 'openai' ? 'stop' : 'end_turn',
        usage: { promptTokens: 321, completionTokens: 45 },
      });
      assert.deepEqual(result.usage, {
        model: 'gpt-test',
        promptTokens: 321,
        completionTokens: 45,
      });
      const sent = llm.requests[0]!.body;
      assert.equal(sent.stream, true);
      if (kind === 'openai') assert.deepEqual(sent.stream_options, { include_usage: true });
      const stdout = fixture.lines.filter((l) => l.stream === 'stdout');
      assert.deepEqual(
        stdout.map((l) => l.line),
        ['alpha', 'beta', 'gamma'],
      );
      // The first line was in the log before the provider had sent the last piece.
      assert.ok(
        stdout[0]!.at < llm.lastPieceAt,
        `first line at ${stdout[0]!.at}, last piece at ${llm.lastPieceAt}`,
      );
      assert.match(fixture.text('system').join('\n'), /321 prompt \+ 45 completion tokens/);
    });
  }

  it('response_format json: the answer is parsed into `json` and checked against the schema', async () => {
    const schema = {
      type: 'object',
      required: ['verdict', 'score'],
      properties: { verdict: { enum: ['ok', 'bad'] }, score: { type: 'integer' } },
      additionalProperties: false,
    };
    llm.script([{ text: '{"verdict": "ok", "score": 7}' }]);
    let run = await runNode(ask({ responseFormat: 'json', schema }), {
      providers: llm.providers,
    });
    assert.deepEqual(succeeded(run.result).json, { verdict: 'ok', score: 7 });
    const body = llm.requests[0]!.body;
    assert.deepEqual(body.response_format, {
      type: 'json_schema',
      json_schema: { name: 'output', schema },
    });
    const messages = body.messages as { role: string; content: string }[];
    assert.equal(messages[0]!.role, 'system');
    assert.match(messages[0]!.content, /single JSON value/);

    // A mismatch fails the attempt, retryable, with what is wrong; usage still counts.
    llm.script([{ text: '{"verdict": "maybe", "extra": 1}' }]);
    run = await runNode(ask({ responseFormat: 'json', schema }), { providers: llm.providers });
    let error = failed(run.result);
    assert.equal(error.code, 'ERR_LLM_SCHEMA');
    assert.equal(error.retryable, true);
    assert.match(error.message, /does not match the schema/);
    assert.match(error.message, /must have required property 'score'/);
    assert.match(error.message, /\/verdict must be equal to one of the allowed values/);
    assert.match(error.message, /must NOT have additional properties \(extra\)/);
    assert.equal(run.result.usage?.promptTokens, 10);

    // Not JSON at all (Anthropic, told so in its system text).
    llm.script([{ text: 'Sure! Here it is.' }]);
    run = await runNode(ask({ provider: 'anthropic', responseFormat: 'json' }), {
      providers: llm.providers,
    });
    error = failed(run.result);
    assert.equal(error.code, 'ERR_LLM_SCHEMA');
    assert.match(error.message, /the answer is not JSON: "Sure! Here it is\."/);
    assert.match(String(llm.requests[0]!.body.system), /single JSON value/);

    // A fenced answer is accepted.
    llm.script([{ text: '```json\n[1, 2]\n```' }]);
    run = await runNode(ask({ provider: 'anthropic', responseFormat: 'json' }), {
      providers: llm.providers,
    });
    assert.deepEqual(succeeded(run.result).json, [1, 2]);
  });

  it('a node without provider uses the default one; without a default it fails naming the providers', async () => {
    llm.script([{ text: 'hi' }]);
    const providers = {
      first: { ...llm.providers.openai },
      second: { ...llm.providers.anthropic, isDefault: true },
    };
    const { result } = await runNode(ask({ provider: undefined }), { providers });
    assert.equal(succeeded(result).text, 'hi');
    assert.equal(llm.requests[0]!.path, '/v1/messages');

    const error = failed(
      (await runNode(ask({ provider: undefined }), { providers: llm.providers })).result,
    );
    assert.equal(error.code, 'ERR_LLM_PROVIDER');
    assert.match(error.message, /no default provider \(configured: openai, anthropic/);
  });

  it('a 429 is tried again in place after its Retry-After; past maxRetries it goes to the engine', async () => {
    llm.script([{ status: 429, retryAfter: '1' }, { text: 'done' }]);
    const started = performance.now();
    let run = await runNode(ask(), { providers: llm.providers });
    assert.equal(succeeded(run.result).text, 'done');
    assert.ok(performance.now() - started >= 950, 'waited the Retry-After second');
    assert.equal(llm.requests.length, 2);
    assert.match(
      run.fixture.text('system').join('\n'),
      /answered 429: scripted 429; trying again in 1 s \(retry 1 of 2\)/,
    );

    const once: Record<string, LlmProvider> = {
      openai: { ...llm.providers.openai, maxRetries: 1 },
    };
    llm.script([
      { status: 503, retryAfter: '0' },
      { status: 429, retryAfter: '7' },
    ]);
    run = await runNode(ask(), { providers: once });
    const error = failed(run.result);
    assert.equal(error.code, 'ERR_LLM_STATUS');
    assert.equal(error.retryable, true);
    assert.equal(error.retryAfterMs, 7000);
    assert.equal(llm.requests.length, 2);
  });

  it('maxConcurrency caps the calls open at once, across nodes', async () => {
    const run3 = (providers: Record<string, LlmProvider>) =>
      Promise.all(
        [1, 2, 3].map(async (i) =>
          succeeded((await runNode(ask({ id: `n${i}` }), { providers })).result),
        ),
      );
    llm.script([1, 2, 3].map(() => ({ text: 'x', holdMs: 150 })));
    await run3({ openai: { ...llm.providers.openai } });
    assert.equal(llm.maxOpen, 3);

    const slots = new CallSlots(1);
    llm.script([1, 2, 3].map(() => ({ text: 'x', holdMs: 150 })));
    await run3({ openai: { ...llm.providers.openai, slots } });
    assert.equal(llm.maxOpen, 1);
    assert.equal(llm.requests.length, 3);
    assert.equal(slots.inUse, 0);
  });
  // Last: the provider still holds the lost call open after the test.
  it("a call past the provider's timeout is lost and retryable", async () => {
    llm.script([{ text: 'late', holdMs: 1000 }]);
    const providers = { openai: { ...llm.providers.openai, timeoutMs: 100, maxRetries: 0 } };
    const error = failed((await runNode(ask(), { providers })).result);
    assert.equal(error.code, 'ERR_LLM_NETWORK');
    assert.equal(error.retryable, true);
    assert.match(error.message, /no answer within 100 ms \(the provider's timeout\)/);
  });
});
