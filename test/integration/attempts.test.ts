/**
 * Attempts are per attempt (issue "The first hour", item 4): each attempt of a node is its own
 * entry in the detail's `attempts[]` with its own start, end, duration, exit code and error, and
 * a DLQ entry counts the node's attempts, a retry's included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  listDlq,
  nodeOf,
  runAndWait,
  waitForDetail,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

for (const dialect of dialectNames) {
  describe(`node attempts (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(async () => {
      await h?.close();
    });

    it('lists every attempt with its own times and exit, and the DLQ counts them all', async () => {
      const wf = await createWorkflow(h, {
        name: `attempts-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'flaky',
              type: 'command',
              run: 'echo "fatal: attempt $SWITCHYARD_ATTEMPT" >&2; exit $((10 + SWITCHYARD_ATTEMPT))',
              retry: { maxAttempts: 2, initialInterval: '100ms' },
            },
          ],
        },
      });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'failed');
      const node = nodeOf(done, 'flaky') as unknown as {
        attempt: number;
        attempts: {
          attempt: number;
          status: string;
          startedAt: string;
          endedAt: string;
          durationMs: number;
          exitCode?: number;
          error: { message: string } | null;
        }[];
      };
      assert.equal(node.attempt, 2);
      assert.deepEqual(
        node.attempts.map((a) => [a.attempt, a.status, a.exitCode]),
        [
          [1, 'failed', 11],
          [2, 'failed', 12],
        ],
      );
      const [first, second] = node.attempts;
      assert.match(first!.error!.message, /fatal: attempt 1/);
      assert.match(second!.error!.message, /fatal: attempt 2/);
      // Each attempt has its own window: the second starts after the first ended.
      assert.ok(Date.parse(second!.startedAt) >= Date.parse(first!.endedAt));
      assert.equal(first!.durationMs, Date.parse(first!.endedAt) - Date.parse(first!.startedAt));

      const [entry] = await listDlq(h, `workflowId=${wf.id}`);
      assert.equal(entry!.attempts, 2);
      // A DLQ retry fails again: the new entry counts the node's attempts so far.
      const retry = await h.call('POST', `/api/v1/workflows/dlq/${entry!.id}/retry`);
      assert.equal(retry.statusCode, 202, retry.body);
      await waitForDetail(
        h,
        wf.id,
        done.id,
        'the retried node to fail at attempt 4',
        (d) => d.status === 'failed' && nodeOf(d, 'flaky').attempt === 4,
      );
      const again = await h.call('GET', `/api/v1/workflows/${wf.id}/executions/${done.id}`);
      const attempts = (again.json().nodes[0].attempts as { attempt: number }[]).map(
        (a) => a.attempt,
      );
      assert.deepEqual(attempts, [1, 2, 3, 4]);
      const open = (await listDlq(h, `workflowId=${wf.id}`)).filter((e) => e.status === 'open');
      assert.deepEqual(
        open.map((e) => e.attempts),
        [4],
      );
    });
  });
}
