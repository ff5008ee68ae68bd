/**
 * The `agent` node's steps as durable events (issue 11 §3) through the real server and worker
 * against the scripted provider: each step is one `agent.step` event on the SSE stream, in order,
 * with its tool calls' names and outcomes (a failing tool is `ok: false`), before the node's end;
 * a secret value in a tool's arguments or error never reaches an event (nor a part of it cut
 * short); the detail's `nodes[].agent` counts the steps and tool calls; a retried attempt's steps
 * carry its own attempt number.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  executionUrl,
  getExecution,
  nodeOf,
  runWorkflow,
} from '../helpers/executions.ts';
import { type FakeLlm, startFakeLlm } from '../helpers/fake-llm.ts';
import { type Harness, adminToken, startHarness } from '../helpers/harness.ts';
import type { EventData } from '../helpers/events.ts';
import { type SseEvent, follow } from '../helpers/sse.ts';

/** An `agent.step` event's data as streamed (the shape the event helpers type). */
type StepJson = EventData['agent.step'] & { seq: number };

const secret = 'sk-agent-secret-4d1c9e7f';

function stepsOf(events: SseEvent[]): StepJson[] {
  return events.filter((e) => e.type === 'agent.step').map((e) => JSON.parse(e.data) as StepJson);
}

for (const dialect of dialectNames) {
  describe(`agent steps as events (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let llm: FakeLlm;
    let base: string;
    before(async () => {
      llm = await startFakeLlm();
      h = await startHarness(dialect, {
        config: {
          llmProviders: {
            fake: { kind: 'openai', baseUrl: `${llm.url}/v1`, default: true, maxRetries: 0 },
          },
        },
      });
      base = await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
      const res = await h.call('PUT', '/api/v1/secrets/AGENT_TOKEN', { value: secret });
      assert.equal(res.statusCode, 201, res.body);
    });
    after(async () => {
      await h?.close();
      await llm?.close();
    });

    it('streams one agent.step per step in order, with tool names and outcomes, and never a secret', async () => {
      const wf = await createWorkflow(h, {
        name: `agent-steps-${dialect}`,
        graph: {
          nodes: [
            // The token reaches the agent's workspace through a command (an agent reads no
            // secrets); the execution masks it everywhere, the agent's events included.
            {
              id: 'prepare',
              type: 'command',
              env: { TOKEN: '${{ secrets.AGENT_TOKEN }}' },
              run: 'printf %s "$TOKEN" > token.txt',
            },
            {
              id: 'work',
              type: 'agent',
              needs: ['prepare'],
              model: 'test-model',
              prompt: 'Use the token in token.txt, then read a file that is not there',
            },
          ],
        },
      });
      llm.script([
        {
          text: 'Storing it.',
          toolCalls: [
            { id: 'call_store', name: 'shell', input: { command: `echo ${secret} > token.txt` } },
            // The value straddles where the argument is cut short (60 characters).
            {
              id: 'call_long',
              name: 'shell',
              input: { command: `echo ${'a'.repeat(50)}${secret} >> token.txt && echo stored` },
            },
          ],
          usage: { prompt: 100, completion: 10 },
        },
        {
          toolCalls: [
            { id: 'call_read', name: 'read_file', input: { path: `missing-${secret}.txt` } },
          ],
          usage: { prompt: 200, completion: 20 },
        },
        { text: 'Done.', usage: { prompt: 300, completion: 30 } },
      ]);
      const run = await runWorkflow(h, wf.id);
      const stream = follow(`${base}${executionUrl(wf.id, run.id)}/stream`, adminToken);
      assert.equal((await stream.ended).status, 'succeeded');

      const steps = stepsOf(stream.events);
      assert.deepEqual(
        steps.map((s) => ({
          nodeId: s.nodeId,
          attempt: s.attempt,
          step: s.step,
          tools: s.toolCalls.map((c) => [c.id, c.name, c.ok]),
          usage: s.usage,
        })),
        [
          {
            nodeId: 'work',
            attempt: 1,
            step: 1,
            tools: [
              ['call_store', 'shell', true],
              ['call_long', 'shell', true],
            ],
            usage: { prompt: 100, completion: 10 },
          },
          {
            nodeId: 'work',
            attempt: 1,
            step: 2,
            tools: [['call_read', 'read_file', false]],
            usage: { prompt: 200, completion: 20 },
          },
          {
            nodeId: 'work',
            attempt: 1,
            step: 3,
            tools: [],
            usage: { prompt: 300, completion: 30 },
          },
        ],
      );
      assert.equal(steps[2]!.finishReason, 'stop');
      assert.ok(steps.every((s, i) => i === 0 || s.seq > steps[i - 1]!.seq));
      assert.ok(steps.flatMap((s) => s.toolCalls).every((c) => c.durationMs >= 0));
      // The arguments are shown short and masked; the failing call says why.
      const [store, long] = steps[0]!.toolCalls;
      assert.equal(store!.args, 'command="echo *** > token.txt"');
      assert.match(long!.args, /^command="echo a{50}…"$/);
      const read = steps[1]!.toolCalls[0]!;
      assert.match(read.error ?? '', /^error: cannot read the file/);
      assert.ok(read.error!.length <= 201, read.error);
      // Not the value, nor the start of it where an argument was cut.
      for (const e of stream.events)
        assert.ok(!e.data.includes(secret.slice(0, 5)), `${e.type} ${e.data}`);

      // All steps come before the node's end, and the detail counts them.
      const succeeded = stream.events.find(
        (e) =>
          e.type === 'node.status' &&
          e.data.includes('"nodeId":"work"') &&
          e.data.includes('"succeeded"'),
      );
      assert.ok(succeeded, 'the agent node succeeded on the stream');
      assert.ok(Number(succeeded.id) > steps[2]!.seq, 'its steps come before its end');
      const work = nodeOf(await getExecution(h, wf.id, run.id), 'work');
      assert.deepEqual(work.agent, { attempt: 1, steps: 3, toolCalls: 3 });
      assert.equal(work.outputs.toolCalls, 3);
    });

    it("a retried attempt's steps carry its attempt number", async () => {
      const wf = await createWorkflow(h, {
        name: `agent-retry-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'work',
              type: 'agent',
              model: 'test-model',
              prompt: 'List the files',
              retry: { maxAttempts: 2, initialInterval: '100ms' },
            },
          ],
        },
      });
      llm.script([
        { toolCalls: [{ id: 'call_ls', name: 'list_files', input: {} }] },
        // The provider fails the second call of attempt 1 (no retries in place): the node retries.
        { status: 500 },
        { text: 'Nothing there.' },
      ]);
      const run = await runWorkflow(h, wf.id);
      const stream = follow(`${base}${executionUrl(wf.id, run.id)}/stream`, adminToken);
      assert.equal((await stream.ended).status, 'succeeded');
      assert.deepEqual(
        stepsOf(stream.events).map((s) => [s.attempt, s.step, s.toolCalls.map((c) => c.ok)]),
        [
          [1, 1, [true]],
          [2, 1, []],
        ],
      );
      const work = nodeOf(await getExecution(h, wf.id, run.id), 'work');
      assert.equal(work.attempt, 2);
      assert.deepEqual(work.agent, { attempt: 2, steps: 1, toolCalls: 0 });
    });
  });
}
