/**
 * Fan-out children are durable (issue 23, stage 2): each item of a `map` is a row of its own, a
 * new attempt of the node (its retry policy, or an execution retry through the API) runs only the
 * items that did not succeed, and the execution detail lists every item with the attempt that ran
 * it. The items call a loopback server that counts the calls per item.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { startLocalServer } from '../helpers/exec-context.ts';
import {
  type ItemJson,
  createWorkflow,
  executionUrl,
  nodeOf,
  runAndWait,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** A loopback server answering `/item/<n>`: 500 while `failing(n)` says so, else 200 `{"n": n}`. */
async function itemServer(failing: (n: number, call: number) => boolean) {
  const calls = new Map<number, number>();
  const server = await startLocalServer((req, res) => {
    const n = Number(/\/item\/(\d+)$/.exec(req.url ?? '')?.[1] ?? -1);
    const call = (calls.get(n) ?? 0) + 1;
    calls.set(n, call);
    const bad = failing(n, call);
    res.writeHead(bad ? 500 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(bad ? { error: 'not now' } : { n }));
  });
  return { ...server, calls: (n: number) => calls.get(n) ?? 0 };
}

const items = [0, 1, 2, 3, 4, 5];

function mapWorkflow(name: string, url: string, retry?: Record<string, unknown>) {
  return {
    name,
    graph: {
      nodes: [
        {
          id: 'each',
          type: 'map',
          items: JSON.stringify(items),
          concurrency: 3,
          node: { id: 'call', type: 'http', url: `${url}/item/\${{ item }}` },
          ...(retry && { retry }),
        },
      ],
    },
  };
}

function itemsOf(node: { items?: ItemJson[] }): ItemJson[] {
  assert.ok(node.items, 'the map node lists its items');
  return node.items;
}

for (const dialect of dialectNames) {
  describe(`map items (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let web: Awaited<ReturnType<typeof itemServer>>;
    let broken = false;
    before(async () => {
      // Item 3 answers 500 on its first call; item 4 answers 500 while `broken` holds.
      web = await itemServer((n, call) => (n === 3 && call === 1) || (n === 4 && broken));
      h = await startHarness(dialect, {
        config: { egressAllow: [`127.0.0.1:${new URL(web.url).port}`] },
      });
    });
    after(async () => {
      await h?.close();
      await web?.close();
    });

    it('a retry of the map node runs only the failed item; items[] shows its attempt', async () => {
      const wf = await createWorkflow(
        h,
        mapWorkflow(`items-retry-${dialect}`, web.url, {
          maxAttempts: 2,
          initialInterval: '50ms',
        }),
      );
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      assert.deepEqual(
        items.map((n) => web.calls(n)),
        [1, 1, 1, 2, 1, 1],
        'every item but 3 was called once',
      );
      const each = nodeOf(done, 'each');
      assert.equal(each.attempt, 2);
      assert.deepEqual(
        (each.outputs.results as { body: unknown }[]).map((r) => r.body),
        items.map((n) => ({ n })),
        'the results of both attempts, in item order',
      );
      const listed = itemsOf(each);
      assert.deepEqual(
        listed.map((i) => [i.index, i.status, i.attempt]),
        items.map((n) => [n, 'succeeded', n === 3 ? 2 : 1]),
      );
      for (const item of listed) {
        assert.ok(item.startedAt !== null && item.endedAt !== null, JSON.stringify(item));
        assert.ok(Date.parse(item.endedAt) >= Date.parse(item.startedAt));
        assert.equal(typeof item.cost?.computeSeconds, 'number');
        assert.equal(item.error, undefined);
      }
      // The first attempt failed naming item 3 only.
      const first = (each as unknown as { attempts: { error: { message: string } | null }[] })
        .attempts[0]!;
      assert.match(first.error!.message, /1 of 6 items failed \(index 3\)/);
    });

    it('an execution retry through the API keeps the items that succeeded', async () => {
      broken = true;
      const before4 = items.map((n) => web.calls(n));
      const wf = await createWorkflow(h, mapWorkflow(`items-api-retry-${dialect}`, web.url));
      const failed = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(failed.status, 'failed');
      const listed = itemsOf(nodeOf(failed, 'each'));
      const four = listed.find((i) => i.index === 4)!;
      assert.equal(four.status, 'failed');
      assert.equal(four.error?.code, 'ERR_HTTP_STATUS');
      assert.equal(
        listed.filter((i) => i.status === 'succeeded').length,
        5,
        JSON.stringify(listed),
      );

      broken = false;
      const retry = await h.call('POST', `${executionUrl(wf.id, failed.id)}/retry`, {});
      assert.equal(retry.statusCode, 202, retry.body);
      const done = await waitForStatus(h, wf.id, failed.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      const calls = items.map((n) => web.calls(n) - before4[n]!);
      assert.deepEqual(calls, [1, 1, 1, 1, 2, 1], 'only item 4 ran again');
      const each = nodeOf(done, 'each');
      assert.deepEqual(
        itemsOf(each).map((i) => [i.index, i.status, i.attempt]),
        items.map((n) => [n, 'succeeded', n === 4 ? each.attempt : 1]),
      );
      assert.ok(each.attempt > 1);
    });
  });
}
