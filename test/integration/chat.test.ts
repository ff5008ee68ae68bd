/**
 * Chat workflows end to end (issue 11): a `type: chat` execution takes three follow-ups through
 * the real server and worker against the scripted LLM provider. Each turn's `llm` node (neither
 * `prompt` nor `messages`) is sent the conversation so far after its `system` text, the replies
 * stream as `chat.delta` events (on the SSE stream too) and land in `conversation`, and the idle
 * timeout (the clock moved past it) ends the chat `succeeded`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  executionUrl,
  getExecution,
  runWorkflow,
  waitForDetail,
  waitForStatus,
} from '../helpers/executions.ts';
import { type FakeLlm, startFakeLlm } from '../helpers/fake-llm.ts';
import { type Harness, adminToken, startHarness } from '../helpers/harness.ts';
import { follow } from '../helpers/sse.ts';
import type { Clock } from '../../src/clock.ts';

/** The real time, moved ahead by `skip` (to pass an idle timeout without waiting for it). */
function skippingClock(): Clock & { skip(ms: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    skip: (ms) => {
      offset += ms;
    },
  };
}

interface DeltaJson {
  seq: number;
  turn: number;
  nodeId: string;
  text: string;
}

for (const dialect of dialectNames) {
  describe(`chat workflows (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let llm: FakeLlm;
    let base: string;
    const clock = skippingClock();
    before(async () => {
      llm = await startFakeLlm();
      h = await startHarness(dialect, {
        clock,
        config: {
          llmProviders: { fake: { kind: 'openai', baseUrl: `${llm.url}/v1`, default: true } },
        },
      });
      base = await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(async () => {
      await h?.close();
      await llm?.close();
    });

    it('takes an llm node with neither prompt nor messages in a chat workflow only (create, update, import)', async () => {
      const bare = { nodes: [{ id: 'answer', type: 'llm', model: 'm' }] };
      const res = await h.call('POST', '/api/v1/workflows', {
        name: `not-chat-${dialect}`,
        graph: bare,
      });
      assert.equal(res.statusCode, 422, res.body);
      assert.match(res.body, /set exactly one of 'prompt' and 'messages'/);

      const chat = await createWorkflow(h, { name: `bare-chat-${dialect}`, type: 'chat' });
      const patched = await h.call('PATCH', `/api/v1/workflows/${chat.id}`, { graph: bare });
      assert.equal(patched.statusCode, 200, patched.body);
      const other = await createWorkflow(h, { name: `bare-automation-${dialect}` });
      const refused = await h.call('PATCH', `/api/v1/workflows/${other.id}`, { graph: bare });
      assert.equal(refused.statusCode, 422, refused.body);

      const yaml = (type: string) =>
        `name: bare-${type}-yaml-${dialect}\ntype: ${type}\nnodes:\n  - { id: answer, type: llm, model: m }\n`;
      const imported = await h.call('POST', '/api/v1/workflows/import', yaml('chat'), {
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(imported.statusCode, 201, imported.body);
      const notImported = await h.call('POST', '/api/v1/workflows/import', yaml('agent'), {
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(notImported.statusCode, 422, notImported.body);
      assert.match(notImported.body, /set exactly one of 'prompt' and 'messages'/);
    });

    it('takes three follow-ups: each turn gets the conversation so far, replies stream as chat.delta, the idle timeout ends it', async () => {
      const wf = await createWorkflow(h, {
        name: `chat-${dialect}`,
        type: 'chat',
        runtimeConfig: { idleTimeout: '1h' },
        graph: { nodes: [{ id: 'answer', type: 'llm', model: 'm', system: 'Be brief.' }] },
      });
      const replies = [
        'Hello! How can I help?',
        'Paris is the capital of France.',
        'About 2.1 million people live there.',
        'You are welcome, goodbye.',
      ];
      const questions = [
        'Hi there',
        'What is the capital of France?',
        'How many people live there?',
        'Thanks!',
      ];
      llm.script(replies.map((text) => ({ text, chunks: 4 })));

      const run = await runWorkflow(h, wf.id, { params: { message: questions[0] } });
      const stream = follow(`${base}${executionUrl(wf.id, run.id)}/stream`, adminToken);
      const turnEnded = (turn: number) =>
        waitForDetail(
          h,
          wf.id,
          run.id,
          `turn ${turn} to end with a reply`,
          (d) => d.status === 'waiting' && d.conversation.length === turn * 2,
        );
      await turnEnded(1);
      for (let turn = 2; turn <= 4; turn++) {
        const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/followup`, {
          message: questions[turn - 1],
        });
        assert.equal(res.statusCode, 202, res.body);
        await turnEnded(turn);
      }

      // Each call was sent the system text and the whole conversation up to its turn's question.
      assert.equal(llm.requests.length, 4);
      llm.requests.forEach((req, i) => {
        const expected: { role: string; content: string }[] = [
          { role: 'system', content: 'Be brief.' },
        ];
        for (let t = 0; t <= i; t++) {
          expected.push({ role: 'user', content: questions[t]! });
          if (t < i) expected.push({ role: 'assistant', content: replies[t]! });
        }
        assert.deepEqual(req.body.messages, expected, `the messages of call ${i + 1}`);
      });

      const detail = await getExecution(h, wf.id, run.id);
      assert.equal(detail.turn, 4);
      assert.deepEqual(
        detail.conversation.map(({ role, content, turn }) => ({ role, content, turn })),
        questions.flatMap((q, i) => [
          { role: 'user', content: q, turn: i + 1 },
          { role: 'assistant', content: replies[i], turn: i + 1 },
        ]),
      );

      // The idle timeout ends the chat: nothing came for longer than an hour.
      clock.skip(61 * 60_000);
      const ended = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed', 'cancelled']);
      assert.equal(ended.status, 'succeeded');
      assert.equal(ended.conversation.length, 8);

      // The SSE stream carries each reply as it was written: chat.delta events whose texts make
      // up the reply, before the node's success in that turn.
      assert.equal((await stream.ended).status, 'succeeded');
      for (let turn = 1; turn <= 4; turn++) {
        const deltas = stream.events
          .filter((f) => f.type === 'chat.delta')
          .map((f) => JSON.parse(f.data) as DeltaJson)
          .filter((d) => d.turn === turn);
        assert.ok(deltas.length > 0, `turn ${turn} streamed its reply`);
        assert.ok(deltas.every((d) => d.nodeId === 'answer'));
        assert.equal(deltas.map((d) => d.text).join(''), replies[turn - 1]);
        const prompted = stream.events
          .filter((f) => f.type === 'input.requested')
          .map((f) => JSON.parse(f.data) as { seq: number; turn: number })
          .find((e) => e.turn === turn);
        assert.ok(prompted, `turn ${turn} asked for input`);
        assert.ok(
          deltas.every((d) => d.seq < prompted.seq),
          'the deltas come before the turn ends',
        );
      }
    });
  });
}
