/**
 * Two server processes on one PostgreSQL database: 200 executions started through both all
 * finish, every node runs exactly once, and both processes did work.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { skipFor } from '../helpers/dialects.ts';
import { client } from '../helpers/http.ts';
import { freshPostgresDatabase, startServer } from '../helpers/process.ts';

const token = `sy_${'e'.repeat(40)}`;
const executions = 200;

describe('two processes, one PostgreSQL', { skip: await skipFor('postgres') }, () => {
  it('runs 200 executions to the end with each node once', async () => {
    const db = await freshPostgresDatabase();
    const dirs = [
      mkdtempSync(path.join(tmpdir(), 'switchyard-mp-a-')),
      mkdtempSync(path.join(tmpdir(), 'switchyard-mp-b-')),
    ];
    const ledger = path.join(dirs[0]!, 'ledger');
    // Plain processes: the ledger is a host file that a sandbox would hide.
    const env = {
      SWITCHYARD_ADMIN_TOKEN: token,
      DATABASE_URL: db.url,
      SWITCHYARD_LOCAL_ISOLATION: 'none',
      SWITCHYARD_RUNTIME: 'local',
    };
    const servers = await Promise.all(dirs.map((d) => startServer(['--data-dir', d], env)));
    try {
      const apis = servers.map((s) => client(s.url, token));
      const line =
        'echo "$SWITCHYARD_EXECUTION_ID $SWITCHYARD_NODE_ID $SWITCHYARD_WORKER_ID" >> ' + ledger;
      const wf = await apis[0]!.call('POST', '/api/v1/workflows', {
        name: 'two-processes',
        graph: {
          nodes: [
            { id: 'first', type: 'command', run: line },
            { id: 'second', type: 'command', needs: ['first'], run: line },
          ],
        },
      });
      assert.equal(wf.status, 201);
      const ids: string[] = [];
      for (let i = 0; i < executions; i += 20) {
        const batch = await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            apis[(i + j) % 2]!.call('POST', `/api/v1/workflows/${wf.json.id}/run`, {}),
          ),
        );
        for (const r of batch) {
          assert.equal(r.status, 202);
          ids.push(r.json.id as string);
        }
      }
      // Each end is seen on the execution's event stream, served by process b whoever ran it.
      for (const id of ids) {
        const d = await apis[1]!.waitFor(
          wf.json.id,
          id,
          ['succeeded', 'failed', 'cancelled'],
          120_000,
        );
        assert.equal(d.status, 'succeeded', JSON.stringify(d));
      }
      const listed = await apis[1]!.call(
        'GET',
        `/api/v1/workflows/executions?workflowId=${wf.json.id}&status=succeeded&limit=200`,
      );
      assert.equal(listed.json.items.length, executions);

      const entries = readFileSync(ledger, 'utf8').split('\n').filter(Boolean);
      const runs = new Map<string, number>();
      const workers = new Set<string>();
      for (const e of entries) {
        const [exec, node, worker] = e.split(' ');
        runs.set(`${exec} ${node}`, (runs.get(`${exec} ${node}`) ?? 0) + 1);
        workers.add(worker!);
      }
      assert.equal(runs.size, executions * 2);
      assert.ok(
        [...runs.values()].every((n) => n === 1),
        'a node ran twice',
      );
      assert.deepEqual(new Set([...runs.keys()].map((k) => k.split(' ')[0])), new Set(ids));
      assert.equal(workers.size, 2, 'both processes ran nodes');
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      await db.drop();
    }
  });
});
