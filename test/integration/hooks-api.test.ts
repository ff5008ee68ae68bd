/**
 * Webhooks through the API on both dialects: a workflow's hooks (secret shown once), generic
 * deliveries signed over "<timestamp>.<body>" that start the hook's own workflow, GitHub
 * deliveries built after GitHub's documented `push` and `pull_request` payloads and signed here,
 * that become platform events firing `event` triggers (the seed's `{type: event, event:
 * pr.merged, branches: [main]}` among them), duplicates, replays and bad signatures.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type ExecutionJson,
  createWorkflow,
  listExecutions,
  nodeOf,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { signGeneric } from '../../src/triggers/signature.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/github/${name}.json`, import.meta.url));

for (const dialect of dialectNames) {
  describe(`webhooks API (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(async () => {
      await h?.close();
    });

    async function publishedWorkflow(name: string, triggers: unknown[], run: string) {
      const wf = await createWorkflow(h, {
        name,
        triggerConfig: triggers,
        graph: { nodes: [{ id: 'step', type: 'command', run }] },
      });
      const pub = await h.call('POST', `/api/v1/workflows/${wf.id}/publish`);
      assert.equal(pub.statusCode, 200, pub.body);
      return wf;
    }

    async function createHook(wfId: string, name: string, kind?: string) {
      const res = await h.call('POST', `/api/v1/workflows/${wfId}/hooks`, {
        name,
        ...(kind !== undefined && { kind }),
      });
      assert.equal(res.statusCode, 201, res.body);
      return res.json<{ id: string; url: string; secret: string; kind: string }>();
    }

    function deliver(url: string, body: Buffer | string, headers: Record<string, string>) {
      return h.call('POST', url, Buffer.from(body), {
        token: null,
        headers: { 'content-type': 'application/json', ...headers },
      });
    }

    it('creates hooks with a secret shown once, lists them without it, deletes them', async () => {
      const wf = await createWorkflow(h, { name: `hooks-crud-${dialect}` });
      const hook = await createHook(wf.id, 'deploy');
      assert.match(hook.id, /^hook_/);
      assert.equal(hook.kind, 'generic');
      assert.equal(hook.url, `/api/v1/hooks/${hook.id}`);
      assert.match(hook.secret, /^whsec_[0-9a-f]{48}$/);
      const again = await h.call('POST', `/api/v1/workflows/${wf.id}/hooks`, { name: 'deploy' });
      assert.equal(again.statusCode, 409);
      assert.equal(again.json().code, 'ERR_HOOK_NAME_TAKEN');
      const list = await h.call('GET', `/api/v1/workflows/${wf.id}/hooks`);
      assert.equal(list.statusCode, 200);
      assert.equal(list.json().items.length, 1);
      assert.equal(list.json().items[0].secret, undefined, 'never the secret again');
      const missing = await h.call('POST', '/api/v1/workflows/wf_nope/hooks', { name: 'x' });
      assert.equal(missing.statusCode, 404);
      const del = await h.call('DELETE', `/api/v1/workflows/${wf.id}/hooks/${hook.id}`);
      assert.equal(del.statusCode, 204);
      const body = '{}';
      const gone = await deliver(hook.url, body, signGeneric(hook.secret, body, Date.now() / 1000));
      assert.equal(gone.statusCode, 404);
      assert.equal(gone.json().code, 'ERR_HOOK_NOT_FOUND');
    });

    it('a signed generic delivery starts its own workflow with trigger.type webhook', async () => {
      const wf = await publishedWorkflow(
        `hooks-generic-${dialect}`,
        [{ type: 'webhook', name: 'build' }],
        'echo "ref=${{ trigger.data.ref }}" >> "$SWITCHYARD_OUTPUT"',
      );
      const hook = await createHook(wf.id, 'build');
      const body = JSON.stringify({ ref: 'v1.2.3' });
      const res = await deliver(hook.url, body, signGeneric(hook.secret, body, Date.now() / 1000));
      assert.equal(res.statusCode, 202, res.body);
      const answer = res.json();
      assert.equal(answer.eventType, 'webhook.build');
      assert.match(answer.eventId, /^evt_/);
      assert.equal(answer.executionIds.length, 1);
      const done = await waitForStatus(h, wf.id, answer.executionIds[0], ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.equal(done.trigger.type, 'webhook');
      assert.equal((done.trigger as { eventId?: string }).eventId, answer.eventId);
      assert.equal(nodeOf(done, 'step').outputs.ref, 'v1.2.3', 'the run sees trigger.data');

      // The same signed delivery again is a replay: 401, nothing started.
      const signed = signGeneric(hook.secret, body, Date.now() / 1000 + 1);
      assert.equal((await deliver(hook.url, body, signed)).statusCode, 202);
      const again = await deliver(hook.url, body, signed);
      assert.equal(again.statusCode, 401);
      assert.equal(again.json().code, 'ERR_HOOK_REPLAY');
    });

    it('a generic delivery fires no event trigger, but trigger rules see it', async () => {
      const wf = await publishedWorkflow(
        `hooks-own-${dialect}`,
        [{ type: 'webhook', name: 'ping' }],
        'true',
      );
      const listener = await publishedWorkflow(
        `hooks-listener-${dialect}`,
        [{ type: 'event', event: 'webhook.*' }],
        'true',
      );
      const ruled = await publishedWorkflow(`hooks-ruled-${dialect}`, [], 'true');
      const rule = await h.call('POST', '/api/v1/triggers', {
        name: `on-ping-${dialect}`,
        event: 'webhook.ping',
        action: { type: 'run', workflowId: ruled.id },
      });
      assert.equal(rule.statusCode, 201, rule.body);
      const hook = await createHook(wf.id, 'ping');
      const body = '{}';
      const res = await deliver(hook.url, body, signGeneric(hook.secret, body, Date.now() / 1000));
      assert.equal(res.statusCode, 202, res.body);
      assert.equal(res.json().executionIds.length, 2, 'its own workflow and the rule’s');
      assert.equal((await listExecutions(h, `workflowId=${wf.id}`)).length, 1);
      assert.equal((await listExecutions(h, `workflowId=${ruled.id}`)).length, 1);
      assert.deepEqual(await listExecutions(h, `workflowId=${listener.id}`), []);
      const del = await h.call('DELETE', `/api/v1/triggers/${rule.json().id}`);
      assert.equal(del.statusCode, 204);
    });

    it('refuses unsigned, wrongly signed and stale deliveries with 401 and starts nothing', async () => {
      const wf = await publishedWorkflow(
        `hooks-refused-${dialect}`,
        [{ type: 'webhook', name: 'build' }],
        'true',
      );
      const hook = await createHook(wf.id, 'build');
      const body = '{"a":1}';
      const now = Date.now() / 1000;
      for (const headers of [
        {},
        signGeneric('whsec_wrong', body, now),
        signGeneric(hook.secret, body, now - 600),
        { ...signGeneric(hook.secret, body, now), 'x-switchyard-signature': 'sha256=00' },
      ]) {
        const res = await deliver(hook.url, body, headers);
        assert.equal(res.statusCode, 401, res.body);
        assert.equal(res.json().code, 'ERR_HOOK_SIGNATURE');
      }
      assert.deepEqual(await listExecutions(h, `workflowId=${wf.id}`), []);
      const deliveries = await h.call(
        'GET',
        `/api/v1/workflows/${wf.id}/hooks/${hook.id}/deliveries`,
      );
      assert.equal(deliveries.statusCode, 200);
      const outcomes = deliveries.json().items.map((d: { outcome: string }) => d.outcome);
      assert.deepEqual(outcomes, ['rejected', 'rejected', 'rejected', 'rejected']);
    });

    it('a generic delivery to a draft starts nothing and says why', async () => {
      const wf = await createWorkflow(h, {
        name: `hooks-draft-${dialect}`,
        triggerConfig: [{ type: 'webhook', name: 'build' }],
        graph: { nodes: [{ id: 'step', type: 'command', run: 'true' }] },
      });
      const hook = await createHook(wf.id, 'build');
      const body = '{}';
      const res = await deliver(hook.url, body, signGeneric(hook.secret, body, Date.now() / 1000));
      assert.equal(res.statusCode, 202, res.body);
      assert.deepEqual(res.json().executionIds, []);
      assert.match(res.json().detail, /drafts never fire/);
    });

    describe('GitHub', () => {
      let hook: { id: string; url: string; secret: string };
      let onPush: { id: string };
      let onMerge: { id: string };
      let other: { id: string };
      before(async () => {
        const receiver = await createWorkflow(h, { name: `gh-receiver-${dialect}` });
        hook = await createHook(receiver.id, 'github', 'github');
        onPush = await publishedWorkflow(
          `gh-on-push-${dialect}`,
          [{ type: 'event', event: 'git.push', branches: ['main'], paths: ['src/**'] }],
          'echo "branch=${{ trigger.data.branch }}" >> "$SWITCHYARD_OUTPUT"',
        );
        // The seed's trigger.
        onMerge = await publishedWorkflow(
          `gh-on-merge-${dialect}`,
          [{ type: 'event', event: 'pr.merged', branches: ['main'] }],
          'echo "subject=${{ trigger.subject }}" >> "$SWITCHYARD_OUTPUT"',
        );
        other = await publishedWorkflow(
          `gh-other-branch-${dialect}`,
          [{ type: 'event', event: 'pr.merged', branches: ['release/*'] }],
          'true',
        );
      });

      function github(event: string, raw: Buffer, delivery: string, secret = hook.secret) {
        return deliver(hook.url, raw, {
          'x-github-event': event,
          'x-github-delivery': delivery,
          'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`,
        });
      }

      async function onlyRun(wfId: string): Promise<ExecutionJson> {
        const runs = await listExecutions(h, `workflowId=${wfId}`);
        assert.equal(runs.length, 1, JSON.stringify(runs));
        return waitForStatus(h, wfId, runs[0]!.id, ['succeeded', 'failed']);
      }

      it('answers ping', async () => {
        const res = await github(
          'ping',
          Buffer.from('{"zen":"Keep it logically awesome."}'),
          `ping-${dialect}`,
        );
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().zen, 'Keep it logically awesome.');
      });

      it('a push delivery becomes git.push and fires the matching event trigger', async () => {
        const res = await github('push', fixture('push'), `push-1-${dialect}`);
        assert.equal(res.statusCode, 202, res.body);
        assert.equal(res.json().eventType, 'git.push');
        const done = await onlyRun(onPush.id);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.equal(done.trigger.type, 'event');
        assert.equal(done.trigger.eventType, 'git.push');
        assert.equal(nodeOf(done, 'step').outputs.branch, 'main');
      });

      it('a merged pull request fires {type: event, event: pr.merged, branches: [main]}', async () => {
        const res = await github(
          'pull_request',
          fixture('pull_request-closed-merged'),
          `pr-1-${dialect}`,
        );
        assert.equal(res.statusCode, 202, res.body);
        assert.equal(res.json().eventType, 'pr.merged');
        const done = await onlyRun(onMerge.id);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.equal(done.trigger.subject, 'pr/42');
        assert.equal(nodeOf(done, 'step').outputs.subject, 'pr/42');
        assert.deepEqual(await listExecutions(h, `workflowId=${other.id}`), [], 'base is main');
      });

      it('a redelivery with the same id starts nothing; a wrong signature is 401', async () => {
        const dup = await github(
          'pull_request',
          fixture('pull_request-closed-merged'),
          `pr-1-${dialect}`,
        );
        assert.equal(dup.statusCode, 200, dup.body);
        assert.equal(dup.json().duplicate, true);
        const bad = await github('push', fixture('push'), `push-2-${dialect}`, 'whsec_wrong');
        assert.equal(bad.statusCode, 401);
        assert.equal(bad.json().code, 'ERR_HOOK_SIGNATURE');
        assert.equal((await listExecutions(h, `workflowId=${onMerge.id}`)).length, 1);
        assert.equal((await listExecutions(h, `workflowId=${onPush.id}`)).length, 1);
      });
    });
  });
}
