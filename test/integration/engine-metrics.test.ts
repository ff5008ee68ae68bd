/**
 * The engine's metrics on `/metrics` (docs/operations.md): executions started and finished by
 * type and status, node durations by type and status, decisions per commit, open DLQ entries,
 * the queue and the SSE streams, read after real runs.
 */
import assert from 'node:assert/strict';
import { createWorkflow, runAndWait } from '../helpers/executions.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

/** The value of one series (exact name and labels as Prometheus prints them). */
function valueOf(body: string, series: string): number | undefined {
  for (const line of body.split('\n'))
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return undefined;
}

for (const dialect of dialectNames) {
  describe(`engine metrics (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(() => h.close());

    it('counts runs, node attempts, commits and open DLQ entries', async () => {
      const ok = await createWorkflow(h, {
        name: 'metrics-ok',
        graph: {
          nodes: [
            { id: 'a', type: 'command', run: 'true' },
            { id: 'b', type: 'noop', needs: ['a'] },
          ],
        },
      });
      const bad = await createWorkflow(h, {
        name: 'metrics-bad',
        graph: { nodes: [{ id: 'boom', type: 'command', run: 'exit 3' }] },
      });
      await runAndWait(h, ok.id, ['succeeded']);
      await runAndWait(h, ok.id, ['succeeded']);
      await runAndWait(h, bad.id, ['failed']);

      const res = await h.call('GET', '/metrics', undefined, { token: null });
      assert.equal(res.statusCode, 200);
      const m = res.body;
      assert.equal(valueOf(m, 'switchyard_executions_started_total{type="automation"}'), 3, m);
      assert.equal(
        valueOf(m, 'switchyard_executions_finished_total{type="automation",status="succeeded"}'),
        2,
      );
      assert.equal(
        valueOf(m, 'switchyard_executions_finished_total{type="automation",status="failed"}'),
        1,
      );
      assert.equal(
        valueOf(
          m,
          'switchyard_node_duration_seconds_count{node_type="command",status="succeeded"}',
        ),
        2,
      );
      assert.equal(
        valueOf(m, 'switchyard_node_duration_seconds_count{node_type="noop",status="succeeded"}'),
        2,
      );
      assert.ok(
        (valueOf(
          m,
          'switchyard_node_duration_seconds_count{node_type="command",status="failed"}',
        ) ?? 0) >= 1,
        m,
      );
      // Every decision was committed, alone or with others.
      assert.ok((valueOf(m, 'switchyard_decisions_per_commit_sum') ?? 0) >= 9, m);
      assert.ok((valueOf(m, 'switchyard_decisions_per_commit_count') ?? 0) >= 1, m);
      assert.equal(valueOf(m, 'switchyard_dlq_open_entries'), 1);
      assert.equal(valueOf(m, 'switchyard_queue_due_tasks'), 0);
      assert.equal(valueOf(m, 'switchyard_queue_oldest_due_seconds'), 0);
      assert.equal(valueOf(m, 'switchyard_sse_subscribers'), 0);
      assert.equal(valueOf(m, 'switchyard_lease_takeovers_total'), 0);
      assert.ok(
        (valueOf(m, 'switchyard_sandbox_acquire_seconds_count{runtime="local"}') ?? 0) >= 3,
        m,
      );
    });
  });
}
