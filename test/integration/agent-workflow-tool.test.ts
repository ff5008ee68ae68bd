/**
 * The `agent` node's `workflow` tool through the real server and worker against the scripted
 * provider (issue 11 §3), in both wire formats: the model starts a child workflow, the child runs
 * as a child of this execution, its outputs come back to the model as the tool result; a
 * workflow outside the node's `workflows` is a tool error the model reads, not a node failure;
 * so is a child that fails. A call sent again in the attempt finds its child; cancelling the
 * parent cancels the child it waits for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  executionUrl,
  getExecution,
  listExecutions,
  awaitLogs,
  nodeOf,
  runAndWait,
  runWorkflow,
  waitForNode,
  waitForStatus,
} from '../helpers/executions.ts';
import { type FakeLlm, type RecordedRequest, startFakeLlm } from '../helpers/fake-llm.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

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
  assert.equal(last.role, 'user');
  return (last.content as Record<string, unknown>[])
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      id: String(b.tool_use_id),
      content: String(b.content),
      isError: b.is_error === true,
    }));
}

/** The names of the tools offered in a request, in either format. */
function offeredTools(req: RecordedRequest): string[] {
  const tools = (req.body.tools ?? []) as Record<string, unknown>[];
  return tools.map((t) =>
    req.path === '/v1/chat/completions'
      ? String((t.function as Record<string, unknown>).name)
      : String(t.name),
  );
}

