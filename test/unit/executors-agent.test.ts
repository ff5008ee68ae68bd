/**
 * The `agent` executor against the scripted fake provider (test/helpers/fake-llm.ts), in both
 * wire formats: its tools run for real in the workspace of a local sandbox, and of a docker
 * container when an engine answers (always in CI).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { GraphNode } from '../../src/definition/model.ts';
import { createDockerRuntime } from '../../src/runtime/docker/runtime.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import { createExecFixture, failed, runNode, succeeded } from '../helpers/exec-context.ts';
import { type FakeLlm, type RecordedRequest, startFakeLlm } from '../helpers/fake-llm.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

const agent = (provider: string, more: Record<string, unknown> = {}): GraphNode => ({
  id: 'fixer',
  type: 'agent',
  provider,
  model: 'test-model',
  prompt: 'Write notes.txt and show it',
  ...more,
});

/** The write_file → shell (cat) → answer script of the main test. */
const writeThenCat = [
  {
    text: 'I will write the file.',
    toolCalls: [
      { name: 'write_file', input: { path: 'out/notes.txt', content: 'hello from the agent\n' } },
    ],
    usage: { prompt: 100, completion: 20 },
  },
  {
    toolCalls: [{ name: 'shell', input: { command: 'cat out/notes.txt; echo done >&2' } }],
    usage: { prompt: 150, completion: 10 },
  },
  { text: 'The file says hello.', usage: { prompt: 200, completion: 8 } },
];

/** The tool results of the last step in a request, in one shape for both formats. */
function toolResults(req: RecordedRequest): { id: string; content: string; isError: boolean }[] {
  const messages = req.body.messages as Record<string, unknown>[];
  if (req.path === '/v1/chat/completions') {
    const lastCall = messages.findLastIndex((m) => m.role === 'assistant');
    return messages
      .slice(lastCall + 1)
      .filter((m) => m.role === 'tool')
      .map((m) => ({ id: String(m.tool_call_id), content: String(m.content), isError: false }));
  }
  const last = messages.at(-1)!;
  assert.equal(last.role, 'user');
  return (last.content as Record<string, unknown>[])
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      id: String(b.tool_use_id),
      content: String(b.content),
      isError: b.is_error === true,
    }));
}

