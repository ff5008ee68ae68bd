/**
 * Platform events on both dialects with the server's real worker: a posted event starts the
 * matching published workflow (never a draft or an archived one), the run reads `trigger.data`,
 * the event says why other listeners did not start, reserved types need tokens.admin, one
 * workflow's end starts another, and the loop guard stops a self-triggering chain.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type PageJson,
  createWorkflow,
  listExecutions,
  runWorkflow,
  tokenWith,
  waitDeadlineMs,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { newId } from '../../src/ids.ts';
import { insertPlatformEvent } from '../../src/store/platform-events.ts';

interface TriggerJson {
  type: string;
  eventType?: string;
  subject?: string;
  eventId?: string;
  chainDepth?: number;
}

interface EventJson {
  id: string;
  type: string;
  subject: string | null;
  data: Record<string, unknown>;
  source: string;
  actor: string;
  chainDepth: number;
  status: string;
  executions: { executionId: string; workflowId: string; workflowName: string }[];
  unmatched: { workflowId: string; workflowName: string; reason: string }[];
}

/**
 * The first processed event satisfying `match`: read now and again each time this server records
 * an event's outcome, never on a timer.
 */
async function awaitProcessed(
  h: Harness,
  what: string,
  match: (e: EventJson) => boolean,
): Promise<EventJson> {
  let wake: () => void = () => {};
  const stop = h.yard.events.onProcessed(() => wake());
  const deadline = Date.now() + waitDeadlineMs;
  try {
    for (;;) {
      const changed = new Promise<void>((resolve) => (wake = resolve));
      const res = await h.call('GET', '/api/v1/events?limit=200');
      assert.equal(res.statusCode, 200, res.body);
      const found = res
        .json<PageJson<EventJson>>()
        .items.find((e) => e.status === 'processed' && match(e));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        changed,
        new Promise((resolve) => (timer = setTimeout(resolve, left))),
      ]).finally(() => clearTimeout(timer));
    }
  } finally {
    stop();
  }
}

const listener = (name: string, trigger: Record<string, unknown>, run = 'true') => ({
  name,
  triggerConfig: [{ type: 'event', ...trigger }],
  graph: { nodes: [{ id: 'n', type: 'command', run }] },
});

