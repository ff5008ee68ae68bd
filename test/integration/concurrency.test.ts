/**
 * Concurrency groups (DESIGN §7), on both dialects, through the API: each policy with two runs in
 * one group, a group key rendered from params, `max`, a group shared by two workflows, and the
 * block versioned with the graph. Runs stay active on an approval node until a test resumes them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type ExecutionJson,
  createWorkflow,
  getExecution,
  listExecutions,
  runWorkflow,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const gate = { nodes: [{ id: 'gate', type: 'approval' }] };
const envInput = [{ type: 'manual', inputs: { env: { type: 'string', default: 'dev' } } }];

type Detail = ExecutionJson & { statusReason?: string; concurrencyGroup?: string };

for (const dialect of dialectNames) {
  describe(`concurrency groups (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(async () => {
      await h?.close();
    });

    async function workflow(name: string, concurrency: unknown, triggerConfig: unknown[] = []) {
      return (await createWorkflow(h, { name, graph: gate, concurrency, triggerConfig })).id;
    }
    /** Starts a run and waits until it holds its approval (it is active and started). */
    async function started(wfId: string, params: Record<string, unknown> = {}) {
      const run = await runWorkflow(h, wfId, { params });
      await waitForStatus(h, wfId, run.id, ['waiting']);
      return run.id;
    }
    async function approve(wfId: string, execId: string) {
      const res = await h.call('POST', `/api/v1/workflows/${wfId}/executions/${execId}/resume`, {
        decision: 'approve',
      });
      assert.equal(res.statusCode, 200, res.body);
      await waitForStatus(h, wfId, execId, ['succeeded']);
    }
    const detail = async (wfId: string, execId: string) =>
      (await getExecution(h, wfId, execId)) as Detail;

    it('queue: the second run waits pending with the reason and starts when the first ends', async () => {
      const wf = await workflow('queue', { group: 'q1' });
      const first = await started(wf);
      const second = await runWorkflow(h, wf);
      assert.equal(second.status, 'pending');
      const queued = await detail(wf, second.id);
      assert.equal(queued.status, 'pending');
      assert.equal(queued.statusReason, 'concurrency: waiting for group q1 (1 running)');
      assert.equal(queued.concurrencyGroup, 'q1');
      assert.ok(
        queued.nodes.every((n) => n.status === 'pending'),
        JSON.stringify(queued.nodes),
      );
      const listed = (await listExecutions(h, `workflowId=${wf}`)) as Detail[];
      assert.equal(listed.find((e) => e.id === second.id)?.statusReason, queued.statusReason);

      await approve(wf, first);
      const now = (await waitForStatus(h, wf, second.id, ['waiting'])) as Detail;
      assert.equal(now.statusReason, undefined);
      assert.equal(now.concurrencyGroup, 'q1');
      await approve(wf, second.id);
    });

    it('queue: a cancelled queued run is passed over, the next one starts in order', async () => {
      const wf = await workflow('queue-order', { group: 'q2', policy: 'queue' });
      const first = await started(wf);
      const b = await runWorkflow(h, wf);
      const c = await runWorkflow(h, wf);
      const d = await runWorkflow(h, wf);
      const res = await h.call('POST', `/api/v1/workflows/${wf}/executions/${b.id}/cancel`, {});
      assert.equal(res.statusCode, 200, res.body);
      await waitForStatus(h, wf, b.id, ['cancelled']);
      await approve(wf, first);
      await waitForStatus(h, wf, c.id, ['waiting']);
      // One slot: d still waits behind c.
      assert.equal((await detail(wf, d.id)).status, 'pending');
      await approve(wf, c.id);
      await waitForStatus(h, wf, d.id, ['waiting']);
      await approve(wf, d.id);
    });

    it('skip: a run into a full group answers 409 naming the group and creates nothing', async () => {
      const wf = await workflow('skip', { group: 's1', policy: 'skip' });
      const first = await started(wf);
      const res = await h.call('POST', `/api/v1/workflows/${wf}/run`, {});
      assert.equal(res.statusCode, 409, res.body);
      const body = res.json<{ code: string; error: string }>();
      assert.equal(body.code, 'ERR_CONCURRENCY_SKIPPED');
      assert.match(body.error, /s1/);
      assert.deepEqual(
        (await listExecutions(h, `workflowId=${wf}`)).map((e) => e.id),
        [first],
      );
      await approve(wf, first);
      // A free group starts runs again.
      await approve(wf, await started(wf));
    });

    it('cancel_running: the running run is cancelled and the new one runs', async () => {
      const wf = await workflow('cancel', { group: 'c1', policy: 'cancel_running' });
      const first = await started(wf);
      const second = await runWorkflow(h, wf);
      const cancelled = await waitForStatus(h, wf, first, ['cancelled']);
      assert.equal(cancelled.status, 'cancelled');
      await waitForStatus(h, wf, second.id, ['waiting']);
      await approve(wf, second.id);
    });

    it('the group renders from params: different envs run at once, the same env queues', async () => {
      const wf = await workflow('deploy', { group: 'deploy-${{ params.env }}' }, envInput);
      const staging = await started(wf, { env: 'staging' });
      const prod = await started(wf, { env: 'prod' });
      assert.equal((await detail(wf, prod)).concurrencyGroup, 'deploy-prod');
      assert.equal((await detail(wf, staging)).concurrencyGroup, 'deploy-staging');
      const again = await runWorkflow(h, wf, { params: { env: 'staging' } });
      assert.equal(
        (await detail(wf, again.id)).statusReason,
        'concurrency: waiting for group deploy-staging (1 running)',
      );
      await approve(wf, prod);
      assert.equal((await detail(wf, again.id)).status, 'pending');
      await approve(wf, staging);
      await waitForStatus(h, wf, again.id, ['waiting']);
      await approve(wf, again.id);
    });

    it('max: 2 lets two run and queues the third', async () => {
      const wf = await workflow('max2', { group: 'm2', max: 2 });
      const a = await started(wf);
      const b = await started(wf);
      const c = await runWorkflow(h, wf);
      assert.equal(
        (await detail(wf, c.id)).statusReason,
        'concurrency: waiting for group m2 (2 running)',
      );
      await approve(wf, a);
      await waitForStatus(h, wf, c.id, ['waiting']);
      await approve(wf, b);
      await approve(wf, c.id);
    });

    it('the key is global: two workflows sharing a group queue behind each other', async () => {
      const one = await workflow('shared-one', { group: 'shared' });
      const two = await workflow('shared-two', { group: 'shared' });
      const first = await started(one);
      const second = await runWorkflow(h, two);
      assert.equal((await detail(two, second.id)).status, 'pending');
      await approve(one, first);
      await waitForStatus(h, two, second.id, ['waiting']);
      await approve(two, second.id);
    });

    it("events: the group renders from trigger data; a skip is the event's unmatched reason", async () => {
      const wf = await workflow(
        'on-deploy',
        { group: 'deploy-${{ trigger.data.branch }}', policy: 'skip' },
        [{ type: 'event', event: 'deploy.requested' }],
      );
      const pub = await h.call('POST', `/api/v1/workflows/${wf}/publish`);
      assert.equal(pub.statusCode, 200, pub.body);
      type Outcome = { executions: { executionId: string }[]; unmatched: { reason: string }[] };
      const send = async (branch: string) => {
        const res = await h.call('POST', '/api/v1/events', {
          type: 'deploy.requested',
          data: { branch },
        });
        assert.equal(res.statusCode, 201, res.body);
        return res.json<Outcome>();
      };
      const first = await send('main');
      assert.equal(first.executions.length, 1, JSON.stringify(first));
      const mainRun = first.executions[0]!.executionId;
      await waitForStatus(h, wf, mainRun, ['waiting']);
      const skipped = await send('main');
      assert.equal(skipped.executions.length, 0, JSON.stringify(skipped));
      assert.match(skipped.unmatched[0]?.reason ?? '', /deploy-main/);
      const other = await send('dev');
      assert.equal(other.executions.length, 1, JSON.stringify(other));
      const devRun = other.executions[0]!.executionId;
      assert.equal((await detail(wf, devRun)).concurrencyGroup, 'deploy-dev');
      await waitForStatus(h, wf, devRun, ['waiting']);
      await approve(wf, mainRun);
      await approve(wf, devRun);
    });

    it('the block is versioned with the graph, validated with paths, exported as YAML', async () => {
      const wf = await workflow('versioned', { group: 'v1' });
      const patch = (body: unknown) => h.call('PATCH', `/api/v1/workflows/${wf}`, body);
      let res = await patch({ concurrency: { group: 'v1' } });
      assert.equal(res.json<{ version: number }>().version, 1, 'an unchanged block adds none');
      res = await patch({ concurrency: { group: 'v1', policy: 'skip' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json<{ version: number }>().version, 2);
      assert.deepEqual(res.json<{ concurrency: unknown }>().concurrency, {
        group: 'v1',
        policy: 'skip',
      });
      const v1 = await h.call('GET', `/api/v1/workflows/${wf}/versions/1`);
      assert.deepEqual(v1.json<{ concurrency: unknown }>().concurrency, { group: 'v1' });
      const yaml = await h.call('GET', `/api/v1/workflows/${wf}/export`);
      assert.match(yaml.body, /concurrency:\n {2}group: v1\n {2}policy: skip/);
      res = await patch({ concurrency: null });
      assert.equal(res.json<{ version: number }>().version, 3);
      assert.equal('concurrency' in res.json<object>(), false);

      res = await patch({
        concurrency: { group: 'x-${{ nodes.a.outputs.b }}', max: 0, policy: 'later' },
      });
      assert.equal(res.statusCode, 422, res.body);
      const paths = res.json<{ details: { path: string }[] }>().details.map((d) => d.path);
      assert.deepEqual(paths.sort(), [
        'concurrency.group',
        'concurrency.max',
        'concurrency.policy',
      ]);
    });
  });
}
