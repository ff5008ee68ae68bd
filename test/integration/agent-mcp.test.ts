/**
 * The `agent` node's MCP tools (issue 11) through the real server and worker, in both wire
 * formats, in the bubblewrap sandbox: the node starts the tiny stdio server of
 * test/fixtures/mcp/echo-server.mjs inside the execution's environment, the model sees its tools
 * as `echo__<tool>`, a call's text comes back as the tool result (an `isError` result as a tool
 * error), each call is logged as the other tools' calls are, and no server process outlives the
 * node, whether it succeeds, fails or is cancelled. A server that cannot start fails the node
 * with ERR_MCP_SERVER before any model call.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  awaitLogs,
  createWorkflow,
  executionUrl,
  nodeOf,
  runAndWait,
  runWorkflow,
  waitForStatus,
} from '../helpers/executions.ts';
import { type FakeLlm, type RecordedRequest, startFakeLlm } from '../helpers/fake-llm.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const fixture = path.join(repoRoot, 'test/fixtures/mcp/echo-server.mjs');
const caps = await createLocalRuntime({ dataDir: '/tmp' }).capabilities();
const noBwrap = caps.bwrap === undefined ? (caps.bwrapProblem ?? 'no bwrap') : undefined;
/** The sandbox sees /usr; node elsewhere (a tool cache) is bound read-only as the repo is. */
const nodePrefix = path.dirname(path.dirname(process.execPath));
const readOnly = nodePrefix.startsWith('/usr') ? [repoRoot] : [repoRoot, nodePrefix];

/**
 * Host pids of the server processes started with `tag` as an argument: node running the fixture
 * (not the bubblewrap processes around it, whose argv holds the command too).
 */
function processesTagged(tag: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[1] === fixture && argv[2] === `--tag=${tag}`) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The tool results of the last step in a request, in one shape for both formats. */
function toolResults(req: RecordedRequest): { id: string; content: string; isError?: boolean }[] {
  const messages = req.body.messages as Record<string, unknown>[];
  if (req.path === '/v1/chat/completions') {
    const lastCall = messages.findLastIndex((m) => m.role === 'assistant');
    return messages
      .slice(lastCall + 1)
      .filter((m) => m.role === 'tool')
      .map((m) => ({ id: String(m.tool_call_id), content: String(m.content) }));
  }
  const last = messages.at(-1)!;
  return (last.content as Record<string, unknown>[])
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      id: String(b.tool_use_id),
      content: String(b.content),
      isError: b.is_error === true,
    }));
}

/** The tools offered in a request, name and parameters, in either format. */
function offeredTools(req: RecordedRequest): { name: string; parameters: unknown }[] {
  type Offered = { name: string; parameters?: unknown; input_schema?: unknown };
  const tools = (req.body.tools ?? []) as (Offered & { function?: Offered })[];
  return tools.map((t) =>
    req.path === '/v1/chat/completions'
      ? { name: t.function!.name, parameters: t.function!.parameters }
      : { name: t.name, parameters: t.input_schema },
  );
}

const agentNode = (kind: string, tag: string, more: Record<string, unknown> = {}) => ({
  id: 'ask',
  type: 'agent',
  provider: kind,
  model: 'test-model',
  prompt: 'Use the echo server',
  tools: ['read_file'],
  mcpServers: [
    {
      name: 'echo',
      command: [process.execPath, fixture, `--tag=${tag}`],
      env: { ECHO_GREETING: 'hello from env' },
    },
  ],
  ...more,
});