for (const dialect of dialectNames) {
  describe(`platform events (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(async () => {
      await h?.close();
    });

    const publish = async (id: string): Promise<void> => {
      const res = await h.call('POST', `/api/v1/workflows/${id}/publish`);
      assert.equal(res.statusCode, 200, res.body);
    };

    it('starts the matching published workflow, not drafts or archived ones, and says why', async () => {
      const deploy = await createWorkflow(
        h,
        listener(
          'deploy',
          { event: 'deploy.*', branches: ['release/*'] },
          'echo "branch=${{ trigger.data.branch }}" >> "$SWITCHYARD_OUTPUT"',
        ),
      );
      await publish(deploy.id);
      const mainOnly = await createWorkflow(
        h,
        listener('main-only', { event: 'deploy.requested', branches: ['main'] }),
      );
      await publish(mainOnly.id);
      await createWorkflow(h, listener('draft', { event: 'deploy.requested' }));
      const archived = await createWorkflow(h, listener('archived', { event: 'deploy.requested' }));
      await publish(archived.id);
      assert.equal((await h.call('DELETE', `/api/v1/workflows/${archived.id}`)).statusCode, 204);
      const other = await createWorkflow(h, listener('other', { event: 'pr.merged' }));
      await publish(other.id);

      const res = await h.call('POST', '/api/v1/events', {
        type: 'deploy.requested',
        subject: 'release-1.2',
        data: { branch: 'release/1.2' },
      });
      assert.equal(res.statusCode, 201, res.body);
      const event = res.json<EventJson>();
      assert.match(event.id, /^evt_/);
      assert.equal(event.source, 'api');
      assert.deepEqual(
        event.executions.map((e) => e.workflowName),
        ['deploy'],
      );
      const why = Object.fromEntries(event.unmatched.map((u) => [u.workflowName, u.reason]));
      assert.deepEqual(Object.keys(why).sort(), ['archived', 'draft', 'main-only']);
      assert.match(why['main-only']!, /data\.branch 'release\/1\.2' matches none of \[main\]/);
      assert.match(why.draft!, /drafts never fire/);
      assert.match(why.archived!, /archived/);

      const run = event.executions[0]!;
      const done = await waitForStatus(h, deploy.id, run.executionId, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.nodes[0]!.outputs.branch, 'release/1.2');
      const trigger = done.trigger as TriggerJson;
      assert.equal(trigger.type, 'event');
      assert.equal(trigger.eventType, 'deploy.requested');
      assert.equal(trigger.subject, 'release-1.2');
      assert.equal(trigger.eventId, event.id);
      assert.equal(
        (await listExecutions(h, `workflowId=${deploy.id}&triggerType=event`)).length,
        1,
      );

      const got = await h.call('GET', `/api/v1/events/${event.id}`);
      assert.equal(got.statusCode, 200, got.body);
      assert.deepEqual(got.json<EventJson>().unmatched, event.unmatched);
      const page = await h.call('GET', '/api/v1/events?type=deploy.requested');
      assert.deepEqual(
        page.json<PageJson<EventJson>>().items.map((e) => e.id),
        [event.id],
      );
    });

    it('keeps git., pr. and webhook. types for hooks and tokens.admin', async () => {
      const runner = await tokenWith(h, 'event-runner', ['workflows.run', 'workflows.read']);
      for (const type of ['pr.merged', 'git.push', 'webhook.x', 'execution.succeeded']) {
        const res = await h.call('POST', '/api/v1/events', { type }, { token: runner });
        assert.equal(res.statusCode, 403, `${type}: ${res.body}`);
        assert.equal(res.json().code, 'ERR_AUTH_FORBIDDEN');
      }
      const own = await h.call('POST', '/api/v1/events', { type: 'build.done' }, { token: runner });
      assert.equal(own.statusCode, 201, own.body);
      assert.equal(own.json<EventJson>().actor, 'event-runner');
      const admin = await h.call('POST', '/api/v1/events', { type: 'pr.merged' });
      assert.equal(admin.statusCode, 201, admin.body);
      const reader = await tokenWith(h, 'event-reader', ['workflows.read']);
      const no = await h.call('POST', '/api/v1/events', { type: 'x' }, { token: reader });
      assert.equal(no.statusCode, 403, no.body);
    });

    it('answers 400 to bad bodies and 404 to unknown events', async () => {
      for (const body of [
        {},
        { type: '' },
        { type: 'pr.*' },
        { type: 'a/b' },
        { type: 'ok', data: [] },
        { type: 'ok', data: 'text' },
        { type: 'ok', subject: 7 },
        { type: 'ok', extra: true },
      ]) {
        const res = await h.call('POST', '/api/v1/events', body);
        assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
      }
      const raw = await h.call('POST', '/api/v1/events', '{"type":', {
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(raw.statusCode, 400, raw.body);
      assert.equal((await h.call('GET', '/api/v1/events?cursor=nope')).statusCode, 400);
      assert.equal((await h.call('GET', '/api/v1/events?limit=0')).statusCode, 400);
      const missing = await h.call('GET', '/api/v1/events/evt_nope');
      assert.equal(missing.statusCode, 404, missing.body);
      assert.equal(missing.json().code, 'ERR_EVENT_NOT_FOUND');
    });

    it("starts a workflow when another one's execution succeeds", async () => {
      const upstream = await createWorkflow(h, {
        name: 'upstream',
        graph: { nodes: [{ id: 'n', type: 'noop' }] },
      });
      const downstream = await createWorkflow(
        h,
        listener('downstream', {
          event: 'execution.succeeded',
          if: "event.data.workflowName == 'upstream'",
        }),
      );
      await publish(downstream.id);
      const run = await runWorkflow(h, upstream.id);
      const ended = await awaitProcessed(
        h,
        'the end event of the upstream run',
        (e) => e.type === 'execution.succeeded' && e.subject === run.id,
      );
      assert.equal(ended.source, 'switchyard');
      assert.equal(ended.chainDepth, 1);
      assert.equal(ended.data.workflowId, upstream.id);
      assert.equal(ended.data.status, 'succeeded');
      assert.deepEqual(
        ended.executions.map((e) => e.workflowId),
        [downstream.id],
      );
      const child = await waitForStatus(h, downstream.id, ended.executions[0]!.executionId, [
        'succeeded',
        'failed',
      ]);
      assert.equal(child.status, 'succeeded');
      assert.equal((child.trigger as TriggerJson).chainDepth, 1);
    });

    it('stops a workflow that starts itself after ten links', async () => {
      const looper = await createWorkflow(h, {
        name: 'looper',
        triggerConfig: [
          { type: 'manual' },
          {
            type: 'event',
            event: 'execution.succeeded',
            if: "event.data.workflowName == 'looper'",
          },
        ],
        graph: { nodes: [{ id: 'n', type: 'noop' }] },
      });
      await publish(looper.id);
      await runWorkflow(h, looper.id);
      const stopped = await awaitProcessed(
        h,
        'the end event past the chain limit',
        (e) => e.type === 'execution.succeeded' && e.chainDepth === 11,
      );
      assert.deepEqual(stopped.executions, []);
      const reason = stopped.unmatched.find((u) => u.workflowId === looper.id)?.reason;
      assert.match(reason ?? '', /11 execution events deep \(at most 10\)/);
      // The manual run and ten chained ones.
      const runs = await listExecutions(h, `workflowId=${looper.id}&limit=50`);
      assert.equal(runs.length, 11);
      assert.deepEqual(
        runs.map((r) => (r.trigger as TriggerJson).chainDepth ?? 0).sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
    });

    it('matches an event a stopped server left pending, once however often it is matched', async () => {
      const wf = await createWorkflow(h, listener('recover', { event: 'left.pending' }));
      await publish(wf.id);
      // What an execution's end leaves when the server stops between the commit and matching.
      const id = newId('evt');
      await insertPlatformEvent(h.yard.database.db, {
        id,
        type: 'left.pending',
        subject: null,
        data: '{}',
        source: 'switchyard',
        actor: 'switchyard',
        created_at: new Date().toISOString(),
        chain_depth: 1,
        outcome: null,
        processed_at: null,
      });
      assert.equal(
        (await h.call('GET', `/api/v1/events/${id}`)).json<EventJson>().status,
        'pending',
      );
      await Promise.all([h.yard.events.processPending(), h.yard.events.process(id)]);
      const got = (await h.call('GET', `/api/v1/events/${id}`)).json<EventJson>();
      assert.equal(got.status, 'processed');
      assert.equal(got.executions.length, 1);
      assert.equal((await listExecutions(h, `workflowId=${wf.id}`)).length, 1);
      await waitForStatus(h, wf.id, got.executions[0]!.executionId, ['succeeded']);
    });
  });
}
