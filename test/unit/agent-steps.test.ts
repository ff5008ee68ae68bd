/**
 * The steps of an agent attempt as events (src/worker/agent-steps.ts): each report is masked and
 * cut short (no part of a secret value where a text is cut), tool calls past the cap are counted,
 * and steps reported while one decision is in flight go together in the next, in order.
 */
import assert from 'node:assert/strict';
import { describe, it } from '../helpers/suite.ts';
import { SecretMasker } from '../../src/secrets/masker.ts';
import type { AgentStep } from '../../src/engine/types.ts';
import type { StepReport } from '../../src/nodes/executor.ts';
import { StepReports } from '../../src/worker/agent-steps.ts';

const secret = 'hunter2-swordfish-7c1d';

const call = (name: string, input: unknown, ok = true, error?: string) => ({
  id: `call_${name}`,
  name,
  input,
  ok,
  durationMs: 12.6,
  ...(error !== undefined && { error }),
});

const report = (step: number, toolCalls: StepReport['toolCalls'] = []): StepReport => ({
  step,
  toolCalls,
  usage: { prompt: 10, completion: 5 },
  finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
});

describe('agent step reports', () => {
  it('masks and cuts what a step shows, without showing part of a secret at a cut', async () => {
    const batches: AgentStep[][] = [];
    const steps = new StepReports(
      new SecretMasker([secret]),
      (batch) => {
        batches.push(batch);
        return Promise.resolve();
      },
      (err) => assert.fail(String(err)),
    );
    steps.push(
      report(1, [
        call('shell', { command: `curl -H "token: ${secret}" https://example.test` }),
        // The value straddles the 60-character cut of an argument.
        call('write_file', {
          path: 'a.txt',
          content: `${'x'.repeat(55)}${secret}${'z'.repeat(40)}`,
        }),
        call(
          'read_file',
          { path: 'gone.txt' },
          false,
          `error: ${'y'.repeat(190)}${secret}${'z'.repeat(50)}`,
        ),
        call('shell', `not an object ${secret}`),
        ...Array.from({ length: 20 }, (_, i) => call(`tool${i}`, {})),
      ]),
    );
    await steps.close();
    const [step] = batches.flat();
    assert.ok(step);
    const text = JSON.stringify(step);
    assert.ok(!text.includes(secret.slice(0, 4)), text);
    assert.equal(step.toolCalls.length, 20);
    assert.equal(step.toolCallsOmitted, 4);
    const [curl, write, read, odd] = step.toolCalls;
    assert.equal(curl!.args, 'command="curl -H \\"token: ***\\" https://example.test"');
    assert.equal(write!.args, `path="a.txt", content="${'x'.repeat(55)}…"`);
    assert.equal(read!.ok, false);
    assert.equal(read!.error, `error: ${'y'.repeat(190)}…`);
    assert.equal(odd!.args, '"not an object ***"');
    assert.equal(curl!.durationMs, 13);
  });

  it('sends the steps made while a decision is in flight together, in order; none after the close', async () => {
    const batches: number[][] = [];
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    const steps = new StepReports(
      new SecretMasker([]),
      async (batch) => {
        batches.push(batch.map((s) => s.step));
        if (batches.length === 1) await held;
      },
      (err) => assert.fail(String(err)),
    );
    steps.push(report(1));
    steps.push(report(2));
    steps.push(report(3));
    release();
    await steps.close();
    steps.push(report(4));
    assert.deepEqual(batches, [[1], [2, 3]]);
  });
});