for (const dialect of dialectNames) {
  const skip = noBwrap ?? (await skipFor(dialect));
  describe(`agent MCP tools (${dialect})`, { skip, timeout: 120_000 }, () => {
    let h: Harness;
    let llm: FakeLlm;
    before(async () => {
      llm = await startFakeLlm();
      h = await startHarness(dialect, {
        config: {
          localIsolation: 'bwrap',
          runtime: 'local',
          sandboxReadOnlyPaths: readOnly,
          llmProviders: {
            openai: { kind: 'openai', baseUrl: `${llm.url}/v1`, default: true },
            anthropic: { kind: 'anthropic', baseUrl: llm.url, maxRetries: 0 },
          },
        },
      });
    });
    after(async () => {
      await h?.close();
      await llm?.close();
    });

    for (const kind of ['openai', 'anthropic'] as const) {
      it(`${kind}: calls the tools of a stdio MCP server started in the sandbox`, async () => {
        const tag = `mcp-${randomBytes(6).toString('hex')}`;
        const wf = await createWorkflow(h, {
          name: `mcp-${kind}`,
          graph: { nodes: [agentNode(kind, tag)] },
        });
        llm.script([
          {
            text: 'Calling the server.',
            toolCalls: [
              { id: 'call_echo', name: 'echo__echo', input: { text: 'hello' } },
              { id: 'call_add', name: 'echo__add', input: { a: 2, b: 3 } },
            ],
            usage: { prompt: 100, completion: 10 },
          },
          {
            toolCalls: [{ id: 'call_fail', name: 'echo__fail', input: {} }],
            usage: { prompt: 200, completion: 10 },
          },
          { text: 'The server said hello and 5.', usage: { prompt: 300, completion: 10 } },
        ]);
        const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        const ask = nodeOf(done, 'ask');
        assert.equal(ask.outputs.answer, 'The server said hello and 5.');
        assert.equal(ask.outputs.toolCalls, 3);
        // Costed as the other tools: the tokens of the steps, the calls' time as runtime.
        assert.deepEqual(ask.cost.tokens, { prompt: 600, completion: 30 });
        assert.ok(ask.cost.computeSeconds > 0, JSON.stringify(ask.cost));

        // The built-in tool listed and the server's tools, with the server's input schemas.
        assert.equal(llm.requests.length, 3);
        const offered = offeredTools(llm.requests[0]!);
        assert.deepEqual(
          offered.map((t) => t.name),
          ['read_file', 'echo__echo', 'echo__add', 'echo__fail'],
        );
        assert.deepEqual(offered[2]!.parameters, {
          type: 'object',
          properties: { a: { type: 'number' }, b: { type: 'number' } },
          required: ['a', 'b'],
        });

        // The results reached the model; the server ran in the sandbox's workspace.
        const first = toolResults(llm.requests[1]!);
        assert.deepEqual(
          first.map((r) => [r.id, r.content]),
          [
            ['call_echo', 'echo: hello (cwd /workspace)'],
            ['call_add', '5'],
          ],
        );
        assert.ok(first.every((r) => r.isError !== true));
        const [failed] = toolResults(llm.requests[2]!);
        assert.equal(failed?.content, 'this tool always fails');
        if (kind === 'anthropic') assert.equal(failed?.isError, true);

        // Each call has its log line, as the built-in tools' calls do; the server's stderr too.
        const logs = await h.call(
          'GET',
          `${executionUrl(wf.id, done.id)}/logs?node=ask`,
          undefined,
          { headers: { accept: 'text/plain' } },
        );
        assert.equal(logs.statusCode, 200, logs.body);
        assert.match(
          logs.body,
          /MCP server echo started \(pid \d+\): 3 tool\(s\): echo, add, fail/,
        );
        assert.match(logs.body, /\[mcp echo\] echo-server ready \(hello from env\)/);
        assert.match(logs.body, /agent tool echo__echo\(text="hello"\) → \d+ bytes/);
        assert.match(logs.body, /agent tool echo__add\(a="2", b="3"\) → 1 bytes/);
        assert.match(logs.body, /agent tool echo__fail\(\) → error, \d+ bytes/);

        // The server process is gone once the node has ended.
        assert.deepEqual(processesTagged(tag), []);
      });
    }

    it('a server that cannot start fails the node with ERR_MCP_SERVER before any model call', async () => {
      llm.script([]);
      const wf = await createWorkflow(h, {
        name: 'mcp-broken',
        graph: {
          nodes: [
            {
              ...agentNode('openai', 'unused'),
              mcpServers: [{ name: 'broken', command: 'no-such-mcp-server --stdio' }],
            },
          ],
        },
      });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'failed');
      const ask = nodeOf(done, 'ask');
      assert.equal(ask.error.code, 'ERR_MCP_SERVER');
      assert.match(ask.error.message, /^MCP server "broken" did not list its tools: .*/);
      assert.match(ask.error.message, /exit code 127; stderr: .*no-such-mcp-server.*not found/);
      assert.equal(llm.requests.length, 0);

      const argv = await createWorkflow(h, {
        name: 'mcp-missing',
        graph: {
          nodes: [
            {
              ...agentNode('openai', 'unused'),
              mcpServers: [{ name: 'missing', command: ['/workspace/no-such-server'] }],
            },
          ],
        },
      });
      const ended = await runAndWait(h, argv.id, ['succeeded', 'failed']);
      const node = nodeOf(ended, 'ask');
      assert.equal(node.error.code, 'ERR_MCP_SERVER');
      assert.match(node.error.message, /^MCP server "missing" did not start: .*ENOENT/);
    });

    it("a server that does not answer within the node's timeout fails it with ERR_NODE_TIMEOUT and is stopped", async () => {
      llm.script([]);
      const tag = `mcp-${randomBytes(6).toString('hex')}`;
      const wf = await createWorkflow(h, {
        name: 'mcp-mute',
        graph: {
          nodes: [
            {
              ...agentNode('openai', tag),
              timeout: '1s',
              mcpServers: [
                { name: 'mute', command: [process.execPath, fixture, `--tag=${tag}`, '--mute'] },
              ],
            },
          ],
        },
      });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      const ask = nodeOf(done, 'ask');
      assert.equal(ask.error.code, 'ERR_NODE_TIMEOUT', JSON.stringify(ask.error));
      assert.match(ask.error.message, /while MCP server "mute" started/);
      assert.equal(llm.requests.length, 0);
      assert.deepEqual(processesTagged(tag), []);
    });

    it('cancelling the execution while the model thinks stops the server', async () => {
      const tag = `mcp-${randomBytes(6).toString('hex')}`;
      const wf = await createWorkflow(h, {
        name: 'mcp-cancel',
        graph: { nodes: [agentNode('openai', tag)] },
      });
      llm.script([{ text: 'thinking', holdMs: 30_000 }]);
      const run = await runWorkflow(h, wf.id);
      await awaitLogs(h, run.id, 'the server to start', (lines) =>
        lines.some((l) => l.text.includes('MCP server echo started')),
      );
      assert.equal(processesTagged(tag).length > 0, true, 'the server runs while the node does');
      const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/cancel`, {});
      assert.equal(res.statusCode, 200, res.body);
      const ended = await waitForStatus(h, wf.id, run.id, ['cancelled', 'failed', 'succeeded']);
      assert.equal(ended.status, 'cancelled');
      // The execution is cancelled once the node's attempt is; the agent stops its servers as
      // it unwinds (a host process: no engine event reports it).
      await eventually('the MCP server to stop', () =>
        processesTagged(tag).length === 0 ? true : undefined,
      );
    });

    it('refuses duplicate and malformed server names when the workflow is saved', async () => {
      const save = (mcpServers: unknown[]) =>
        h.call('POST', '/api/v1/workflows', {
          name: 'mcp-names',
          graph: { nodes: [{ ...agentNode('openai', 'unused'), mcpServers }] },
        });
      const dupes = await save([
        { name: 'a', command: 'x' },
        { name: 'a', command: 'y' },
      ]);
      assert.equal(dupes.statusCode, 422, dupes.body);
      assert.match(dupes.body, /mcpServers\[1\]\.name","message":"is not unique"/);
      const malformed = await save([{ name: 'bad name', command: '' }]);
      assert.equal(malformed.statusCode, 422, malformed.body);
      assert.match(malformed.body, /mcpServers\[0\]\.name/);
      assert.match(malformed.body, /mcpServers\[0\]\.command/);
    });
  });
}
