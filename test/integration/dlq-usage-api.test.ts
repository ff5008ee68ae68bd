/**
 * The dead letter queue, usage and the permissions of the execution routes, on both dialects,
 * with the server's real worker running real commands.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type DlqJson,
  type PageJson,
  createWorkflow,
  executionUrl,
  getExecution,
  listDlq as listDlqOf,
  nodeOf,
  runAndWait,
  runWorkflow,
  tokenWith,
  awaitEvent,
  lastSeq,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

interface UsageGroupJson {
  key: string;
  attempts: number;
  computeSeconds: number;
  tokens: { prompt: number; completion: number };
  estimatedUsd: number;
}
interface UsageJson {
  total: UsageGroupJson;
  groups: UsageGroupJson[];
}

for (const dialect of dialectNames) {
  describe(`DLQ, usage and permissions (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let scratch: string;
    before(async () => {
      h = await startHarness(dialect, { config: { killGraceMs: 1000 } });
      scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-dlq-test-'));
    });
    after(async () => {
      await h?.close();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    const dirFor = (name: string): string => mkdtempSync(path.join(scratch, `${name}-`));
    const listDlq = (query: string) => listDlqOf(h, query);

    describe('failure and the DLQ', () => {
      it('fails after the retry budget and writes a DLQ entry with logs and inputs', async () => {
        const wf = await createWorkflow(h, {
          name: 'dlq-flaky',
          triggerConfig: [{ type: 'manual', inputs: { target: { type: 'string' } } }],
          graph: {
            nodes: [
              { id: 'ok', type: 'command', run: 'echo fine' },
              {
                id: 'flaky',
                type: 'command',
                needs: ['ok'],
                retry: { maxAttempts: 2, initialInterval: '100ms' },
                run: [
                  'echo "checking $PARAM_TARGET (attempt $SWITCHYARD_ATTEMPT)"',
                  'echo "disk full on /dev/sda1" >&2',
                  'echo "giving up" >&2',
                  'exit 3',
                ].join('\n'),
              },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id, { params: { target: 'db' } });
        const failed = await waitForStatus(h, wf.id, run.id, ['failed', 'succeeded']);
        assert.equal(failed.status, 'failed');
        assert.equal(failed.error.nodeId, 'flaky');
        assert.equal(failed.error.code, 'ERR_NODE_EXIT');
        const flaky = nodeOf(failed, 'flaky');
        assert.equal(flaky.status, 'failed');
        assert.equal(flaky.attempt, 2);
        assert.equal(flaky.error.code, 'ERR_NODE_EXIT');
        assert.equal(flaky.error.exitCode, 3);
        assert.match(flaky.error.message, /code 3/);
        assert.equal(nodeOf(failed, 'ok').status, 'succeeded');

        const entries = await listDlq(`workflowId=${wf.id}`);
        assert.equal(entries.length, 1, JSON.stringify(entries));
        const entry = entries[0]!;
        assert.equal(entry.executionId, run.id);
        assert.equal(entry.workflowId, wf.id);
        assert.equal(entry.version, 1);
        assert.equal(entry.nodeId, 'flaky');
        assert.equal(entry.status, 'open');
        assert.match(entry.id, /^dlq_/);
        assert.deepEqual((await listDlq(`workflowId=${wf.id}&status=open`)).length, 1);
        assert.deepEqual((await listDlq(`workflowId=${wf.id}&status=resolved`)).length, 0);
        assert.deepEqual((await listDlq(`workflowId=${wf.id}&nodeId=flaky`)).length, 1);
        assert.deepEqual((await listDlq(`workflowId=${wf.id}&nodeId=ok`)).length, 0);
        assert.deepEqual((await listDlq(`executionId=${run.id}`)).length, 1);
        assert.deepEqual((await listDlq('workflowId=wf_nope')).length, 0);

        const res = await h.call('GET', `/api/v1/workflows/dlq/${entry.id}`);
        assert.equal(res.statusCode, 200, res.body);
        const full = res.json();
        assert.deepEqual(Object.keys(full).sort(), [
          'attempts',
          'createdAt',
          'error',
          'executionId',
          'id',
          'inputs',
          'logLines',
          'logTail',
          'nodeId',
          'note',
          'resolvedAt',
          'resolvedBy',
          'status',
          'version',
          'workflowId',
        ]);
        assert.equal(full.attempts, 2);
        assert.equal(full.error.code, 'ERR_NODE_EXIT');
        assert.equal(full.error.exitCode, 3);
        assert.equal(typeof full.error.message, 'string');
        assert.equal(full.resolvedAt, null);
        assert.equal(full.resolvedBy, null);
        assert.equal(full.note, null);
        assert.ok(!Number.isNaN(Date.parse(full.createdAt)));
        assert.deepEqual(full.inputs.params, { target: 'db' });
        assert.match(JSON.stringify(full.inputs.config), /disk full/);
        const tail = full.logTail.join('\n');
        assert.match(tail, /disk full on \/dev\/sda1/, tail);
        assert.match(tail, /giving up/, tail);
        assert.match(tail, /checking db \(attempt 2\)/, tail);
        // The same lines, each with the attempt that wrote it.
        assert.equal(full.logLines.length, full.logTail.length);
        for (const n of [1, 2])
          assert.deepEqual(
            full.logLines.filter((l: { attempt: number }) => l.attempt === n),
            [
              { attempt: n, stream: 'stdout', text: `checking db (attempt ${n})` },
              { attempt: n, stream: 'stderr', text: 'disk full on /dev/sda1' },
              { attempt: n, stream: 'stderr', text: 'giving up' },
            ],
          );
      });

      it('resolves an entry once; a second resolve and a retry are 409', async () => {
        const wf = await createWorkflow(h, {
          name: 'dlq-resolve',
          graph: { nodes: [{ id: 'bad', type: 'command', run: 'exit 1' }] },
        });
        const run = await runAndWait(h, wf.id, ['failed', 'succeeded']);
        assert.equal(run.status, 'failed');
        const [entry] = await listDlq(`executionId=${run.id}`);
        assert.ok(entry);
        const url = `/api/v1/workflows/dlq/${entry.id}`;

        let res = await h.call('POST', `${url}/resolve`, { note: 'fixed the disk by hand' });
        assert.equal(res.statusCode, 200, res.body);
        const resolved = res.json();
        assert.equal(resolved.status, 'resolved');
        assert.equal(resolved.note, 'fixed the disk by hand');
        assert.equal(resolved.resolvedBy, 'admin');
        assert.ok(!Number.isNaN(Date.parse(resolved.resolvedAt)));
        assert.deepEqual((await h.call('GET', url)).json(), resolved);
        assert.equal((await listDlq(`workflowId=${wf.id}&status=resolved`)).length, 1);
        assert.equal((await listDlq(`workflowId=${wf.id}&status=open`)).length, 0);

        res = await h.call('POST', `${url}/resolve`);
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_DLQ_STATE');
        assert.equal(res.json().context.status, 'resolved');
        res = await h.call('POST', `${url}/retry`);
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_DLQ_STATE');
        assert.equal((await getExecution(h, wf.id, run.id)).status, 'failed', 'nothing re-ran');

        res = await h.call('POST', `${url}/resolve`, { note: 1 });
        assert.equal(res.statusCode, 400, res.body);
      });

      it('retries the failed node from the DLQ: the execution runs again and succeeds', async () => {
        const dir = dirFor('dlq-retry');
        const wf = await createWorkflow(h, {
          name: 'dlq-retry',
          graph: {
            nodes: [
              {
                id: 'first',
                type: 'command',
                run: `echo run >> ${dir}/first-runs; echo "v=1" >> "$SWITCHYARD_OUTPUT"`,
              },
              {
                id: 'check',
                type: 'command',
                needs: ['first'],
                retry: { maxAttempts: 2, initialInterval: '100ms' },
                run: `test -f ${dir}/marker || { echo "marker missing" >&2; exit 2; }`,
              },
              {
                id: 'last',
                type: 'command',
                needs: ['check'],
                run: 'echo "done=yes" >> "$SWITCHYARD_OUTPUT"',
              },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id);
        const failed = await waitForStatus(h, wf.id, run.id, ['failed', 'succeeded']);
        assert.equal(failed.status, 'failed');
        assert.equal(nodeOf(failed, 'check').attempt, 2);
        const [entry] = await listDlq(`executionId=${run.id}`);
        assert.ok(entry);
        assert.equal(entry.nodeId, 'check');

        writeFileSync(path.join(dir, 'marker'), '');
        const res = await h.call('POST', `/api/v1/workflows/dlq/${entry.id}/retry`);
        assert.equal(res.statusCode, 202, res.body);
        assert.equal(res.json().status, 'retried');
        assert.equal(res.json().resolvedBy, 'admin');
        const right = await getExecution(h, wf.id, run.id);
        assert.ok(['running', 'succeeded'].includes(right.status), right.status);

        const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.equal(done.error, null);
        assert.equal(nodeOf(done, 'check').status, 'succeeded');
        assert.equal(nodeOf(done, 'check').attempt, 3, 'one more attempt after the two failed');
        assert.equal(nodeOf(done, 'last').outputs.done, 'yes');
        assert.equal(nodeOf(done, 'first').attempt, 1);
        assert.equal(nodeOf(done, 'first').outputs.v, '1');
        assert.equal(readFileSync(path.join(dir, 'first-runs'), 'utf8'), 'run\n');

        // The execution went failed → running → succeeded.
        const statuses = (
          await h.yard.database.db
            .selectFrom('execution_events')
            .select(['seq', 'data'])
            .where('execution_id', '=', run.id)
            .where('type', '=', 'execution.status')
            .orderBy('seq')
            .execute()
        ).map((e) => (JSON.parse(e.data) as { status: string }).status);
        assert.deepEqual(statuses.slice(-3), ['failed', 'running', 'succeeded'], statuses.join());

        const again = await h.call('POST', `/api/v1/workflows/dlq/${entry.id}/retry`);
        assert.equal(again.statusCode, 409, again.body);
        assert.equal(again.json().code, 'ERR_DLQ_STATE');
      });

      it('gives the retried node a fresh attempt budget', async () => {
        const wf = await createWorkflow(h, {
          name: 'dlq-budget',
          graph: {
            nodes: [
              {
                id: 'always',
                type: 'command',
                retry: { maxAttempts: 2, initialInterval: '100ms' },
                run: 'echo "attempt $SWITCHYARD_ATTEMPT" >&2; exit 1',
              },
            ],
          },
        });
        const run = await runAndWait(h, wf.id, ['failed', 'succeeded']);
        const entry = (await listDlq(`executionId=${run.id}`))[0]!;
        const res = await h.call('POST', `/api/v1/workflows/dlq/${entry.id}/retry`);
        assert.equal(res.statusCode, 202, res.body);
        // The retry is decided before the 202, so the next `failed` is the end of the new budget.
        const done = await waitForStatus(h, wf.id, run.id, ['failed', 'succeeded']);
        assert.equal(done.status, 'failed');
        assert.equal(nodeOf(done, 'always').attempt, 4, 'two more attempts');
        const entries = await listDlq(`executionId=${run.id}`);
        // Each entry counts the node's attempts so far (CLARIFICATIONS), the retry's included.
        assert.deepEqual(entries.map((e) => [e.status, e.attempts]).sort(), [
          ['open', 4],
          ['retried', 2],
        ]);
        const open = entries.find((e) => e.status === 'open')!;
        assert.match(open.logTail.join('\n'), /attempt 4/);
      });

      /** Two independent nodes that fail until their marker file exists; `right` ends later. */
      const twoFailures = async (name: string, dir: string) => {
        const wf = await createWorkflow(h, {
          name,
          graph: {
            nodes: [
              { id: 'left', type: 'command', run: `test -f ${dir}/left` },
              // Later than left, so the two results are not decided at the same moment.
              { id: 'right', type: 'command', run: `sleep 0.3; test -f ${dir}/right` },
            ],
          },
        });
        const run = await runAndWait(h, wf.id, ['failed', 'succeeded']);
        assert.equal(run.status, 'failed');
        assert.equal(nodeOf(run, 'left').status, 'failed');
        assert.equal(nodeOf(run, 'right').status, 'failed');
        assert.equal((await listDlq(`executionId=${run.id}&status=open`)).length, 2);
        return { wf, run };
      };

      it('an execution retry of chosen nodes leaves the DLQ entries of the others open', async () => {
        const dir = dirFor('dlq-chosen');
        const { wf, run } = await twoFailures('dlq-chosen', dir);
        writeFileSync(path.join(dir, 'left'), '');
        const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/retry`, {
          nodes: ['left'],
        });
        assert.equal(res.statusCode, 202, res.body);
        await waitForStatus(h, wf.id, run.id, ['failed', 'succeeded']);
        const entries = await listDlq(`executionId=${run.id}`);
        assert.deepEqual(entries.map((e) => [e.nodeId, e.status]).sort(), [
          ['left', 'retried'],
          ['right', 'open'],
        ]);

        writeFileSync(path.join(dir, 'right'), '');
        const right = entries.find((e) => e.nodeId === 'right')!;
        const retried = await h.call('POST', `/api/v1/workflows/dlq/${right.id}/retry`);
        assert.equal(retried.statusCode, 202, retried.body);
        const done = await waitForStatus(h, wf.id, run.id, ['failed', 'succeeded']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
      });

      it('an execution retry of chosen nodes runs them while another node stays failed', async () => {
        const dir = dirFor('retry-chosen-runs');
        const { wf, run } = await twoFailures('retry-chosen-runs', dir);
        writeFileSync(path.join(dir, 'left'), '');
        const cursor = await lastSeq(h, run.id);
        const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/retry`, {
          nodes: ['left'],
        });
        assert.equal(res.statusCode, 202, res.body);
        // The end after the retry, not the failure before it.
        await awaitEvent(
          h,
          run.id,
          'execution.status',
          (e) => e.status === 'failed' || e.status === 'succeeded',
          { after: cursor },
        );
        const done = await getExecution(h, wf.id, run.id);
        assert.equal(nodeOf(done, 'left').status, 'succeeded', JSON.stringify(done));
        assert.equal(nodeOf(done, 'left').attempt, 2);
        assert.equal(nodeOf(done, 'right').status, 'failed');
        assert.equal(nodeOf(done, 'right').attempt, 1, 'right was not chosen');
        assert.equal(done.status, 'failed', 'right still fails the execution');
      });

      it('answers 404 for an unknown DLQ id and 400 for bad filters', async () => {
        for (const [method, suffix] of [
          ['GET', ''],
          ['POST', '/retry'],
          ['POST', '/resolve'],
        ] as const) {
          const res = await h.call(method, `/api/v1/workflows/dlq/dlq_nope${suffix}`);
          assert.equal(res.statusCode, 404, `${method} ${suffix}: ${res.body}`);
          assert.equal(res.json().code, 'ERR_DLQ_NOT_FOUND');
        }
        for (const bad of ['status=closed', 'limit=0', 'color=red']) {
          const res = await h.call('GET', `/api/v1/workflows/dlq?${bad}`);
          assert.equal(res.statusCode, 400, `${bad}: ${res.body}`);
        }
      });

      it('pages the DLQ with a cursor', async () => {
        const wf = await createWorkflow(h, {
          name: 'dlq-pages',
          graph: { nodes: [{ id: 'bad', type: 'command', run: 'exit 9' }] },
        });
        for (let i = 0; i < 3; i++) await runAndWait(h, wf.id, ['failed']);
        const seen: string[] = [];
        let cursor: string | null = null;
        const sizes: number[] = [];
        for (let page = 0; page < 5; page++) {
          const q: string = `workflowId=${wf.id}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const res = await h.call('GET', `/api/v1/workflows/dlq?${q}`);
          assert.equal(res.statusCode, 200, res.body);
          sizes.push(res.json().items.length);
          seen.push(...res.json<PageJson<DlqJson>>().items.map((e) => e.id));
          cursor = res.json().nextCursor;
          if (cursor === null) break;
        }
        assert.deepEqual(sizes, [2, 1]);
        assert.equal(new Set(seen).size, 3);
      });
    });

    describe('usage', () => {
      it('totals and groups compute by day, version and node, filtered by time', async () => {
        const wf = await createWorkflow(h, {
          name: 'usage',
          type: 'ci',
          graph: {
            nodes: [
              { id: 'compile', type: 'command', run: 'sleep 0.1' },
              { id: 'test', type: 'command', needs: ['compile'], run: 'sleep 0.1' },
            ],
          },
        });
        const startedAt = new Date(Date.now() - 1000).toISOString();
        const url = `/api/v1/workflows/${wf.id}/usage`;
        let res = await h.call('GET', url);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().total.attempts, 0);
        assert.equal(res.json().total.computeSeconds, 0);

        const runs = [];
        for (let i = 0; i < 2; i++) runs.push(await runAndWait(h, wf.id, ['succeeded', 'failed']));
        await h.call('PATCH', `/api/v1/workflows/${wf.id}`, {
          graph: { nodes: [{ id: 'compile', type: 'command', run: 'sleep 0.1' }] },
        });
        runs.push(await runAndWait(h, wf.id, ['succeeded', 'failed']));
        assert.deepEqual(
          runs.map((r) => [r.version, r.status]),
          [
            [1, 'succeeded'],
            [1, 'succeeded'],
            [2, 'succeeded'],
          ],
        );

        res = await h.call('GET', url);
        assert.equal(res.statusCode, 200, res.body);
        const usage = res.json();
        assert.equal(usage.workflowId, wf.id);
        assert.equal(usage.groupBy, null);
        assert.deepEqual(usage.groups, []);
        assert.equal(usage.total.key, 'total');
        assert.equal(usage.total.attempts, 5);
        assert.ok(usage.total.computeSeconds > 0, JSON.stringify(usage.total));
        // ci runs on 2 cpus: at least 0.1 s of sleep × 2 per attempt.
        assert.ok(usage.total.computeSeconds >= 5 * 0.1 * 2 * 0.9, JSON.stringify(usage.total));
        assert.deepEqual(usage.total.tokens, { prompt: 0, completion: 0 });
        assert.ok(usage.total.estimatedUsd > 0);
        const sumDetails = runs.reduce((acc, r) => acc + r.cost.computeSeconds, 0);
        assert.ok(Math.abs(usage.total.computeSeconds - sumDetails) < 0.01, `${sumDetails}`);

        const grouped = async (by: string): Promise<Map<string, UsageGroupJson>> => {
          const r = await h.call('GET', `${url}?groupBy=${by}`);
          assert.equal(r.statusCode, 200, r.body);
          assert.equal(r.json().groupBy, by);
          assert.equal(r.json().total.attempts, 5);
          const groups = r.json<UsageJson>().groups;
          const sum = groups.reduce((acc, g) => acc + g.computeSeconds, 0);
          assert.ok(Math.abs(sum - r.json().total.computeSeconds) < 0.01);
          return new Map(groups.map((g) => [g.key, g]));
        };
        const byVersion = await grouped('version');
        assert.deepEqual([...byVersion.keys()], ['1', '2']);
        assert.equal(byVersion.get('1')!.attempts, 4);
        assert.equal(byVersion.get('2')!.attempts, 1);
        const byNode = await grouped('node');
        assert.deepEqual([...byNode.keys()], ['compile', 'test']);
        assert.equal(byNode.get('compile')!.attempts, 3);
        assert.equal(byNode.get('test')!.attempts, 2);
        assert.ok(byNode.get('test')!.computeSeconds > 0);
        const byDay = await grouped('day');
        for (const key of byDay.keys()) assert.match(key, /^\d{4}-\d{2}-\d{2}$/);
        assert.ok(byDay.has(new Date().toISOString().slice(0, 10)) || byDay.size === 2);

        res = await h.call('GET', `${url}?since=${encodeURIComponent(startedAt)}`);
        assert.equal(res.json().total.attempts, 5);
        assert.equal(res.json().since, startedAt);
        const future = new Date(Date.now() + 3_600_000).toISOString();
        res = await h.call('GET', `${url}?since=${encodeURIComponent(future)}`);
        assert.equal(res.json().total.attempts, 0);
        res = await h.call('GET', `${url}?until=${encodeURIComponent(startedAt)}`);
        assert.equal(res.json().total.attempts, 0);
        // From the third run's creation on: only its attempt.
        const cut = runs[2]!.createdAt;
        res = await h.call('GET', `${url}?since=${encodeURIComponent(cut)}&groupBy=version`);
        assert.deepEqual(
          res.json<UsageJson>().groups.map((g) => [g.key, g.attempts]),
          [['2', 1]],
          res.body,
        );

        res = await h.call('GET', '/api/v1/workflows/wf_nope/usage');
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().code, 'ERR_WORKFLOW_NOT_FOUND');
        for (const bad of ['groupBy=week', 'since=soon', 'until=1', 'extra=1']) {
          res = await h.call('GET', `${url}?${bad}`);
          assert.equal(res.statusCode, 400, `${bad}: ${res.body}`);
          assert.equal(res.json().code, 'ERR_VALIDATION');
        }
      });
    });

    describe('permissions', () => {
      it('a workflows.read token reads everything and changes nothing', async () => {
        const reader = await tokenWith(h, 'reader', ['workflows.read']);
        const wf = await createWorkflow(h, {
          name: 'perm',
          graph: {
            nodes: [
              { id: 'bad', type: 'command', run: 'exit 1', continueOnError: true },
              { id: 'gate', type: 'approval' },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id);
        await waitForStatus(h, wf.id, run.id, ['waiting']);
        const [entry] = await listDlq(`executionId=${run.id}`);
        assert.ok(entry, 'the tolerated failure still has a DLQ entry');
        const exec = executionUrl(wf.id, run.id);

        const writes: [string, string, unknown][] = [
          ['POST', `/api/v1/workflows/${wf.id}/run`, {}],
          ['POST', `${exec}/cancel`, {}],
          ['POST', `${exec}/retry`, {}],
          ['POST', `${exec}/resume`, { decision: 'approve' }],
          ['POST', `${exec}/followup`, { message: 'hi' }],
          ['DELETE', exec, undefined],
          ['DELETE', `/api/v1/workflows/${wf.id}/executions`, undefined],
          ['POST', `/api/v1/workflows/dlq/${entry.id}/retry`, undefined],
          ['POST', `/api/v1/workflows/dlq/${entry.id}/resolve`, {}],
        ];
        for (const [method, url, body] of writes) {
          const res = await h.call(method, url, body, { token: reader });
          assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
          assert.equal(res.json().code, 'ERR_AUTH_FORBIDDEN');
          assert.equal(res.json().context.required, 'workflows.run');
        }
        const reads = [
          '/api/v1/workflows/executions',
          `/api/v1/workflows/executions?workflowId=${wf.id}`,
          exec,
          `/api/v1/workflows/${wf.id}/usage`,
          '/api/v1/workflows/dlq',
          `/api/v1/workflows/dlq/${entry.id}`,
        ];
        for (const url of reads) {
          const res = await h.call('GET', url, undefined, { token: reader });
          assert.equal(res.statusCode, 200, `GET ${url}: ${res.body}`);
        }
        for (const url of reads) {
          const res = await h.call('GET', url, undefined, { token: null });
          assert.equal(res.statusCode, 401, `GET ${url}: ${res.body}`);
        }

        // Nothing changed: still waiting, the entry still open, one execution.
        assert.equal((await getExecution(h, wf.id, run.id)).status, 'waiting');
        assert.equal(
          (await h.call('GET', `/api/v1/workflows/dlq/${entry.id}`)).json().status,
          'open',
        );
        const list = await h.call('GET', `/api/v1/workflows/executions?workflowId=${wf.id}`);
        assert.equal(list.json().items.length, 1);

        // A workflows.run token may control executions.
        const runner = await tokenWith(h, 'runner', ['workflows.run']);
        const res = await h.call(
          'POST',
          `${exec}/resume`,
          { decision: 'approve' },
          { token: runner },
        );
        assert.equal(res.statusCode, 200, res.body);
        const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', 'a tolerated failure does not fail the execution');
        assert.equal(nodeOf(done, 'gate').outputs.actor, 'runner');
      });
    });
  });
}
