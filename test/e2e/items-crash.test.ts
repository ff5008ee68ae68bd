/**
 * Crash and recovery of a fan-out (issue 23, stage 2; CONVENTIONS 13): a real server process is
 * SIGKILLed while a `map` is halfway (three items done, three held by the loopback server they
 * call); the restarted server runs the node's next attempt, which calls only the three unfinished
 * items again, and the detail's items[] says which attempt ran each.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { eventually } from '../helpers/eventually.ts';
import { startLocalServer } from '../helpers/exec-context.ts';
import type { ItemJson } from '../helpers/executions.ts';
import { client } from '../helpers/http.ts';
import { freshPostgresDatabase, startServer } from '../helpers/process.ts';

const token = `sy_${'e'.repeat(40)}`;
const items = [0, 1, 2, 3, 4, 5];
/** Items from this index on are held (no answer) until the test releases them. */
const heldFrom = 3;

for (const dialect of dialectNames) {
  describe(`map items across a crash (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('runs only the unfinished items again after kill -9 and restart', async () => {
      const calls = new Map<number, number>();
      const held: ServerResponse[] = [];
      let released = false;
      const answer = (res: ServerResponse, n: number) => {
        if (res.destroyed || res.socket?.destroyed !== false) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ n }));
      };
      const web = await startLocalServer((req, res) => {
        const n = Number(/\/item\/(\d+)$/.exec(req.url ?? '')?.[1] ?? -1);
        calls.set(n, (calls.get(n) ?? 0) + 1);
        if (n >= heldFrom && !released) held.push(res);
        else answer(res, n);
      });
      const callsOf = () => items.map((n) => calls.get(n) ?? 0);

      const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-items-crash-'));
      const db = dialect === 'postgres' ? await freshPostgresDatabase() : undefined;
      // A short lease lets the restarted PostgreSQL worker take over the dead one's task quickly.
      const env = {
        SWITCHYARD_ADMIN_TOKEN: token,
        SWITCHYARD_LEASE_MS: '1500',
        DATABASE_URL: db?.url ?? '',
        SWITCHYARD_RUNTIME: 'local',
        SWITCHYARD_EGRESS_ALLOW: `127.0.0.1:${new URL(web.url).port}`,
      };
      let server = await startServer(['--data-dir', dataDir], env);
      try {
        let api = client(server.url, token);
        const wf = await api.call('POST', '/api/v1/workflows', {
          name: 'items-crash',
          graph: {
            nodes: [
              {
                id: 'each',
                type: 'map',
                items: JSON.stringify(items),
                concurrency: items.length,
                node: { id: 'call', type: 'http', url: `${web.url}/item/\${{ item }}` },
              },
            ],
          },
        });
        assert.equal(wf.status, 201, JSON.stringify(wf.json));
        const wfId = wf.json.id as string;
        const run = await api.call('POST', `/api/v1/workflows/${wfId}/run`, {});
        assert.equal(run.status, 202, JSON.stringify(run.json));
        const execId = run.json.id as string;
        const detailUrl = `/api/v1/workflows/${wfId}/executions/${execId}`;
        const itemsNow = async (): Promise<ItemJson[]> =>
          ((await api.call('GET', detailUrl)).json.nodes[0].items as ItemJson[] | undefined) ?? [];

        // Halfway: the first three items are stored as succeeded, the other three are running
        // (their calls are held here).
        const halfway = await eventually('three items done and three held', async () => {
          const listed = await itemsNow();
          const done = listed.filter((i) => i.status === 'succeeded').map((i) => i.index);
          return held.length === items.length - heldFrom && done.length === heldFrom
            ? listed
            : undefined;
        });
        assert.deepEqual(
          halfway.map((i) => [i.index, i.status, i.attempt]),
          items.map((n) => [n, n < heldFrom ? 'succeeded' : 'running', 1]),
        );
        assert.equal(await server.stop('SIGKILL'), null);

        server = await startServer(['--data-dir', dataDir], env);
        api = client(server.url, token);
        // The next attempt calls the unfinished items again (held again until released), and
        // none of the finished ones.
        await eventually('the unfinished items called again', () =>
          held.length === 2 * (items.length - heldFrom) ? true : undefined,
        );
        assert.deepEqual(callsOf(), [1, 1, 1, 2, 2, 2]);
        released = true;
        for (const res of held) answer(res, Number(/\d+$/.exec(res.req.url ?? '')?.[0]));

        const done = await api.waitFor(wfId, execId, ['succeeded', 'failed', 'cancelled'], 60_000);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        assert.deepEqual(callsOf(), [1, 1, 1, 2, 2, 2], 'finished items were not called again');
        const each = done.nodes[0];
        assert.equal(each.attempt, 2);
        assert.deepEqual(
          (each.outputs.results as { body: unknown }[]).map((r) => r.body),
          items.map((n) => ({ n })),
        );
        assert.deepEqual(
          (each.items as ItemJson[]).map((i) => [i.index, i.status, i.attempt]),
          items.map((n) => [n, 'succeeded', n < heldFrom ? 1 : 2]),
        );
      } finally {
        await server.stop('SIGKILL');
        await web.close();
        rmSync(dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    });
  });
}
