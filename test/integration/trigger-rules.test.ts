/**
 * Trigger rules through the API on both dialects, with a fake clock driving the delivery loop:
 * a run rule starts its workflow with params mapped from the event by CEL (once, however often
 * the event is matched), a false `if` and a disabled rule start nothing, a webhook rule POSTs the
 * event signed to a listener on 127.0.0.1, is retried after a 503 and every attempt is recorded;
 * without the egress allowlist the delivery fails at once with the refusal recorded. Bad rules
 * answer 422 or 400 with every problem named.
 */
import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type PageJson,
  createWorkflow,
  getExecution,
  listExecutions,
  tokenWith,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { verifyGeneric } from '../../src/triggers/signature.ts';

const T0 = Date.parse('2026-03-02T09:00:00.000Z');

/** A clock that stands still until a test moves it (forward only). */
function fakeClock(start: number) {
  let t = start;
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A receiver on 127.0.0.1 answering each POST with the next scripted status (then 200). */
async function receiver(): Promise<{
  url: string;
  got: Received[];
  answers: number[];
  close(): Promise<void>;
}> {
  const got: Received[] = [];
  const answers: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answers.shift() ?? 200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/deliveries`,
    got,
    answers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface RuleJson {
  id: string;
  name: string;
  enabled: boolean;
  event: string;
  if: string | null;
  action: Record<string, unknown>;
  secret?: string;
}

interface DeliveryJson {
  id: string;
  eventId: string;
  attempt: number;
  state: string;
  httpStatus: number | null;
  error: string | null;
  nextAttemptAt: string | null;
}

interface EventJson {
  id: string;
  type: string;
  subject: string | null;
  data: Record<string, unknown>;
  source: string;
  actor: string;
  timestamp: string;
  chainDepth: number;
  executions: { executionId: string; workflowId: string; ruleId?: string }[];
  unmatched: { workflowId: string; reason: string; ruleId?: string }[];
}

for (const dialect of dialectNames) {
  describe(`trigger rules (${dialect})`, { skip: await skipFor(dialect) }, () => {
    const clock = fakeClock(T0);
    let h: Harness;
    /** The same server without egressAllow: 127.0.0.1 is refused. */
    let closed: Harness;
    let rx: Awaited<ReturnType<typeof receiver>>;
    before(async () => {
      rx = await receiver();
      h = await startHarness(dialect, { clock, config: { egressAllow: ['127.0.0.1'] } });
      closed = await startHarness(dialect, { clock });
    });
    after(async () => {
      await h?.close();
      await closed?.close();
      await rx?.close();
    });

    async function createRule(on: Harness, body: Record<string, unknown>): Promise<RuleJson> {
      const res = await on.call('POST', '/api/v1/triggers', body);
      assert.equal(res.statusCode, 201, res.body);
      return res.json<RuleJson>();
    }

    async function post(on: Harness, body: Record<string, unknown>): Promise<EventJson> {
      const res = await on.call('POST', '/api/v1/events', body);
      assert.equal(res.statusCode, 201, res.body);
      return res.json<EventJson>();
    }

    async function deliveries(on: Harness, ruleId: string): Promise<DeliveryJson[]> {
      const res = await on.call('GET', `/api/v1/triggers/${ruleId}/deliveries`);
      assert.equal(res.statusCode, 200, res.body);
      return res.json<PageJson<DeliveryJson>>().items.sort((a, b) => a.attempt - b.attempt);
    }

    async function deployWorkflow(name: string) {
      const wf = await createWorkflow(h, {
        name,
        triggerConfig: [{ type: 'manual', inputs: { branch: { type: 'string', required: true } } }],
        graph: { nodes: [{ id: 'a', type: 'noop' }] },
      });
      const res = await h.call('POST', `/api/v1/workflows/${wf.id}/publish`);
      assert.equal(res.statusCode, 200, res.body);
      return wf.id;
    }

    it('a run rule starts the workflow with params mapped from the event, once', async () => {
      const wfId = await deployWorkflow('deploy');
      const rule = await createRule(h, {
        name: 'deploy-on-request',
        event: 'deploy.*',
        if: "event.data.env == 'prod'",
        action: {
          type: 'run',
          workflowId: wfId,
          params: { branch: "event.data.branch + '@' + event.subject" },
        },
      });
      assert.match(rule.id, /^rule_/);
      assert.equal(rule.secret, undefined, 'a run rule has no secret');

      const event = await post(h, {
        type: 'deploy.requested',
        subject: 'r42',
        data: { env: 'prod', branch: 'release/1.2' },
      });
      const started = event.executions.filter((e) => e.ruleId === rule.id);
      assert.equal(started.length, 1, JSON.stringify(event));
      const detail = await getExecution(h, wfId, started[0]!.executionId);
      assert.deepEqual(detail.params, { branch: 'release/1.2@r42' });
      const trigger = detail.trigger as Record<string, unknown>;
      assert.equal(trigger.type, 'event');
      assert.equal(trigger.eventType, 'deploy.requested');
      assert.equal(trigger.eventId, event.id);
      assert.equal(trigger.subject, 'r42');
      assert.equal(trigger.actor, 'rule:deploy-on-request');
      assert.deepEqual(trigger.data, { env: 'prod', branch: 'release/1.2' });

      // Matching the same event again (a crash before the outcome was recorded) starts nothing new.
      const again = await h.yard.rules.fire(event);
      assert.equal(again.executions[0]?.executionId, started[0]!.executionId);
      assert.equal((await listExecutions(h, `workflowId=${wfId}`)).length, 1);

      // `if` false: nothing starts, and the event says why.
      const staging = await post(h, {
        type: 'deploy.requested',
        subject: 'r43',
        data: { env: 'staging', branch: 'main' },
      });
      assert.deepEqual(staging.executions, []);
      const why = staging.unmatched.find((u) => u.ruleId === rule.id);
      assert.match(why?.reason ?? '', /rule 'deploy-on-request': if .* is false/);

      // Disabled: not even listed.
      const off = await h.call('PATCH', `/api/v1/triggers/${rule.id}`, { enabled: false });
      assert.equal(off.statusCode, 200, off.body);
      assert.equal(off.json<RuleJson>().enabled, false);
      const ignored = await post(h, {
        type: 'deploy.requested',
        subject: 'r44',
        data: { env: 'prod', branch: 'main' },
      });
      assert.deepEqual(ignored.executions, []);
      assert.deepEqual(ignored.unmatched, []);
      assert.equal((await listExecutions(h, `workflowId=${wfId}`)).length, 1);
    });

    it('a rule created disabled starts nothing', async () => {
      const wfId = await deployWorkflow('deploy-disabled');
      await createRule(h, {
        name: 'never',
        enabled: false,
        event: 'release.cut',
        action: { type: 'run', workflowId: wfId, params: { branch: "'main'" } },
      });
      const event = await post(h, { type: 'release.cut' });
      assert.deepEqual(event.executions, []);
      assert.equal((await listExecutions(h, `workflowId=${wfId}`)).length, 0);
    });

    it('a webhook rule delivers the event signed, retries a 503 and records each attempt', async () => {
      const rule = await createRule(h, {
        name: 'notify',
        event: 'build.done',
        action: { type: 'webhook', url: rx.url },
      });
      assert.match(rule.secret ?? '', /^whsec_/);
      const listed = await h.call('GET', `/api/v1/triggers/${rule.id}`);
      assert.equal(listed.json<RuleJson>().secret, undefined, 'the secret is shown once');

      rx.answers.push(503);
      const before = rx.got.length;
      const event = await post(h, { type: 'build.done', subject: 'b7', data: { ok: true } });
      await h.yard.rules.tick(); // waits for the send the match started
      assert.equal(rx.got.length, before + 1);
      let rows = await deliveries(h, rule.id);
      assert.deepEqual(
        rows.map((d) => [d.attempt, d.state, d.httpStatus]),
        [
          [1, 'retried', 503],
          [2, 'scheduled', null],
        ],
      );
      assert.equal(rows[1]!.nextAttemptAt, new Date(clock.now().getTime() + 1000).toISOString());

      // Not due yet; then due, and delivered.
      clock.advance(999);
      await h.yard.rules.tick();
      assert.equal(rx.got.length, before + 1);
      clock.advance(1);
      await h.yard.rules.tick();
      assert.equal(rx.got.length, before + 2);
      rows = await deliveries(h, rule.id);
      assert.deepEqual(
        rows.map((d) => [d.attempt, d.state, d.httpStatus, d.eventId]),
        [
          [1, 'retried', 503, event.id],
          [2, 'delivered', 200, event.id],
        ],
      );

      for (const got of rx.got.slice(before)) {
        const verdict = verifyGeneric(
          rule.secret!,
          got.body,
          {
            timestamp: got.headers['x-switchyard-timestamp'] as string | undefined,
            signature: got.headers['x-switchyard-signature'] as string | undefined,
          },
          clock.now().getTime() / 1000,
        );
        assert.ok(verdict.ok, JSON.stringify(verdict));
        assert.equal(got.headers['content-type'], 'application/json');
        assert.deepEqual(JSON.parse(got.body.toString('utf8')), {
          id: event.id,
          type: 'build.done',
          subject: 'b7',
          data: { ok: true },
          source: 'api',
          timestamp: event.timestamp,
        });
      }
      const wrong = verifyGeneric(
        'whsec_other',
        rx.got[before]!.body,
        {
          timestamp: rx.got[before]!.headers['x-switchyard-timestamp'] as string,
          signature: rx.got[before]!.headers['x-switchyard-signature'] as string,
        },
        clock.now().getTime() / 1000,
      );
      assert.equal(wrong.ok, false);

      // Matching the event again schedules nothing new.
      await h.yard.rules.fire(event);
      await h.yard.rules.tick();
      assert.equal((await deliveries(h, rule.id)).length, 2);
      assert.equal(rx.got.length, before + 2);
    });

    it('a refused address fails the delivery at once, with the egress refusal recorded', async () => {
      const rule = await createRule(closed, {
        name: 'notify-closed',
        event: 'build.failed',
        action: { type: 'webhook', url: rx.url },
      });
      const before = rx.got.length;
      await post(closed, { type: 'build.failed', data: {} });
      await closed.yard.rules.tick();
      clock.advance(60_000);
      await closed.yard.rules.tick();
      const rows = await deliveries(closed, rule.id);
      assert.equal(rows.length, 1, JSON.stringify(rows));
      assert.equal(rows[0]!.state, 'failed');
      assert.equal(rows[0]!.httpStatus, null);
      assert.match(rows[0]!.error ?? '', /egress to 127\.0\.0\.1 port \d+ is forbidden/);
      assert.equal(rx.got.length, before, 'nothing reached the listener');
    });

    it('lists, reads, changes and deletes rules; bad rules answer 422 or 400, never 500', async () => {
      const wfId = await deployWorkflow('deploy-crud');
      const bad = await h.call('POST', '/api/v1/triggers', {
        name: 'bad',
        event: 'pr/*',
        if: 'event.data.(',
        action: { type: 'run', workflowId: 'wf_missing', params: { x: '1 +' } },
      });
      assert.equal(bad.statusCode, 422, bad.body);
      assert.equal(bad.json().code, 'ERR_RULE_INVALID');
      assert.deepEqual(
        bad
          .json<{ details: { path: string }[] }>()
          .details.map((d) => d.path)
          .sort(),
        ['action.params.x', 'action.workflowId', 'event', 'if'],
      );
      const ftp = await h.call('POST', '/api/v1/triggers', {
        name: 'ftp',
        event: 'a.b',
        action: { type: 'webhook', url: 'ftp://example.com/x' },
      });
      assert.equal(ftp.statusCode, 422, ftp.body);
      assert.equal(ftp.json<{ details: { path: string }[] }>().details[0]?.path, 'action.url');
      for (const body of [
        {},
        { name: 'x', event: 'a' },
        { name: 'x', event: 'a', action: { type: 'run' } },
        { name: 'x', event: 'a', action: { type: 'mail', to: 'a@b' } },
        { name: 'x', event: 'a', action: { type: 'webhook', url: 'http://x' }, extra: 1 },
        { name: 'x', event: 7, action: { type: 'webhook', url: 'http://x' } },
      ]) {
        const res = await h.call('POST', '/api/v1/triggers', body);
        assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
      }

      const rule = await createRule(h, {
        name: 'crud',
        event: 'crud.*',
        action: { type: 'run', workflowId: wfId, params: { branch: "'main'" } },
      });
      const list = await h.call('GET', '/api/v1/triggers');
      assert.ok(list.json<{ items: RuleJson[] }>().items.some((r) => r.id === rule.id));
      const badPatch = await h.call('PATCH', `/api/v1/triggers/${rule.id}`, { event: 'a..b' });
      assert.equal(badPatch.statusCode, 422, badPatch.body);
      const toHook = await h.call('PATCH', `/api/v1/triggers/${rule.id}`, {
        action: { type: 'webhook', url: 'https://example.com/in' },
        if: 'true',
      });
      assert.equal(toHook.statusCode, 200, toHook.body);
      assert.match(
        toHook.json<RuleJson>().secret ?? '',
        /^whsec_/,
        'a new webhook rule gets a secret',
      );
      assert.equal(toHook.json<RuleJson>().if, 'true');

      const reader = await tokenWith(h, 'rule-reader', ['workflows.read']);
      assert.equal(
        (await h.call('GET', '/api/v1/triggers', undefined, { token: reader })).statusCode,
        200,
      );
      const denied = await h.call('DELETE', `/api/v1/triggers/${rule.id}`, undefined, {
        token: reader,
      });
      assert.equal(denied.statusCode, 403, denied.body);

      assert.equal((await h.call('DELETE', `/api/v1/triggers/${rule.id}`)).statusCode, 204);
      for (const [method, url] of [
        ['GET', `/api/v1/triggers/${rule.id}`],
        ['DELETE', `/api/v1/triggers/${rule.id}`],
        ['GET', `/api/v1/triggers/${rule.id}/deliveries`],
      ] as const) {
        const res = await h.call(method, url);
        assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
        assert.equal(res.json().code, 'ERR_RULE_NOT_FOUND');
      }
      const patchGone = await h.call('PATCH', `/api/v1/triggers/${rule.id}`, { enabled: true });
      assert.equal(patchGone.statusCode, 404, patchGone.body);
      const emptyPatch = await h.call('PATCH', `/api/v1/triggers/rule_x`, {});
      assert.equal(emptyPatch.statusCode, 400, emptyPatch.body);
    });
  });
}
