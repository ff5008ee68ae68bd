/**
 * The execution routes end to end on both dialects: run, detail, list, delete and the control
 * routes (cancel, retry, resume, follow-up). The server runs its real worker, so command nodes
 * really spawn /bin/sh; states are awaited by polling the detail route, never by timing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type ExecutionJson,
  type PageJson,
  createWorkflow,
  executionStatuses,
  executionUrl,
  getExecution,
  listDlq,
  listExecutions,
  nodeOf,
  nodeStatuses,
  processStopped,
  runAndWait,
  runWorkflow,
  awaitEvent,
  awaitLogs,
  waitForNode,
  waitForStatus,
} from '../helpers/executions.ts';
import { eventually } from '../helpers/eventually.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const paramsTrigger = {
  type: 'manual',
  inputs: {
    target: { type: 'string', required: true },
    count: { type: 'integer', default: 3 },
    mode: { type: 'string', enum: ['fast', 'slow'], default: 'fast' },
    verbose: { type: 'boolean' },
  },
};

/** A one-node workflow whose node echoes; `name` must be unique per harness. */
const echoWorkflow = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  graph: { nodes: [{ id: 'hello', type: 'command', run: 'echo hello' }] },
  ...extra,
});

for (const dialect of dialectNames) {
  describe(`executions API (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let scratch: string;
    before(async () => {
      h = await startHarness(dialect, { config: { killGraceMs: 1000 } });
      scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-exec-test-'));
    });
    after(async () => {
      await h?.close();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    /** A fresh directory for one test's marker, count and pid files. */
    const dirFor = (name: string): string => mkdtempSync(path.join(scratch, `${name}-`));

    describe('run', () => {
      it('answers 202 with exactly {id, workflowId, version, status} and a Location', async () => {
        const wf = await createWorkflow(h, echoWorkflow('run-shape'));
        const res = await h.call('POST', `/api/v1/workflows/${wf.id}/run`, {});
        assert.equal(res.statusCode, 202, res.body);
        const body = res.json();
        assert.deepEqual(Object.keys(body).sort(), ['id', 'status', 'version', 'workflowId']);
        assert.match(body.id, /^exec_[0-9a-z]+$/);
        assert.equal(body.workflowId, wf.id);
        assert.equal(body.version, 1);
        assert.ok(executionStatuses.includes(body.status), body.status);
        assert.equal(res.headers.location, executionUrl(wf.id, body.id));
        const detail = await h.call('GET', res.headers.location);
        assert.equal(detail.statusCode, 200, detail.body);
        assert.equal(detail.json().id, body.id);
        await waitForStatus(h, wf.id, body.id, ['succeeded']);
      });

      it('runs without a body at all', async () => {
        const wf = await createWorkflow(h, echoWorkflow('run-no-body'));
        const res = await h.call('POST', `/api/v1/workflows/${wf.id}/run`);
        assert.equal(res.statusCode, 202, res.body);
        await waitForStatus(h, wf.id, res.json().id, ['succeeded']);
      });

      it('runs the newest draft while nothing is published, then the active version', async () => {
        const wf = await createWorkflow(h, echoWorkflow('run-versions'));
        const url = `/api/v1/workflows/${wf.id}`;
        let res = await h.call('PATCH', url, {
          graph: { nodes: [{ id: 'v2', type: 'command', run: 'echo two' }] },
        });
        assert.equal(res.json().version, 2);
        let run = await runWorkflow(h, wf.id);
        assert.equal(run.version, 2, 'the newest draft runs while nothing is published');
        let detail = await waitForStatus(h, wf.id, run.id, ['succeeded']);
        assert.deepEqual(
          detail.nodes.map((n) => n.nodeId),
          ['v2'],
        );

        res = await h.call('POST', `${url}/publish`);
        assert.equal(res.statusCode, 200, res.body);
        res = await h.call('PATCH', url, {
          graph: { nodes: [{ id: 'v3', type: 'command', run: 'echo three' }] },
        });
        assert.equal(res.json().version, 3);
        run = await runWorkflow(h, wf.id);
        assert.equal(run.version, 2, 'the active version runs, not the newer draft');
        await waitForStatus(h, wf.id, run.id, ['succeeded']);

        run = await runWorkflow(h, wf.id, { version: 3 });
        assert.equal(run.version, 3);
        detail = await waitForStatus(h, wf.id, run.id, ['succeeded']);
        assert.equal(detail.version, 3);
        assert.deepEqual(
          detail.nodes.map((n) => n.nodeId),
          ['v3'],
        );
        run = await runWorkflow(h, wf.id, { version: 1 });
        assert.equal(run.version, 1);
        await waitForStatus(h, wf.id, run.id, ['succeeded']);

        res = await h.call('POST', `${url}/run`, { version: 9 });
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().code, 'ERR_VERSION_NOT_FOUND');
      });

      it("validates params against the manual trigger's inputs and applies defaults", async () => {
        const wf = await createWorkflow(h, {
          name: 'run-params',
          graph: { nodes: [{ id: 'p', type: 'noop' }] },
          triggerConfig: [paramsTrigger],
        });
        const url = `/api/v1/workflows/${wf.id}/run`;

        const ok = await runWorkflow(h, wf.id, { params: { target: 'prod' } });
        const detail = await waitForStatus(h, wf.id, ok.id, ['succeeded']);
        assert.deepEqual(detail.params, { target: 'prod', count: 3, mode: 'fast' });

        const bad = await h.call('POST', url, {
          params: { count: 'three', mode: 'medium', verbose: 'yes', extra: 1 },
        });
        assert.equal(bad.statusCode, 400, bad.body);
        const err = bad.json();
        assert.equal(err.code, 'ERR_PARAMS_INVALID');
        const byPath = new Map<string, string>(
          err.details.map((d: { path: string; message: string }) => [d.path, d.message]),
        );
        assert.deepEqual(
          [...byPath.keys()].sort(),
          ['params.count', 'params.extra', 'params.mode', 'params.target', 'params.verbose'],
          JSON.stringify(err.details),
        );
        assert.equal(err.details.length, 5, 'one detail per bad field');
        assert.match(byPath.get('params.target')!, /required/);
        assert.match(byPath.get('params.count')!, /integer/);
        assert.match(byPath.get('params.mode')!, /fast/);
        assert.match(byPath.get('params.verbose')!, /boolean/);
        assert.match(byPath.get('params.extra')!, /not an input/);

        const float = await h.call('POST', url, { params: { target: 'x', count: 1.5 } });
        assert.equal(float.statusCode, 400, float.body);
        assert.deepEqual(
          float.json().details.map((d: { path: string }) => d.path),
          ['params.count'],
        );

        const list = await h.call('GET', `/api/v1/workflows/executions?workflowId=${wf.id}`);
        assert.equal(list.json().items.length, 1, 'refused runs create no execution');
      });

      it('answers the same execution for the same Idempotency-Key', async () => {
        const wf = await createWorkflow(h, echoWorkflow('run-idempotent'));
        const first = await runWorkflow(h, wf.id, {}, { 'idempotency-key': 'deploy-42' });
        const again = await runWorkflow(h, wf.id, {}, { 'idempotency-key': 'deploy-42' });
        assert.equal(again.id, first.id);
        const other = await runWorkflow(h, wf.id, {}, { 'idempotency-key': 'deploy-43' });
        assert.notEqual(other.id, first.id);
        const plain = await runWorkflow(h, wf.id);
        assert.notEqual(plain.id, first.id);
        await waitForStatus(h, wf.id, first.id, ['succeeded']);
        await waitForStatus(h, wf.id, other.id, ['succeeded']);
        await waitForStatus(h, wf.id, plain.id, ['succeeded']);
        // The same key after the execution finished still answers it.
        const late = await runWorkflow(h, wf.id, {}, { 'idempotency-key': 'deploy-42' });
        assert.equal(late.id, first.id);
        assert.equal(late.status, 'succeeded');
        assert.equal((await listExecutions(h, `workflowId=${wf.id}`)).length, 3);

        // Keys are per workflow.
        const wf2 = await createWorkflow(h, echoWorkflow('run-idempotent-2'));
        const elsewhere = await runWorkflow(h, wf2.id, {}, { 'idempotency-key': 'deploy-42' });
        assert.notEqual(elsewhere.id, first.id);
        assert.equal(elsewhere.workflowId, wf2.id);

        // Concurrent requests with one new key create one execution.
        const racing = await Promise.all(
          Array.from({ length: 6 }, () =>
            h.call(
              'POST',
              `/api/v1/workflows/${wf.id}/run`,
              {},
              {
                headers: { 'idempotency-key': 'race' },
              },
            ),
          ),
        );
        for (const r of racing) assert.equal(r.statusCode, 202, r.body);
        const raced = new Set(racing.map((r) => r.json<{ id: string }>().id));
        assert.equal(raced.size, 1, [...raced].join());
        await waitForStatus(h, wf.id, [...raced][0]!, ['succeeded']);
        await waitForStatus(h, wf2.id, elsewhere.id, ['succeeded']);
        assert.equal((await listExecutions(h, `workflowId=${wf.id}`)).length, 4);
      });

      it('refuses archived and unknown workflows and unknown body fields', async () => {
        const wf = await createWorkflow(h, echoWorkflow('run-archived'));
        assert.equal((await h.call('DELETE', `/api/v1/workflows/${wf.id}`)).statusCode, 204);
        let res = await h.call('POST', `/api/v1/workflows/${wf.id}/run`, {});
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_WORKFLOW_ARCHIVED');

        res = await h.call('POST', '/api/v1/workflows/wf_nope/run', {});
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().code, 'ERR_WORKFLOW_NOT_FOUND');

        const live = await createWorkflow(h, echoWorkflow('run-unknown-field'));
        res = await h.call('POST', `/api/v1/workflows/${live.id}/run`, { parms: {} });
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().code, 'ERR_VALIDATION');
        res = await h.call('POST', `/api/v1/workflows/${live.id}/run`, { version: 0 });
        assert.equal(res.statusCode, 400, res.body);
      });
    });

    it('runs a realistic graph to success and answers the seed detail shape', async () => {
      const wf = await createWorkflow(h, {
        name: 'realistic',
        type: 'ci',
        variables: { ENV: 'staging' },
        triggerConfig: [paramsTrigger],
        graph: {
          nodes: [
            {
              id: 'build',
              type: 'command',
              run: [
                'echo "building $PARAM_TARGET for $ENV"',
                'echo "artifact=app-$PARAM_TARGET-$ENV" >> "$SWITCHYARD_OUTPUT"',
                'echo "count=$PARAM_COUNT mode=$PARAM_MODE" >> "$SWITCHYARD_OUTPUT"',
              ].join('\n'),
            },
            {
              id: 'deploy',
              type: 'command',
              needs: ['build'],
              run: [
                'test "${{ nodes.build.outputs.artifact }}" = "app-prod-staging"',
                'echo "deployed=${{ nodes.build.outputs.artifact }}" >> "$SWITCHYARD_OUTPUT"',
                'echo "deploy warnings: none" >&2',
              ].join('\n'),
            },
          ],
        },
      });
      const run = await runWorkflow(h, wf.id, { params: { target: 'prod' } });
      const detail = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
      assert.equal(detail.status, 'succeeded', JSON.stringify(detail));

      for (const key of [
        'id',
        'workflowId',
        'version',
        'status',
        'trigger',
        'startedAt',
        'endedAt',
        'durationMs',
        'nodes',
        'cost',
      ])
        assert.ok(key in detail, `detail has ${key}`);
      assert.equal(detail.id, run.id);
      assert.equal(detail.workflowId, wf.id);
      assert.equal(detail.version, 1);
      assert.equal(detail.trigger.type, 'manual');
      assert.equal(detail.trigger.actor, 'admin');
      assert.equal(detail.createdBy, 'admin');
      assert.equal(detail.parentExecutionId, null);
      assert.equal(detail.error, null);
      assert.deepEqual(detail.params, { target: 'prod', count: 3, mode: 'fast' });
      assert.ok(Date.parse(detail.endedAt) >= Date.parse(detail.startedAt));
      assert.equal(detail.durationMs, Date.parse(detail.endedAt) - Date.parse(detail.startedAt));
      assert.equal('turn' in detail, false, 'only chat executions carry turns');

      assert.deepEqual(
        detail.nodes.map((n) => n.nodeId),
        ['build', 'deploy'],
      );
      for (const n of detail.nodes) {
        for (const key of [
          'nodeId',
          'type',
          'status',
          'durationMs',
          'attempt',
          'startedAt',
          'endedAt',
          'error',
          'outputs',
          'cost',
        ])
          assert.ok(key in n, `node ${n.nodeId} has ${key}`);
        assert.equal(n.type, 'command');
        assert.equal(n.status, 'succeeded');
        assert.equal(n.attempt, 1);
        assert.equal(n.error, null);
        assert.equal(n.durationMs, Date.parse(n.endedAt) - Date.parse(n.startedAt));
        assert.ok(n.cost.computeSeconds > 0, `node ${n.nodeId} used compute`);
        assert.deepEqual(n.cost.tokens, { prompt: 0, completion: 0 });
      }
      const build = nodeOf(detail, 'build');
      const deploy = nodeOf(detail, 'deploy');
      assert.equal(build.outputs.artifact, 'app-prod-staging', 'vars and params reach the env');
      assert.equal(build.outputs.count, '3 mode=fast', 'defaults reach the env as PARAM_<NAME>');
      assert.equal(build.outputs.exitCode, 0);
      assert.equal(deploy.outputs.deployed, 'app-prod-staging', 'outputs flow through ${{ }}');
      assert.ok(Date.parse(deploy.startedAt) >= Date.parse(build.endedAt), 'deploy ran after');

      // The execution's cost sums its nodes.
      const sum = detail.nodes.reduce((acc, n) => acc + n.cost.computeSeconds, 0);
      assert.ok(Math.abs(detail.cost.computeSeconds - sum) < 0.01, JSON.stringify(detail.cost));
      assert.deepEqual(detail.cost.tokens, { prompt: 0, completion: 0 });
      assert.ok(detail.cost.estimatedUsd >= 0);
      assert.equal(typeof detail.cost.estimatedUsd, 'number');
    });

    it('decides parallel siblings that finish together, each once', async () => {
      const dir = dirFor('siblings');
      const ids = ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8'];
      const wf = await createWorkflow(h, {
        name: 'siblings',
        graph: {
          nodes: [
            ...ids.map((id) => ({ id, type: 'command', run: `echo run >> ${dir}/${id}` })),
            { id: 'join', type: 'noop', needs: ids },
          ],
        },
      });
      for (let round = 0; round < 3; round++) {
        const run = await runWorkflow(h, wf.id);
        // Well under the 30 s lease: a lost decision shows up as a timeout here.
        const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed'], 15_000);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        for (const id of ids) assert.equal(nodeOf(done, id).attempt, 1);
      }
      for (const id of ids)
        assert.equal(readFileSync(path.join(dir, id), 'utf8'), 'run\nrun\nrun\n', id);
    });

    describe('cancel', () => {
      it('stops the running process and cancels the node; a second cancel is 409', async () => {
        const wf = await createWorkflow(h, {
          name: 'cancel-sleep',
          graph: {
            nodes: [
              { id: 'sleepy', type: 'command', run: 'sleep 30 & echo "pids $$ $!"; wait' },
              { id: 'later', type: 'command', needs: ['sleepy'], run: 'echo never' },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id);
        const logs = await awaitLogs(h, run.id, 'the pids line', (lines) =>
          lines.some((l) => l.text.startsWith('pids ')),
        );
        const text = logs.find((l) => l.text.startsWith('pids '))!.text.slice(5);
        const [shellPid, sleepPid] = text.trim().split(' ').map(Number);
        assert.ok(shellPid! > 0 && sleepPid! > 0, text);
        assert.equal(processStopped(sleepPid!), false, 'sleep runs before the cancel');

        const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/cancel`, {
          reason: 'no longer needed',
        });
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json();
        assert.equal(body.id, run.id);
        assert.equal(body.status, 'cancelled');
        assert.equal(nodeOf(body, 'sleepy').status, 'cancelled');
        assert.equal(nodeOf(body, 'later').status, 'cancelled');
        assert.equal(body.error.code, 'ERR_CANCELLED');

        await eventually('the shell and sleep to stop', () =>
          processStopped(shellPid!) && processStopped(sleepPid!) ? true : undefined,
        );
        const again = await h.call('POST', `${executionUrl(wf.id, run.id)}/cancel`, {});
        assert.equal(again.statusCode, 409, again.body);
        assert.equal(again.json().code, 'ERR_EXECUTION_STATE');
        assert.equal(again.json().context.status, 'cancelled');
        // Without a body too.
        const bare = await h.call('POST', `${executionUrl(wf.id, run.id)}/cancel`);
        assert.equal(bare.statusCode, 409, bare.body);

        const detail = await getExecution(h, wf.id, run.id);
        assert.equal(detail.status, 'cancelled', 'the cancel sticks after the process exits');
        assert.equal(nodeOf(detail, 'sleepy').status, 'cancelled');
      });

      it('cancels a waiting execution', async () => {
        const wf = await createWorkflow(h, {
          name: 'cancel-waiting',
          graph: { nodes: [{ id: 'gate', type: 'approval', message: 'ok?' }] },
        });
        const run = await runWorkflow(h, wf.id);
        await waitForStatus(h, wf.id, run.id, ['waiting']);
        const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/cancel`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().status, 'cancelled');
        assert.equal(nodeOf(res.json(), 'gate').status, 'cancelled');
      });
    });

    describe('retry', () => {
      it('re-runs the failed node only, keeping earlier outputs', async () => {
        const dir = dirFor('retry');
        const wf = await createWorkflow(h, {
          name: 'retry-exec',
          graph: {
            nodes: [
              {
                id: 'prepare',
                type: 'command',
                run: `echo run >> ${dir}/prepare-runs; echo "token=t-1" >> "$SWITCHYARD_OUTPUT"`,
              },
              {
                id: 'check',
                type: 'command',
                needs: ['prepare'],
                run: [
                  `echo run >> ${dir}/check-runs`,
                  `test -f ${dir}/marker || { echo "marker missing" >&2; exit 4; }`,
                  'echo "saw=${{ nodes.prepare.outputs.token }}" >> "$SWITCHYARD_OUTPUT"',
                ].join('\n'),
              },
              { id: 'finish', type: 'command', needs: ['check'], run: 'echo finished' },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id);
        const failed = await waitForStatus(h, wf.id, run.id, ['failed', 'succeeded']);
        assert.equal(failed.status, 'failed');
        assert.equal(nodeOf(failed, 'check').status, 'failed');
        assert.equal(nodeOf(failed, 'check').error.exitCode, 4);
        // What can no longer run after the failure ends skipped, saying why.
        assert.equal(nodeOf(failed, 'finish').status, 'skipped');
        assert.equal(nodeOf(failed, 'finish').statusReason, 'upstream_failed');
        assert.equal(nodeOf(failed, 'check').statusReason, undefined);
        const skippedEvent = await awaitEvent(
          h,
          run.id,
          'node.status',
          (e) => e.nodeId === 'finish' && e.status === 'skipped',
          { pastEnd: true },
        );
        assert.equal(skippedEvent.data.statusReason, 'upstream_failed');
        assert.equal(failed.error.nodeId, 'check');
        const url = executionUrl(wf.id, run.id);

        let res = await h.call('POST', `${url}/retry`, { nodes: ['unknown'] });
        assert.equal(res.statusCode, 400, res.body);
        res = await h.call('POST', `${url}/retry`, { nodes: [] });
        assert.equal(res.statusCode, 400, res.body);
        res = await h.call('POST', `${url}/retry`, { node: ['check'] });
        assert.equal(res.statusCode, 400, res.body);

        writeFileSync(path.join(dir, 'marker'), '');
        res = await h.call('POST', `${url}/retry`);
        assert.equal(res.statusCode, 202, res.body);
        assert.equal(res.json().id, run.id);
        assert.equal(res.json().version, run.version);
        assert.ok(['running', 'succeeded'].includes(res.json().status), res.json().status);

        const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.equal(done.id, run.id);
        assert.equal(done.version, run.version);
        assert.equal(done.error, null);
        const prepare = nodeOf(done, 'prepare');
        assert.equal(prepare.attempt, 1, 'the succeeded node did not run again');
        assert.equal(prepare.outputs.token, 't-1');
        assert.equal(nodeOf(done, 'check').attempt, 2);
        assert.equal(nodeOf(done, 'check').outputs.saw, 't-1');
        // The retry reopened the skipped node and it ran.
        assert.equal(nodeOf(done, 'finish').status, 'succeeded');
        assert.equal(nodeOf(done, 'finish').attempt, 1);
        assert.equal(nodeOf(done, 'finish').statusReason, undefined);
        assert.equal(readFileSync(path.join(dir, 'prepare-runs'), 'utf8'), 'run\n');
        assert.equal(readFileSync(path.join(dir, 'check-runs'), 'utf8'), 'run\nrun\n');

        // The DLQ entry of the failure is closed by the execution retry.
        const dlq = await listDlq(h, `executionId=${run.id}`);
        assert.deepEqual(
          dlq.map((e) => [e.nodeId, e.status]),
          [['check', 'retried']],
        );

        res = await h.call('POST', `${url}/retry`, {});
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_EXECUTION_STATE');
        assert.equal(res.json().context.status, 'succeeded');
      });

      it('retries chosen nodes of a cancelled execution', async () => {
        const dir = dirFor('retry-cancelled');
        const wf = await createWorkflow(h, {
          name: 'retry-cancelled',
          graph: {
            nodes: [
              { id: 'first', type: 'command', run: `echo run >> ${dir}/first-runs` },
              {
                id: 'second',
                type: 'command',
                needs: ['first'],
                run: `test -f ${dir}/go || sleep 30`,
              },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id);
        await waitForNode(h, wf.id, run.id, 'second', ['running']);
        const url = executionUrl(wf.id, run.id);
        assert.equal((await h.call('POST', `${url}/cancel`)).statusCode, 200);
        writeFileSync(path.join(dir, 'go'), '');
        const res = await h.call('POST', `${url}/retry`, { nodes: ['second'] });
        assert.equal(res.statusCode, 202, res.body);
        const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed', 'cancelled']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.equal(nodeOf(done, 'first').attempt, 1);
        assert.equal(readFileSync(path.join(dir, 'first-runs'), 'utf8'), 'run\n');
      });
    });

    describe('resume', () => {
      const approvalGraph = {
        nodes: [
          { id: 'build', type: 'command', run: 'echo "sha=abc123" >> "$SWITCHYARD_OUTPUT"' },
          {
            id: 'approve',
            type: 'approval',
            needs: ['build'],
            message: 'Deploy ${{ nodes.build.outputs.sha }}?',
          },
          {
            id: 'deploy',
            type: 'command',
            needs: ['approve'],
            run: 'echo "by=${{ nodes.approve.outputs.actor }}" >> "$SWITCHYARD_OUTPUT"',
          },
        ],
      };

      it('waits for an approval and continues after approve', async () => {
        const wf = await createWorkflow(h, { name: 'resume-approve', graph: approvalGraph });
        const run = await runWorkflow(h, wf.id);
        const waiting = await waitForStatus(h, wf.id, run.id, ['waiting', 'failed']);
        assert.equal(waiting.status, 'waiting');
        const gate = nodeOf(waiting, 'approve');
        assert.equal(gate.status, 'waiting');
        assert.equal(gate.type, 'approval');
        assert.equal(gate.waitingFor.kind, 'approval');
        assert.equal(gate.waitingFor.message, 'Deploy abc123?');
        assert.equal(nodeOf(waiting, 'deploy').status, 'pending');
        const url = executionUrl(wf.id, run.id);

        let res = await h.call('POST', `${url}/resume`, { decision: 'maybe' });
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().code, 'ERR_VALIDATION');
        res = await h.call('POST', `${url}/resume`, {});
        assert.equal(res.statusCode, 400, res.body);
        res = await h.call('POST', `${url}/resume`, { decision: 'approve', nodeId: 'build' });
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_EXECUTION_STATE');

        res = await h.call('POST', `${url}/resume`, {
          decision: 'approve',
          comment: 'ship it',
          data: { ticket: 7 },
        });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(nodeOf(res.json(), 'approve').status, 'succeeded');
        assert.notEqual(res.json().status, 'waiting');

        const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        const outputs = nodeOf(done, 'approve').outputs;
        assert.equal(outputs.decision, 'approve');
        assert.equal(outputs.comment, 'ship it');
        assert.deepEqual(outputs.data, { ticket: 7 });
        assert.equal(outputs.actor, 'admin');
        assert.equal(nodeOf(done, 'deploy').outputs.by, 'admin');

        res = await h.call('POST', `${url}/resume`, { decision: 'approve' });
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_EXECUTION_STATE');
        assert.equal(res.json().context.status, 'succeeded');
      });

      it('fails the execution on reject', async () => {
        const wf = await createWorkflow(h, { name: 'resume-reject', graph: approvalGraph });
        const run = await runWorkflow(h, wf.id);
        await waitForStatus(h, wf.id, run.id, ['waiting']);
        const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/resume`, {
          nodeId: 'approve',
          decision: 'reject',
          comment: 'not today',
        });
        assert.equal(res.statusCode, 200, res.body);
        const done = await waitForStatus(h, wf.id, run.id, ['failed', 'succeeded']);
        assert.equal(done.status, 'failed');
        const gate = nodeOf(done, 'approve');
        assert.equal(gate.status, 'failed');
        assert.equal(gate.error.code, 'ERR_APPROVAL_REJECTED');
        assert.match(gate.error.message, /not today/);
        assert.equal(gate.outputs.decision, 'reject');
        assert.notEqual(nodeOf(done, 'deploy').status, 'succeeded');
        assert.equal(done.error.nodeId, 'approve');
      });

      it('refuses resume while running without an approval', async () => {
        const wf = await createWorkflow(h, {
          name: 'resume-running',
          graph: { nodes: [{ id: 'slow', type: 'command', run: 'sleep 30' }] },
        });
        const run = await runWorkflow(h, wf.id);
        await waitForNode(h, wf.id, run.id, 'slow', ['running']);
        const url = executionUrl(wf.id, run.id);
        const res = await h.call('POST', `${url}/resume`, { decision: 'approve' });
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_EXECUTION_STATE');
        assert.equal(res.json().context.status, 'running');
        assert.equal((await h.call('POST', `${url}/cancel`)).statusCode, 200);
      });
    });

    describe('followup', () => {
      it('answers a waiting input node', async () => {
        const wf = await createWorkflow(h, {
          name: 'followup-input',
          graph: {
            nodes: [
              { id: 'ask', type: 'input', message: 'Which branch?' },
              {
                id: 'use',
                type: 'command',
                needs: ['ask'],
                run: 'echo "branch=${{ nodes.ask.outputs.message }}" >> "$SWITCHYARD_OUTPUT"',
              },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id);
        const waiting = await waitForStatus(h, wf.id, run.id, ['waiting', 'failed']);
        assert.equal(waiting.status, 'waiting');
        const ask = nodeOf(waiting, 'ask');
        assert.equal(ask.status, 'waiting');
        assert.equal(ask.waitingFor.kind, 'input');
        assert.equal(ask.waitingFor.message, 'Which branch?');
        const url = executionUrl(wf.id, run.id);

        let res = await h.call('POST', `${url}/followup`, {});
        assert.equal(res.statusCode, 400, res.body);
        res = await h.call('POST', `${url}/resume`, { decision: 'approve' });
        assert.equal(res.statusCode, 409, 'an input node is no approval');

        res = await h.call('POST', `${url}/followup`, { message: 'main', data: { pr: 42 } });
        assert.equal(res.statusCode, 202, res.body);
        assert.equal(nodeOf(res.json(), 'ask').status, 'succeeded');
        const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        const outputs = nodeOf(done, 'ask').outputs;
        assert.equal(outputs.message, 'main');
        assert.deepEqual(outputs.data, { pr: 42 });
        assert.equal(nodeOf(done, 'use').outputs.branch, 'main');

        res = await h.call('POST', `${url}/followup`, { message: 'again' });
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_EXECUTION_STATE');
        assert.equal(res.json().context.status, 'succeeded');
      });

      it('runs chat turns: waiting after each turn, followup runs the next, cancel ends it', async () => {
        const wf = await createWorkflow(h, {
          name: 'chat-turns',
          type: 'chat',
          graph: {
            nodes: [
              {
                id: 'reply',
                type: 'command',
                run: 'echo "text=reply to turn ${{ execution.turn }}" >> "$SWITCHYARD_OUTPUT"',
              },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id, { params: { message: 'hello' } });
        const first = await waitForStatus(h, wf.id, run.id, ['waiting', 'failed', 'succeeded']);
        assert.equal(first.status, 'waiting', JSON.stringify(first));
        assert.equal(first.turn, 1);
        assert.deepEqual(
          first.conversation.map((m) => [m.role, m.content, m.turn]),
          [
            ['user', 'hello', 1],
            ['assistant', 'reply to turn 1', 1],
          ],
        );
        const url = executionUrl(wf.id, run.id);

        const res = await h.call('POST', `${url}/followup`, { message: 'and again' });
        assert.equal(res.statusCode, 202, res.body);
        assert.equal(res.json().turn, 2);
        await awaitEvent(h, run.id, 'input.requested', (e) => e.chat === true && e.turn === 2);
        const second = await getExecution(h, wf.id, run.id);
        assert.equal(second.status, 'waiting', JSON.stringify(second));
        assert.equal(second.turn, 2);
        assert.deepEqual(
          second.conversation.map((m) => [m.role, m.content, m.turn]),
          [
            ['user', 'hello', 1],
            ['assistant', 'reply to turn 1', 1],
            ['user', 'and again', 2],
            ['assistant', 'reply to turn 2', 2],
          ],
        );
        assert.equal(nodeOf(second, 'reply').status, 'succeeded');

        const cancel = await h.call('POST', `${url}/cancel`);
        assert.equal(cancel.statusCode, 200, cancel.body);
        assert.equal(cancel.json().status, 'cancelled');
        const late = await h.call('POST', `${url}/followup`, { message: 'too late' });
        assert.equal(late.statusCode, 409, late.body);
        assert.equal(late.json().context.status, 'cancelled');
      });
    });

    describe('wait and workflow nodes', () => {
      it('completes a wait node', async () => {
        const wf = await createWorkflow(h, {
          name: 'wait-node',
          graph: {
            nodes: [
              { id: 'pause', type: 'wait', duration: '200ms' },
              { id: 'after', type: 'command', needs: ['pause'], run: 'echo after' },
            ],
          },
        });
        const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        const pause = nodeOf(done, 'pause');
        assert.equal(pause.type, 'wait');
        assert.equal(pause.status, 'succeeded');
        assert.ok(Date.parse(nodeOf(done, 'after').startedAt) >= Date.parse(pause.endedAt));
      });

      it('runs a child workflow by name and waits for it', async () => {
        const child = await createWorkflow(h, {
          name: 'child-greeter',
          triggerConfig: [{ type: 'manual', inputs: { who: { type: 'string', required: true } } }],
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
        const parent = await createWorkflow(h, {
          name: 'parent-caller',
          graph: {
            nodes: [
              {
                id: 'call',
                type: 'workflow',
                workflow: 'child-greeter',
                params: { who: 'parent' },
              },
              { id: 'after', type: 'command', needs: ['call'], run: 'echo after' },
            ],
          },
        });
        const run = await runWorkflow(h, parent.id);
        const done = await waitForStatus(h, parent.id, run.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        const call = nodeOf(done, 'call');
        assert.equal(call.type, 'workflow');
        assert.equal(call.status, 'succeeded');
        assert.ok(call.childExecutionId, JSON.stringify(call));
        assert.match(JSON.stringify(call.outputs), /hello parent/);

        const list = await h.call('GET', `/api/v1/workflows/executions?workflowId=${child.id}`);
        assert.equal(list.statusCode, 200);
        const items = list.json().items;
        assert.equal(items.length, 1);
        assert.equal(items[0].id, call.childExecutionId);
        assert.equal(items[0].parentExecutionId, run.id);
        assert.equal(items[0].status, 'succeeded');
        assert.equal(items[0].trigger.type, 'workflow');
        const childDetail = await getExecution(h, child.id, call.childExecutionId);
        assert.deepEqual(childDetail.params, { who: 'parent' });
        assert.equal(nodeOf(childDetail, 'greet').outputs.greeting, 'hello parent');
        const byTrigger = await h.call(
          'GET',
          `/api/v1/workflows/executions?triggerType=workflow&workflowId=${child.id}`,
        );
        assert.equal(byTrigger.json().items.length, 1);
      });
    });

    describe('list', () => {
      // Each test on a database of its own: the lists are asserted exactly.
      let h: Harness;
      beforeEach(async () => {
        h = await startHarness(dialect);
      });
      afterEach(async () => {
        await h?.close();
      });

      it('lists every status it reports among the documented ones', async () => {
        const wf = await createWorkflow(h, {
          name: 'statuses',
          triggerConfig: [{ type: 'manual', inputs: { code: { type: 'integer', default: 0 } } }],
          graph: {
            nodes: [
              { id: 'x', type: 'command', run: 'exit $PARAM_CODE' },
              { id: 'gate', type: 'approval', needs: ['x'] },
              { id: 'y', type: 'command', needs: ['gate'], run: 'echo y' },
            ],
          },
        });
        const failed = await runWorkflow(h, wf.id, { params: { code: 3 } });
        const waiting = await runWorkflow(h, wf.id);
        const cancelled = await runWorkflow(h, wf.id);
        const approved = await runWorkflow(h, wf.id);
        await waitForStatus(h, wf.id, failed.id, ['failed']);
        for (const r of [waiting, cancelled, approved])
          await waitForStatus(h, wf.id, r.id, ['waiting']);
        const cancel = await h.call('POST', `${executionUrl(wf.id, cancelled.id)}/cancel`);
        assert.equal(cancel.statusCode, 200, cancel.body);
        const approve = await h.call('POST', `${executionUrl(wf.id, approved.id)}/resume`, {
          decision: 'approve',
        });
        assert.equal(approve.statusCode, 200, approve.body);
        await waitForStatus(h, wf.id, approved.id, ['succeeded']);

        const items = await listExecutions(h, 'limit=200');
        assert.deepEqual(Object.fromEntries(items.map((e) => [e.id, e.status])), {
          [failed.id]: 'failed',
          [waiting.id]: 'waiting',
          [cancelled.id]: 'cancelled',
          [approved.id]: 'succeeded',
        });
        for (const item of items) {
          assert.ok(executionStatuses.includes(item.status), item.status);
          const detail = await getExecution(h, item.workflowId, item.id);
          for (const n of detail.nodes)
            assert.ok((nodeStatuses as readonly string[]).includes(n.status), n.status);
        }
      });

      it('filters across workflows and pages with a cursor without gaps or duplicates', async () => {
        const a = await createWorkflow(h, {
          name: 'list-a',
          triggerConfig: [{ type: 'manual', inputs: { code: { type: 'integer', default: 0 } } }],
          graph: { nodes: [{ id: 'x', type: 'command', run: 'exit $PARAM_CODE' }] },
        });
        const b = await createWorkflow(h, echoWorkflow('list-b'));
        const aIds: string[] = [];
        for (let i = 0; i < 4; i++) {
          const r = await runWorkflow(h, a.id, { params: { code: i === 1 ? 7 : 0 } });
          aIds.push(r.id);
          await waitForStatus(h, a.id, r.id, ['succeeded', 'failed']);
        }
        // Version 2 of a.
        const patched = await h.call('PATCH', `/api/v1/workflows/${a.id}`, {
          graph: { nodes: [{ id: 'y', type: 'command', run: 'exit $PARAM_CODE' }] },
        });
        assert.equal(patched.json().version, 2);
        const v2 = await runWorkflow(h, a.id);
        assert.equal(v2.version, 2);
        aIds.push(v2.id);
        await waitForStatus(h, a.id, v2.id, ['succeeded']);
        const bRun = await runWorkflow(h, b.id);
        await waitForStatus(h, b.id, bRun.id, ['succeeded']);

        const list = (query: string) => listExecutions(h, query);
        const ids = (items: ExecutionJson[]) => items.map((e) => e.id).sort();

        const all = await list('limit=200');
        assert.deepEqual(ids(all), [...aIds, bRun.id].sort());
        const ofA = await list(`workflowId=${a.id}`);
        assert.deepEqual(ids(ofA), [...aIds].sort());
        const created = ofA.map((e) => Date.parse(e.createdAt));
        assert.deepEqual(
          created,
          [...created].sort((x, y) => y - x),
          'newest first',
        );
        for (const key of ['id', 'workflowId', 'version', 'status', 'trigger', 'cost'])
          assert.ok(key in ofA[0]!, `summary has ${key}`);
        assert.deepEqual(ids(await list(`workflowId=${b.id}`)), [bRun.id]);
        assert.deepEqual(ids(await list(`workflowId=${a.id}&status=failed`)), [aIds[1]]);
        assert.equal((await list(`workflowId=${a.id}&status=succeeded`)).length, 4);
        assert.deepEqual(ids(await list(`workflowId=${a.id}&version=2`)), [v2.id]);
        assert.equal((await list(`workflowId=${a.id}&version=1`)).length, 4);
        assert.equal((await list(`workflowId=${a.id}&triggerType=manual`)).length, 5);
        assert.equal((await list(`workflowId=${a.id}&triggerType=schedule`)).length, 0);
        assert.deepEqual(ids(await list('status=failed&limit=200')), [aIds[1]]);

        // since is inclusive, until exclusive, both on createdAt.
        const third = ofA.find((e) => e.id === aIds[2])!;
        const since = await list(`workflowId=${a.id}&since=${encodeURIComponent(third.createdAt)}`);
        assert.ok(since.every((e) => Date.parse(e.createdAt) >= Date.parse(third.createdAt)));
        assert.ok(since.some((e) => e.id === aIds[2]));
        assert.ok(!since.some((e) => e.id === aIds[0]));
        const until = await list(`workflowId=${a.id}&until=${encodeURIComponent(third.createdAt)}`);
        assert.ok(until.every((e) => Date.parse(e.createdAt) < Date.parse(third.createdAt)));
        assert.ok(until.some((e) => e.id === aIds[0]));
        assert.ok(!until.some((e) => e.id === aIds[2]));
        assert.equal(since.length + until.length, 5);
        const future = new Date(Date.now() + 3_600_000).toISOString();
        assert.equal((await list(`workflowId=${a.id}&since=${future}`)).length, 0);

        // limit=2 across 5: pages of 2, 2, 1.
        const seen: string[] = [];
        const sizes: number[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 10; page++) {
          const q: string = `workflowId=${a.id}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const res = await h.call('GET', `/api/v1/workflows/executions?${q}`);
          assert.equal(res.statusCode, 200, res.body);
          const body = res.json<PageJson<ExecutionJson>>();
          sizes.push(body.items.length);
          seen.push(...body.items.map((e) => e.id));
          cursor = body.nextCursor;
          if (cursor === null) break;
        }
        assert.deepEqual(sizes, [2, 2, 1]);
        assert.equal(new Set(seen).size, seen.length, 'no duplicates');
        assert.deepEqual(
          seen,
          ofA.map((e) => e.id),
          'the pages hold every item in order',
        );

        for (const bad of ['status=done', 'limit=0', 'limit=201', 'since=yesterday', 'foo=1']) {
          const res = await h.call('GET', `/api/v1/workflows/executions?${bad}`);
          assert.equal(res.statusCode, 400, `${bad}: ${res.body}`);
        }
        const badCursor = await h.call('GET', '/api/v1/workflows/executions?cursor=%%%');
        assert.equal(badCursor.statusCode, 400, badCursor.body);
      });
    });

    describe('delete', () => {
      const rowsOf = async (execId: string) => {
        const db = h.yard.database.db;
        const count = async (table: 'execution_events' | 'node_logs' | 'node_runs') =>
          (
            await db
              .selectFrom(table)
              .select('execution_id')
              .where('execution_id', '=', execId)
              .execute()
          ).length;
        return {
          events: await count('execution_events'),
          logs: await count('node_logs'),
          runs: await count('node_runs'),
        };
      };

      it('deletes one terminal execution with its events, logs and node runs', async () => {
        const wf = await createWorkflow(h, {
          name: 'delete-one',
          graph: {
            nodes: [
              { id: 'talk', type: 'command', run: 'echo line one; echo line two >&2' },
              { id: 'gate', type: 'approval', needs: ['talk'] },
            ],
          },
        });
        const run = await runWorkflow(h, wf.id);
        await waitForStatus(h, wf.id, run.id, ['waiting']);
        const url = executionUrl(wf.id, run.id);

        let res = await h.call('DELETE', url);
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(res.json().code, 'ERR_EXECUTION_STATE');
        assert.equal(res.json().context.status, 'waiting');

        assert.equal((await h.call('POST', `${url}/cancel`)).statusCode, 200);
        const before = await rowsOf(run.id);
        assert.ok(before.events > 0 && before.logs > 0 && before.runs > 0, JSON.stringify(before));

        res = await h.call('DELETE', url);
        assert.equal(res.statusCode, 204, res.body);
        assert.equal(res.body, '');
        res = await h.call('GET', url);
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().code, 'ERR_EXECUTION_NOT_FOUND');
        res = await h.call('DELETE', url);
        assert.equal(res.statusCode, 404, res.body);
        assert.deepEqual(await rowsOf(run.id), { events: 0, logs: 0, runs: 0 });
      });

      it('bulk deletes terminal executions by status and age, leaving active ones', async () => {
        const wf = await createWorkflow(h, {
          name: 'delete-bulk',
          triggerConfig: [
            {
              type: 'manual',
              inputs: { mode: { type: 'string', enum: ['ok', 'fail', 'hold'], default: 'ok' } },
            },
          ],
          graph: {
            nodes: [
              { id: 'x', type: 'command', run: 'test "$PARAM_MODE" != fail' },
              { id: 'hold', type: 'approval', needs: ['x'], if: "${{ params.mode == 'hold' }}" },
            ],
          },
        });
        const ok1 = await runAndWait(h, wf.id, ['succeeded', 'failed'], { params: { mode: 'ok' } });
        const ok2 = await runAndWait(h, wf.id, ['succeeded', 'failed'], { params: { mode: 'ok' } });
        const failed = await runAndWait(h, wf.id, ['succeeded', 'failed'], {
          params: { mode: 'fail' },
        });
        const held = await runAndWait(h, wf.id, ['waiting', 'failed'], {
          params: { mode: 'hold' },
        });
        assert.deepEqual(
          [ok1.status, ok2.status, failed.status, held.status],
          ['succeeded', 'succeeded', 'failed', 'waiting'],
        );
        assert.equal(nodeOf(ok1, 'hold').status, 'skipped');
        const other = await createWorkflow(h, echoWorkflow('delete-bulk-other'));
        const otherRun = await runAndWait(h, other.id, ['succeeded']);
        const url = `/api/v1/workflows/${wf.id}/executions`;

        let res = await h.call('DELETE', `${url}?before=${encodeURIComponent(ok1.createdAt)}`);
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), { deleted: 0 });
        res = await h.call('DELETE', `${url}?status=failed`);
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), { deleted: 1 });
        assert.equal((await h.call('GET', executionUrl(wf.id, failed.id))).statusCode, 404);
        const future = new Date(Date.now() + 3_600_000).toISOString();
        res = await h.call('DELETE', `${url}?before=${encodeURIComponent(future)}`);
        assert.deepEqual(res.json(), { deleted: 2 });
        res = await h.call('DELETE', url);
        assert.deepEqual(res.json(), { deleted: 0 }, 'the waiting execution stays');

        const left = await listExecutions(h, `workflowId=${wf.id}`);
        assert.deepEqual(
          left.map((e) => e.id),
          [held.id],
        );
        await getExecution(h, other.id, otherRun.id);

        res = await h.call('DELETE', `${url}?status=waiting`);
        assert.equal(res.statusCode, 400, res.body);
        res = await h.call('DELETE', '/api/v1/workflows/wf_nope/executions');
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().code, 'ERR_WORKFLOW_NOT_FOUND');
        assert.equal(
          (await h.call('POST', `${executionUrl(wf.id, held.id)}/cancel`)).statusCode,
          200,
        );
      });
    });

    it('answers 404 for an execution under another workflow on every execution route', async () => {
      const owner = await createWorkflow(h, {
        name: 'owner',
        graph: { nodes: [{ id: 'gate', type: 'approval' }] },
      });
      const stranger = await createWorkflow(h, echoWorkflow('stranger'));
      const run = await runWorkflow(h, owner.id);
      await waitForStatus(h, owner.id, run.id, ['waiting']);
      const calls: [string, string, unknown][] = [
        ['GET', '', undefined],
        ['DELETE', '', undefined],
        ['POST', '/cancel', {}],
        ['POST', '/retry', {}],
        ['POST', '/resume', { decision: 'approve' }],
        ['POST', '/followup', { message: 'hi' }],
      ];
      for (const [wfId, execId] of [
        [stranger.id, run.id],
        [owner.id, 'exec_00000000000000000000000000'],
        ['wf_nope', run.id],
      ] as const) {
        for (const [method, suffix, body] of calls) {
          const res = await h.call(method, `${executionUrl(wfId, execId)}${suffix}`, body);
          assert.equal(res.statusCode, 404, `${method} ${suffix} ${wfId}: ${res.body}`);
          assert.equal(res.json().code, 'ERR_EXECUTION_NOT_FOUND');
        }
      }
      // Nothing happened to it.
      const detail = await getExecution(h, owner.id, run.id);
      assert.equal(detail.status, 'waiting');
      assert.equal(
        (await h.call('POST', `${executionUrl(owner.id, run.id)}/cancel`)).statusCode,
        200,
      );
    });
  });
}