describe('agent executor', () => {
  let llm: FakeLlm;
  before(async () => {
    llm = await startFakeLlm();
  });
  after(() => llm.close());

  for (const kind of ['openai', 'anthropic'] as const) {
    it(`${kind}: writes a file, reads it back with shell, answers; results go back to the model`, async () => {
      llm.script(writeThenCat);
      const fixture = await createExecFixture(agent(kind), { providers: llm.providers });
      try {
        const result = await fixture.run();
        const outputs = succeeded(result);
        assert.equal(
          readFileSync(path.join(fixture.workspace, 'out/notes.txt'), 'utf8'),
          'hello from the agent\n',
        );
        assert.equal(outputs.answer, 'The file says hello.');
        assert.equal(outputs.steps, 3);
        assert.equal(outputs.toolCalls, 2);
        assert.equal(outputs.model, 'test-model');
        assert.equal(outputs.finishReason, kind === 'openai' ? 'stop' : 'end_turn');
        assert.deepEqual(outputs.usage, { promptTokens: 450, completionTokens: 38 });
        assert.deepEqual(result.usage?.promptTokens, 450);
        assert.deepEqual(result.usage?.completionTokens, 38);
        assert.equal(result.usage?.model, 'test-model');
        const transcript = outputs.transcript as { step: number; tools: { name: string }[] }[];
        assert.deepEqual(
          transcript.map((s) => s.tools.map((t) => t.name)),
          [['write_file'], ['shell'], []],
        );

        assert.equal(llm.requests.length, 3);
        const first = llm.requests[0]!;
        assert.equal(first.path, kind === 'openai' ? '/v1/chat/completions' : '/v1/messages');
        const tools = first.body.tools as Record<string, unknown>[];
        const names = tools.map((t) =>
          kind === 'openai' ? (t.function as { name: string }).name : t.name,
        );
        assert.deepEqual(names, ['shell', 'read_file', 'write_file', 'list_files']);
        // The write's result, then the shell's output, went back under the calls' ids.
        assert.deepEqual(toolResults(llm.requests[1]!), [
          { id: 'call_1', content: 'wrote 21 bytes to out/notes.txt', isError: false },
        ]);
        const shell = toolResults(llm.requests[2]!);
        assert.equal(shell.length, 1);
        assert.equal(shell[0]!.id, 'call_2');
        assert.match(shell[0]!.content, /^exit code 0\n/);
        assert.match(shell[0]!.content, /hello from the agent/);
        assert.match(shell[0]!.content, /done/);
        if (kind === 'openai') {
          // The assistant's tool calls precede their results, as the API requires.
          const messages = llm.requests[2]!.body.messages as Record<string, unknown>[];
          assert.deepEqual(
            messages.map((m) => m.role),
            ['user', 'assistant', 'tool', 'assistant', 'tool'],
          );
        }
        const log = fixture.text('system').join('\n');
        assert.match(
          log,
          /agent step 1\/20: \w+\/test-model → 200 .*100 prompt \+ 20 completion tokens, 1 tool call/,
        );
        assert.match(
          log,
          /agent tool write_file\(path="out\/notes.txt", content="hello from the agent "\) → 21 bytes/,
        );
        assert.match(
          log,
          /agent tool shell\(command="cat out\/notes.txt; echo done >&2"\) → exit code 0, \d+ bytes/,
        );
      } finally {
        await fixture.dispose();
      }
    });
  }

  it('fails with ERR_AGENT_MAX_STEPS when the model still calls tools at max_steps', async () => {
    const again = { toolCalls: [{ name: 'shell', input: { command: 'echo again >> count.txt' } }] };
    llm.script([again, again, again]);
    const fixture = await createExecFixture(agent('openai', { maxSteps: 2 }), {
      providers: llm.providers,
    });
    try {
      const result = await fixture.run();
      const error = failed(result);
      assert.equal(error.code, 'ERR_AGENT_MAX_STEPS');
      assert.equal(error.retryable, false);
      assert.match(error.message, /max_steps \(2\)/);
      assert.equal(llm.requests.length, 2);
      // The second step's tool call was not run: the loop stops at the limit.
      assert.equal(readFileSync(path.join(fixture.workspace, 'count.txt'), 'utf8'), 'again\n');
      assert.deepEqual(result.usage?.promptTokens, 20);
    } finally {
      await fixture.dispose();
    }
  });

  it('succeeds at max_steps with on_max_steps: finish', async () => {
    llm.script([
      { text: 'looking', toolCalls: [{ name: 'list_files', input: {} }] },
      { text: 'still looking', toolCalls: [{ name: 'list_files', input: {} }] },
    ]);
    const { result } = await runNode(agent('anthropic', { maxSteps: 2, onMaxSteps: 'finish' }), {
      providers: llm.providers,
    });
    const outputs = succeeded(result);
    assert.equal(outputs.answer, 'still looking');
    assert.equal(outputs.finishReason, 'max_steps');
    assert.equal(outputs.steps, 2);
    assert.equal(outputs.toolCalls, 1);
  });

  it('answers a path outside the workspace with a tool error, not a failure', async () => {
    llm.script([
      {
        toolCalls: [
          { name: 'read_file', input: { path: '../../../../etc/passwd' } },
          { name: 'write_file', input: { path: '/etc/agent-was-here', content: 'x' } },
          { name: 'read_file', input: { path: 'missing.txt' } },
          { name: 'read_file', input: { path: '/workspace/present.txt' } },
          { name: 'list_files', input: { path: 'sub/../..' } },
          { name: 'http_get', input: { url: 'http://example.com' } },
        ],
      },
      { text: 'I cannot.' },
    ]);
    const fixture = await createExecFixture(agent('anthropic'), { providers: llm.providers });
    try {
      writeFileSync(path.join(fixture.workspace, 'present.txt'), 'here');
      const outputs = succeeded(await fixture.run());
      assert.equal(outputs.answer, 'I cannot.');
      const results = toolResults(llm.requests[1]!);
      assert.deepEqual(
        results.map((r) => r.isError),
        [true, true, true, false, true, true],
      );
      assert.match(results[0]!.content, /outside the workspace/);
      assert.match(results[1]!.content, /outside the workspace/);
      assert.match(results[2]!.content, /cannot read the file/);
      assert.equal(results[3]!.content, 'here');
      assert.match(results[4]!.content, /outside the workspace/);
      assert.match(results[5]!.content, /unknown tool "http_get"/);
      assert.equal(existsSync('/etc/agent-was-here'), false);
    } finally {
      await fixture.dispose();
    }
  });

  it('offers only the tools named, cuts shell output at the cap and times out a shell command', async () => {
    llm.script([
      {
        toolCalls: [
          { name: 'shell', input: { command: 'head -c 5000 /dev/zero | tr "\\0" a' } },
          { name: 'shell', input: { command: 'sleep 5' } },
        ],
      },
      { text: 'ok' },
    ]);
    const { result } = await runNode(
      agent('openai', { tools: ['shell'], toolOutputBytes: 1000, shellTimeout: '300ms' }),
      { providers: llm.providers },
    );
    succeeded(result);
    const tools = llm.requests[0]!.body.tools as { function: { name: string } }[];
    assert.deepEqual(
      tools.map((t) => t.function.name),
      ['shell'],
    );
    const [big, slow] = toolResults(llm.requests[1]!);
    assert.match(big!.content, /^exit code 0\na{1000}\n\[… 4000 more bytes\]$/);
    assert.match(slow!.content, /^timed out after 300 ms/);
  });

  it('fails with ERR_AGENT_TOKEN_BUDGET past max_tokens', async () => {
    llm.script([
      { toolCalls: [{ name: 'list_files', input: {} }], usage: { prompt: 60, completion: 10 } },
      { toolCalls: [{ name: 'list_files', input: {} }], usage: { prompt: 80, completion: 10 } },
    ]);
    const { result } = await runNode(agent('openai', { maxTokens: 100 }), {
      providers: llm.providers,
    });
    const error = failed(result);
    assert.equal(error.code, 'ERR_AGENT_TOKEN_BUDGET');
    assert.match(error.message, /160 tokens in 2 step\(s\), over its max_tokens of 100/);
    // Each step asks for no more output than the budget has left.
    assert.equal(llm.requests[0]!.body.max_tokens, 100);
    assert.equal(llm.requests[1]!.body.max_tokens, 30);
  });

  it('tries a 5xx of the provider again inside the loop, and fails on a 400', async () => {
    llm.script([{ status: 503, retryAfter: '0' }, { text: 'fine' }]);
    let run = await runNode(agent('openai'), { providers: llm.providers });
    assert.equal(succeeded(run.result).answer, 'fine');
    assert.match(run.fixture.text('system').join('\n'), /answered 503: scripted 503; trying again/);

    llm.script([{ status: 400 }]);
    run = await runNode(agent('openai'), { providers: llm.providers });
    const error = failed(run.result);
    assert.equal(error.code, 'ERR_LLM_STATUS');
    assert.equal(error.retryable, false);
    assert.equal(llm.requests.length, 1);
  });
});

