/**
 * Schedules fire, on both dialects, driven by a fake clock: the background loop is off
 * (schedulerIntervalMs: 0) and each test runs passes with `scheduler.tick(now)`. Executions run
 * on the real worker; runs that must stay active wait on an approval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type ExecutionJson,
  createWorkflow,
  getExecution,
  listExecutions,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import * as schedulesSql from '../../src/store/schedules.ts';

const T0 = Date.parse('2026-01-05T10:00:00.000Z');
const min = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A clock that stands still until a test sets it. */
function fakeClock(start: number) {
  let t = start;
  return {
    now: () => new Date(t),
    set(ms: number) {
      assert.ok(ms >= t, 'the fake clock only moves forward');
      t = ms;
    },
  };
}

const noop = { nodes: [{ id: 'a', type: 'noop' }] };
const gate = { nodes: [{ id: 'gate', type: 'approval' }] };

for (const dialect of dialectNames) {
  describe(`schedules (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    // One clock for the scheduler, the worker and the services; it only moves forward, so each
    // test starts a day after the one before (tasks are never dated ahead of the clock).
    const clock = fakeClock(T0);
    let day = 0;
    const nextBase = () => T0 + ++day * 86_400_000;
    before(async () => {
      h = await startHarness(dialect, { clock, config: { schedulerIntervalMs: 0 } });
    });
    after(async () => {
      await h?.close();
    });

    const tick = (ms: number) => {
      clock.set(ms);
      return h.yard.scheduler.tick();
    };

    /** A published workflow with these triggers. */
    async function published(name: string, triggers: unknown[], graph: unknown = noop) {
      const wf = await createWorkflow(h, { name, graph, triggerConfig: triggers });
      const res = await h.call('POST', `/api/v1/workflows/${wf.id}/publish`);
      assert.equal(res.statusCode, 200, res.body);
      return wf.id;
    }

    /** The workflow's scheduled executions, oldest first. */
    async function fired(wfId: string): Promise<ExecutionJson[]> {
      const items = await listExecutions(h, `workflowId=${wfId}&triggerType=schedule&limit=200`);
      return items.sort((a, b) => a.trigger.scheduledAt!.localeCompare(b.trigger.scheduledAt!));
    }
    const firedAt = async (wfId: string) => (await fired(wfId)).map((e) => e.trigger.scheduledAt!);

    async function approve(wfId: string, execId: string): Promise<void> {
      await waitForStatus(h, wfId, execId, ['waiting']);
      const res = await h.call('POST', `/api/v1/workflows/${wfId}/executions/${execId}/resume`, {
        decision: 'approve',
      });
      assert.equal(res.statusCode, 200, res.body);
      await waitForStatus(h, wfId, execId, ['succeeded']);
    }

    it('fires each tick once, with the schedule trigger and the manual defaults', async () => {
      const B = nextBase();
      const id = await published('once', [
        { type: 'manual', inputs: { who: { type: 'string', default: 'cron' } } },
        { type: 'schedule', every: '1m' },
      ]);
      await tick(B + 30_000); // first sight: the cursor starts here
      await tick(B + min);
      await tick(B + min);
      assert.deepEqual(await firedAt(id), [iso(B + min)]);
      const [first] = await fired(id);
      assert.deepEqual(first!.trigger, {
        type: 'schedule',
        scheduledAt: iso(B + min),
        subject: 'schedule-1',
      });
      assert.deepEqual((await getExecution(h, id, first!.id)).params, { who: 'cron' });
      // A crash after firing and before the cursor moved: the pass repeats the same key.
      const row = (await schedulesSql.getSchedule(h.yard.database.db, id, 'schedule-1'))!;
      assert.ok(
        await schedulesSql.updateScheduleCas(h.yard.database.db, id, 'schedule-1', row.rev, {
          cursor_at: iso(B + 30_000),
        }),
      );
      await waitForStatus(h, id, first!.id, ['succeeded']);
      await tick(B + min + 1000);
      assert.deepEqual(await firedAt(id), [iso(B + min)], 'the same tick never fires twice');
      await tick(B + 2 * min);
      assert.deepEqual(await firedAt(id), [iso(B + min), iso(B + 2 * min)]);
    });

    it('after a downtime of 10 ticks: skip fires none, latest the newest, all up to the limit', async () => {
      const B = nextBase();
      const every = 5 * min;
      const base = { type: 'schedule', every: '5m', overlap: 'allow_all' };
      const skip = await published('catchup-skip', [{ ...base, catchup: 'skip' }]);
      const latest = await published('catchup-latest', [{ ...base, catchup: 'latest' }]);
      const all = await published('catchup-all', [{ ...base, catchup: 'all', catchupLimit: 3 }]);
      await tick(B);
      // Ten ticks pass with no server; the newest is 90 s old, past the 60 s grace.
      await tick(B + 10 * every + 90_000);
      assert.deepEqual(await firedAt(skip), []);
      assert.deepEqual(await firedAt(latest), [iso(B + 10 * every)]);
      assert.deepEqual(
        await firedAt(all),
        [8, 9, 10].map((n) => iso(B + n * every)),
      );
      // Back on time, each fires its next tick.
      await tick(B + 11 * every);
      assert.deepEqual(await firedAt(skip), [iso(B + 11 * every)]);
      assert.deepEqual(
        await firedAt(latest),
        [10, 11].map((n) => iso(B + n * every)),
      );
      assert.deepEqual(
        await firedAt(all),
        [8, 9, 10, 11].map((n) => iso(B + n * every)),
      );
    });

    it('overlap skip drops ticks while a run is active; allow_all starts them', async () => {
      const B = nextBase();
      const skip = await published('overlap-skip', [{ type: 'schedule', every: '1m' }], gate);
      const allow = await published(
        'overlap-allow',
        [{ type: 'schedule', every: '1m', overlap: 'allow_all' }],
        gate,
      );
      await tick(B);
      await tick(B + min);
      await tick(B + 2 * min);
      assert.deepEqual(await firedAt(skip), [iso(B + min)]);
      assert.deepEqual(await firedAt(allow), [iso(B + min), iso(B + 2 * min)]);
      const [first] = await fired(skip);
      await approve(skip, first!.id);
      await tick(B + 3 * min);
      assert.deepEqual(await firedAt(skip), [iso(B + min), iso(B + 3 * min)]);
    });

    it('overlap cancel_other cancels the active run and starts the new one', async () => {
      const B = nextBase();
      const id = await published(
        'overlap-cancel',
        [{ type: 'schedule', every: '1m', overlap: 'cancel_other' }],
        gate,
      );
      await tick(B);
      await tick(B + min);
      const [first] = await fired(id);
      await waitForStatus(h, id, first!.id, ['waiting']);
      await tick(B + 2 * min);
      await waitForStatus(h, id, first!.id, ['cancelled']);
      assert.deepEqual(await firedAt(id), [iso(B + min), iso(B + 2 * min)]);
    });

    it('overlap buffer_one keeps one tick for when the run ends; buffer_all keeps all', async () => {
      const B = nextBase();
      const one = await published(
        'overlap-buffer-one',
        [{ type: 'schedule', every: '1m', overlap: 'buffer_one' }],
        gate,
      );
      const all = await published(
        'overlap-buffer-all',
        [{ type: 'schedule', every: '1m', overlap: 'buffer_all' }],
        gate,
      );
      await tick(B);
      await tick(B + min);
      await tick(B + 2 * min);
      await tick(B + 3 * min);
      assert.equal((await firedAt(one)).length, 1, 'buffered, not started');
      assert.equal((await firedAt(all)).length, 1, 'buffered, not started');
      for (const wf of [one, all]) await approve(wf, (await fired(wf))[0]!.id);
      await tick(B + 3 * min + 30_000);
      assert.deepEqual(await firedAt(one), [iso(B + min), iso(B + 2 * min)]);
      assert.deepEqual(await firedAt(all), [iso(B + min), iso(B + 2 * min)]);
      await approve(one, (await fired(one))[1]!.id);
      await approve(all, (await fired(all))[1]!.id);
      await tick(B + 3 * min + 40_000);
      assert.equal((await firedAt(one)).length, 2, 'buffer_one dropped the third tick');
      assert.deepEqual(
        await firedAt(all),
        [1, 2, 3].map((n) => iso(B + n * min)),
      );
    });

    it('drafts never fire; publish, promote and archive change what fires at once', async () => {
      const B = nextBase();
      const schedule = { type: 'schedule', every: '1m', id: 'minutely' };
      const wf = await createWorkflow(h, {
        name: 'lifecycle',
        graph: noop,
        triggerConfig: [schedule],
      });
      const url = `/api/v1/workflows/${wf.id}`;
      await tick(B);
      await tick(B + min);
      assert.deepEqual(await firedAt(wf.id), [], 'a draft never fires');
      assert.equal((await h.call('POST', `${url}/publish`)).statusCode, 200);
      await tick(B + min + 30_000);
      await tick(B + 2 * min);
      assert.deepEqual(await firedAt(wf.id), [iso(B + 2 * min)]);
      // v2 has no schedule: a new draft changes nothing, publishing it stops the schedule.
      let res = await h.call('PATCH', url, { triggerConfig: [{ type: 'manual' }] });
      assert.equal(res.statusCode, 200, res.body);
      await tick(B + 3 * min);
      assert.equal((await firedAt(wf.id)).length, 2, 'the draft did not stop the schedule');
      assert.equal((await h.call('POST', `${url}/publish`)).statusCode, 200);
      await tick(B + 4 * min);
      assert.equal((await firedAt(wf.id)).length, 2, 'v2 has no schedule');
      // Promoting v1 brings it back from then on, not with the ticks it was away for.
      clock.set(B + 5 * min);
      res = await h.call('POST', `${url}/promote`, { version: 1 });
      assert.equal(res.statusCode, 200, res.body);
      await tick(B + 6 * min);
      // Without the restart at promote, the 5m tick (on time at 6m) would fire as well.
      assert.deepEqual(
        await firedAt(wf.id),
        [2, 3, 6].map((n) => iso(B + n * min)),
      );
      res = await h.call('DELETE', url);
      assert.ok(res.statusCode < 300, res.body);
      const before = (await firedAt(wf.id)).length;
      await tick(B + 8 * min);
      assert.equal((await firedAt(wf.id)).length, before, 'archived workflows never fire');
    });

    it('GET schedules shows next fire times; pause and resume are idempotent', async () => {
      const B = nextBase();
      const id = await published('api', [
        { type: 'schedule', every: '1m' },
        { type: 'schedule', id: 'noon', cron: '0 12 * * *', timezone: 'Europe/Berlin' },
      ]);
      const url = `/api/v1/workflows/${id}/schedules`;
      await tick(B);
      await tick(B + min);
      let res = await h.call('GET', url);
      assert.equal(res.statusCode, 200, res.body);
      const [every, noon] = res.json<{ items: Record<string, unknown>[] }>().items;
      const [first] = await fired(id);
      assert.deepEqual(every, {
        id: 'schedule-1',
        every: '1m',
        timezone: 'UTC',
        paused: false,
        nextFireTimes: [2, 3, 4].map((n) => iso(B + n * min)),
        lastFiredAt: iso(B + min),
        lastExecutionId: first!.id,
      });
      // 12:00 in Berlin is 11:00 UTC in winter.
      assert.deepEqual(noon!.nextFireTimes, [
        iso(B + 3_600_000),
        iso(B + 3_600_000 + 86_400_000),
        iso(B + 3_600_000 + 2 * 86_400_000),
      ]);
      assert.equal(noon!.lastFiredAt, null);

      for (let i = 0; i < 2; i++) {
        res = await h.call('POST', `${url}/schedule-1/pause`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().paused, true);
        assert.deepEqual(res.json().nextFireTimes, []);
      }
      await tick(B + 2 * min);
      assert.equal((await firedAt(id)).length, 1, 'a paused schedule fires nothing');
      clock.set(B + 2 * min + 30_000);
      for (let i = 0; i < 2; i++) {
        res = await h.call('POST', `${url}/schedule-1/resume`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().paused, false);
      }
      await tick(B + 3 * min);
      assert.deepEqual(await firedAt(id), [iso(B + min), iso(B + 3 * min)]);

      res = await h.call('POST', `${url}/nope/pause`);
      assert.equal(res.statusCode, 404, res.body);
      assert.equal(res.json().code, 'ERR_SCHEDULE_NOT_FOUND');
      res = await h.call('GET', `/api/v1/workflows/wf_missing/schedules`);
      assert.equal(res.statusCode, 404, res.body);
    });

    it('backfill fires the ticks of a past range once, under its own overlap policy', async () => {
      const B = nextBase();
      const id = await published('backfill', [{ type: 'schedule', every: '10m' }]);
      await tick(B); // first sight: nothing before B fires by itself
      await tick(B + 10 * min);
      assert.deepEqual(await firedAt(id), [iso(B + 10 * min)]);
      const url = `/api/v1/workflows/${id}/schedules/schedule-1/backfill`;
      // (B-30m, B+10m]: four ticks, the last of which fired already.
      const res = await h.call('POST', url, { from: iso(B - 30 * min), to: iso(B + 10 * min) });
      assert.equal(res.statusCode, 200, res.body);
      const items = res.json().items as { scheduledAt: string; outcome: string }[];
      assert.deepEqual(
        items.map((i) => [i.scheduledAt, i.outcome]),
        [
          [iso(B - 20 * min), 'fired'],
          [iso(B - 10 * min), 'fired'],
          [iso(B), 'fired'],
          [iso(B + 10 * min), 'already_fired'],
        ],
      );
      // Again: every tick fired before, nothing starts twice.
      const again = await h.call('POST', url, { from: iso(B - 30 * min), to: iso(B + 10 * min) });
      assert.ok(
        again.json().items.every((i: { outcome: string }) => i.outcome === 'already_fired'),
      );
      assert.equal((await fired(id)).length, 4);

      // A gated workflow with overlap skip: the first tick runs, the others are dropped.
      const gated = await published('backfill-skip', [{ type: 'schedule', every: '10m' }], gate);
      const skip = await h.call(
        'POST',
        `/api/v1/workflows/${gated}/schedules/schedule-1/backfill`,
        {
          from: iso(B - 30 * min),
          to: iso(B),
          overlap: 'skip',
        },
      );
      assert.deepEqual(
        skip.json().items.map((i: { outcome: string }) => i.outcome),
        ['fired', 'skipped', 'skipped'],
      );
      const bad = await h.call('POST', url, { from: iso(B + 10 * min), to: iso(B) });
      assert.equal(bad.statusCode, 400);
      const future = await h.call('POST', url, { from: iso(B), to: iso(B + 86_400_000) });
      assert.equal(future.statusCode, 400);
      const unknown = await h.call('POST', `/api/v1/workflows/${id}/schedules/nope/backfill`, {
        from: iso(B - min),
        to: iso(B),
      });
      assert.equal(unknown.statusCode, 404);
      for (const e of await fired(gated)) {
        const res2 = await h.call('POST', `/api/v1/workflows/${gated}/executions/${e.id}/cancel`);
        assert.ok([200, 202].includes(res2.statusCode), res2.body);
      }
    });

    it('follows the time zone: a skipped local time never fires, a repeated one once', async () => {
      const schedules = [
        { id: 'two-thirty', cron: '30 2 * * *' },
        { id: 'one-thirty', cron: '30 1 * * *' },
      ].map((s) => ({
        type: 'schedule',
        ...s,
        timezone: 'America/New_York',
        catchup: 'all',
        overlap: 'allow_all',
      }));
      const spring = await published('dst-spring', schedules);
      const bySchedule = async (wfId: string, sid: string) =>
        (await fired(wfId))
          .filter((e) => e.trigger.subject === sid)
          .map((e) => e.trigger.scheduledAt);
      await tick(Date.parse('2026-03-07T12:00:00Z'));
      await tick(Date.parse('2026-03-10T12:00:00Z'));
      // 2026-03-08 02:30 does not exist in New York: only 03-09 and 03-10 02:30 EDT fire.
      assert.deepEqual(await bySchedule(spring, 'two-thirty'), [
        '2026-03-09T06:30:00.000Z',
        '2026-03-10T06:30:00.000Z',
      ]);
      assert.deepEqual(await bySchedule(spring, 'one-thirty'), [
        '2026-03-08T06:30:00.000Z',
        '2026-03-09T05:30:00.000Z',
        '2026-03-10T05:30:00.000Z',
      ]);
      // Published now, the autumn workflow's schedules start counting at the next pass.
      const autumn = await published('dst-autumn', schedules);
      await tick(Date.parse('2026-10-31T12:00:00Z'));
      await tick(Date.parse('2026-11-02T12:00:00Z'));
      assert.deepEqual(await bySchedule(autumn, 'two-thirty'), [
        '2026-11-01T07:30:00.000Z',
        '2026-11-02T07:30:00.000Z',
      ]);
      // 01:30 happens twice on 2026-11-01 (EDT, then EST): it fires once.
      assert.deepEqual(await bySchedule(autumn, 'one-thirty'), [
        '2026-11-01T05:30:00.000Z',
        '2026-11-02T06:30:00.000Z',
      ]);
    });
  });
}