for (const dialect of dialectNames) {
  describe(`agent workflow tool (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let llm: FakeLlm;
    before(async () => {
      llm = await startFakeLlm();
      h = await startHarness(dialect, {
        config: {
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
      it(`${kind}: runs an allowed child workflow and hands its outputs to the model; a disallowed one is a tool error`, async () => {
        const child = await createWorkflow(h, {
          name: `greeter-${kind}`,
          graph: {
            nodes: [
              {
                id: 'greet',
                type: 'command',
                run: 'echo "greeting=hello $PARAM_WHO" >> "$SWITCHYARD_OUTPUT"',
              },
            ],
          },
        });
        const other = await createWorkflow(h, {
          name: `forbidden-${kind}`,
          graph: { nodes: [{ id: 'n', type: 'noop' }] },
        });
        const parent = await createWorkflow(h, {
          name: `delegator-${kind}`,
          graph: {
            nodes: [
              {
                id: 'ask',
                type: 'agent',
                provider: kind,
                model: 'test-model',
                prompt: 'Greet the agent through the greeter workflow',
                tools: ['workflow'],
                workflows: [`greeter-${kind}`],
              },
            ],
          },
        });
        llm.script([
          {
            text: 'Starting the greeter.',
            toolCalls: [
              {
                id: 'call_greet',
                name: 'workflow',
                input: { workflow: `greeter-${kind}`, params: { who: 'agent' } },
              },
            ],
            usage: { prompt: 100, completion: 10 },
          },
          {
            toolCalls: [{ id: 'call_other', name: 'workflow', input: { workflow: other.id } }],
            usage: { prompt: 200, completion: 10 },
          },
          { text: 'The greeter said hello agent.', usage: { prompt: 300, completion: 10 } },
        ]);
        const done = await runAndWait(h, parent.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        const ask = nodeOf(done, 'ask');
        assert.equal(ask.outputs.answer, 'The greeter said hello agent.');
        assert.equal(ask.outputs.toolCalls, 2);

        // Only the listed tool is offered to the model.
        assert.equal(llm.requests.length, 3);
        assert.deepEqual(offeredTools(llm.requests[0]!), ['workflow']);

        // The child's outputs reached the model as the first tool result.
        const [first] = toolResults(llm.requests[1]!);
        assert.equal(first?.id, 'call_greet');
        assert.notEqual(first?.isError, true);
        const result = JSON.parse(first.content) as {
          executionId: string;
          status: string;
          outputs: Record<string, Record<string, unknown>>;
          error?: unknown;
        };
        assert.equal(result.status, 'succeeded');
        assert.equal(result.outputs.greet?.greeting, 'hello agent');
        assert.equal(result.outputs.greet?.exitCode, 0);
        assert.equal(result.error, undefined);

        // The child ran as a child of this execution, started by the agent node.
        const childRun = await getExecution(h, child.id, result.executionId);
        assert.equal(childRun.status, 'succeeded');
        assert.equal(childRun.trigger.type, 'workflow');
        assert.equal(childRun.trigger.subject, `${done.id}/ask`);
        assert.equal(childRun.parentExecutionId, done.id);
        assert.deepEqual(childRun.params, { who: 'agent' });

        // A workflow outside `workflows` is a tool error the model reads; the node goes on.
        const [second] = toolResults(llm.requests[2]!);
        assert.equal(second?.id, 'call_other');
        assert.match(
          second.content,
          new RegExp(`^error: workflow '${other.id}' is not one this node may start`),
        );
        if (kind === 'anthropic') assert.equal(second?.isError, true);
        assert.deepEqual(await listExecutions(h, `workflowId=${other.id}`), [], 'nothing started');

        // The child's cost is its own: the agent node is charged its tokens only.
        assert.deepEqual(ask.cost.tokens, { prompt: 600, completion: 30 });
        assert.equal(ask.cost.computeSeconds, 0);
        assert.deepEqual(done.cost.tokens, { prompt: 600, completion: 30 });
        assert.equal(done.cost.computeSeconds, 0);

        // Each call has its log line on the node.
        const logs = await h.call(
          'GET',
          `${executionUrl(parent.id, done.id)}/logs?node=ask`,
          undefined,
          {
            headers: { accept: 'text/plain' },
          },
        );
        assert.equal(logs.statusCode, 200, logs.body);
        assert.match(
          logs.body,
          new RegExp(
            `agent tool workflow\\(workflow="greeter-${kind}", params=.*\\) → ${result.executionId} succeeded in \\d+`,
          ),
        );
        assert.match(logs.body, /agent tool workflow\(workflow="wf_[^"]+"\) → error, refused/);
      });
    }
    it('a tool call sent again in the same attempt finds the child it started', async () => {
      const child = await createWorkflow(h, {
        name: 'counted',
        graph: {
          nodes: [{ id: 'say', type: 'command', run: 'echo "n=1" >> "$SWITCHYARD_OUTPUT"' }],
        },
      });
      const parent = await createWorkflow(h, {
        name: 'asks-twice',
        graph: {
          nodes: [{ id: 'ask', type: 'agent', model: 'm', prompt: 'Run it', tools: ['workflow'] }],
        },
      });
      const call = { id: 'call_same', name: 'workflow', input: { workflow: child.id } };
      llm.script([{ toolCalls: [call] }, { toolCalls: [call] }, { text: 'Done.' }]);
      const done = await runAndWait(h, parent.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      const ids = [1, 2].map(
        (i) =>
          (JSON.parse(toolResults(llm.requests[i]!)[0]!.content) as { executionId: string })
            .executionId,
      );
      assert.equal(ids[0], ids[1]);
      const runs = await listExecutions(h, `workflowId=${child.id}`);
      assert.deepEqual(
        runs.map((r) => r.id),
        [ids[0]],
      );
    });

    it('a child that fails is a result the model reads; the node goes on', async () => {
      const child = await createWorkflow(h, {
        name: 'breaks',
        graph: { nodes: [{ id: 'boom', type: 'command', run: 'exit 3' }] },
      });
      const parent = await createWorkflow(h, {
        name: 'survives-a-failed-child',
        graph: {
          nodes: [{ id: 'ask', type: 'agent', model: 'm', prompt: 'Run it', tools: ['workflow'] }],
        },
      });
      llm.script([
        { toolCalls: [{ name: 'workflow', input: { workflow: 'breaks' } }] },
        { text: 'It failed with exit code 3.' },
      ]);
      const done = await runAndWait(h, parent.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      const result = JSON.parse(toolResults(llm.requests[1]!)[0]!.content) as {
        executionId: string;
        status: string;
        outputs: Record<string, unknown>;
        error?: { code: string; nodeId?: string };
      };
      assert.equal(result.status, 'failed');
      assert.equal(result.error?.nodeId, 'boom');
      const childRun = await getExecution(h, child.id, result.executionId);
      assert.equal(childRun.status, 'failed');
      assert.equal(childRun.error.code, result.error?.code);
    });

    it('cancelling the parent cancels the child it waits for', async () => {
      const child = await createWorkflow(h, {
        name: 'blocker',
        graph: { nodes: [{ id: 'block', type: 'command', run: 'exec sleep 300' }] },
      });
      const parent = await createWorkflow(h, {
        name: 'waits-for-blocker',
        graph: {
          nodes: [
            {
              id: 'ask',
              type: 'agent',
              model: 'test-model',
              prompt: 'Run the blocker',
              tools: ['workflow'],
            },
          ],
        },
      });
      llm.script([
        { toolCalls: [{ id: 'call_block', name: 'workflow', input: { workflow: 'blocker' } }] },
      ]);
      const run = await runWorkflow(h, parent.id);
      const lines = await awaitLogs(h, run.id, 'the start of the child', (ls) =>
        ls.some((l) => /started exec_/.test(l.text)),
      );
      const childId = /started (exec_\w+)/.exec(lines.map((l) => l.text).join('\n'))![1]!;
      await waitForNode(h, child.id, childId, 'block', ['running']);
      const res = await h.call('POST', `${executionUrl(parent.id, run.id)}/cancel`, {});
      assert.equal(res.statusCode, 200, res.body);
      const ended = await waitForStatus(h, child.id, childId, ['cancelled', 'succeeded', 'failed']);
      assert.equal(ended.status, 'cancelled');
      assert.equal(nodeOf(ended, 'block').status, 'cancelled');
      const done = await waitForStatus(h, parent.id, run.id, ['cancelled', 'succeeded', 'failed']);
      assert.equal(done.status, 'cancelled');
    });
  });
}