const skipDocker = await dockerAvailable();

describe('agent executor on docker', { skip: skipDocker, timeout: 120_000 }, () => {
  let llm: FakeLlm;
  before(async () => {
    llm = await startFakeLlm();
    await ensureTestImage(testDocker());
  });
  after(() => llm.close());

  for (const kind of ['openai', 'anthropic'] as const) {
    it(`${kind}: write_file and shell run in the container's /workspace`, async () => {
      llm.script([
        {
          toolCalls: [
            {
              name: 'write_file',
              input: { path: '/workspace/deep/notes.txt', content: 'in docker\n' },
            },
          ],
        },
        {
          toolCalls: [
            { name: 'shell', input: { command: 'pwd; cat deep/notes.txt' } },
            { name: 'list_files', input: {} },
            { name: 'read_file', input: { path: '../etc/hostname' } },
          ],
        },
        { text: 'done' },
      ]);
      const fixture = await createExecFixture(agent(kind), { providers: llm.providers });
      const runtime = createDockerRuntime({ socketPath: dockerSocket });
      const sandbox = await runtime.create({
        executionId: `exec_agent${randomBytes(4).toString('hex')}`,
        workflowId: 'wf_agenttest',
        image: testImage,
        limits: {},
        network: 'none',
        hostWorkspace: fixture.workspace,
      });
      fixture.ctx.sandbox = () => Promise.resolve(sandbox);
      try {
        const outputs = succeeded(await fixture.run());
        assert.equal(outputs.answer, 'done');
        assert.equal(
          readFileSync(path.join(fixture.workspace, 'deep/notes.txt'), 'utf8'),
          'in docker\n',
        );
        const [shell, list, escape] = toolResults(llm.requests[2]!);
        assert.equal(shell!.content, 'exit code 0\n/workspace\nin docker\n');
        assert.equal(list!.content, 'deep/\ndeep/notes.txt');
        assert.equal(escape!.isError || escape!.content.startsWith('error:'), true);
        assert.match(escape!.content, /outside the workspace/);
      } finally {
        await sandbox.destroy();
        await fixture.dispose();
      }
    });
  }
});
