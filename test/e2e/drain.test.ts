/**
 * A clean shutdown drains (CONVENTIONS 13): on SIGTERM a real server process stops claiming, lets
 * the running node finish (its result commits) and exits 0; a restarted server on the same data
 * finishes the execution without running that node again. A node that outlives a short drain
 * timeout is stopped and run again by the restarted server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { client } from '../helpers/http.ts';
import { lines, mark, reportMarks, reportedMarks } from '../helpers/marks.ts';
import { type ServerProcess, freshPostgresDatabase, startServer } from '../helpers/process.ts';

const token = `sy_${'e'.repeat(40)}`;

for (const dialect of dialectNames) {
  describe(
    `drain on SIGTERM (${dialect})`,
    { skip: await skipFor(dialect), timeout: 180_000 },
    () => {
      /** Runs `scenario` against a server on a fresh data directory (and database). */
      async function withServer(
        drainArgs: string[],
        scenario: (ctx: {
          start: () => Promise<ServerProcess>;
          marksOf: (execId: string) => string;
        }) => Promise<void>,
      ): Promise<void> {
        const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-drain-'));
        const db = dialect === 'postgres' ? await freshPostgresDatabase() : undefined;
        // Plain processes as root: the node writes the workspace the test reads from the host.
        const env = {
          SWITCHYARD_ADMIN_TOKEN: token,
          DATABASE_URL: db?.url ?? '',
          SWITCHYARD_LOCAL_ISOLATION: 'plain',
          SWITCHYARD_RUNTIME: 'local',
          SWITCHYARD_KILL_GRACE_MS: '1000',
        };
        const servers: ServerProcess[] = [];
        try {
          await scenario({
            start: async () => {
              const s = await startServer(['--data-dir', dataDir, ...drainArgs], env);
              servers.push(s);
              return s;
            },
            marksOf: (execId) => path.join(dataDir, 'workspaces', execId, 'marks'),
          });
        } finally {
          for (const s of servers) await s.stop('SIGKILL');
          rmSync(dataDir, { recursive: true, force: true });
          await db?.drop();
        }
      }

      it('lets the running node finish, exits cleanly, and the restarted server does not run it again', async () => {
        await withServer(['--drain-timeout-ms', '60000'], async ({ start, marksOf }) => {
          let server = await start();
          let api = client(server.url, token);
          const wf = await api.call('POST', '/api/v1/workflows', {
            name: 'drain-finish',
            graph: {
              nodes: [
                {
                  id: 'a',
                  type: 'command',
                  run: `echo started; sleep 2; ${mark('a')}`,
                },
                { id: 'b', type: 'command', needs: ['a'], run: mark('b') },
                reportMarks('b'),
              ],
            },
          });
          assert.equal(wf.status, 201, JSON.stringify(wf.json));
          const exec = (await api.call('POST', `/api/v1/workflows/${wf.json.id}/run`, {})).json;
          await api.awaitLog(wf.json.id, exec.id, (l) => l.nodeId === 'a' && l.text === 'started');
          assert.deepEqual(lines(marksOf(exec.id)), []);

          assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
          // The node finished before the process exited; the next one was not started.
          assert.deepEqual(lines(marksOf(exec.id)), ['a']);

          server = await start();
          api = client(server.url, token);
          const done = await api.waitFor(
            wf.json.id,
            exec.id,
            ['succeeded', 'failed', 'cancelled'],
            60_000,
          );
          assert.equal(done.status, 'succeeded', JSON.stringify(done));
          assert.deepEqual(reportedMarks(done), ['a', 'b'], 'a ran once, then b');
          const a = done.nodes.find((n: { nodeId: string }) => n.nodeId === 'a');
          assert.equal(a.attempt, 1);
        });
      });

      it('stops a node that outlives the drain timeout; the restarted server runs it again', async () => {
        await withServer(['--drain-timeout-ms', '300'], async ({ start, marksOf }) => {
          let server = await start();
          let api = client(server.url, token);
          const wf = await api.call('POST', '/api/v1/workflows', {
            name: 'drain-timeout',
            graph: {
              nodes: [
                {
                  id: 'long',
                  type: 'command',
                  run: `${mark('start')}; echo started; sleep 6; ${mark('done')}`,
                },
                reportMarks('long'),
              ],
            },
          });
          assert.equal(wf.status, 201, JSON.stringify(wf.json));
          const exec = (await api.call('POST', `/api/v1/workflows/${wf.json.id}/run`, {})).json;
          await api.awaitLog(
            wf.json.id,
            exec.id,
            (l) => l.nodeId === 'long' && l.text === 'started',
          );

          assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
          // Stopped before it finished: nothing it started outlives the server.
          assert.deepEqual(lines(marksOf(exec.id)), ['start']);

          server = await start();
          api = client(server.url, token);
          const done = await api.waitFor(
            wf.json.id,
            exec.id,
            ['succeeded', 'failed', 'cancelled'],
            60_000,
          );
          assert.equal(done.status, 'succeeded', JSON.stringify(done));
          assert.deepEqual(reportedMarks(done), ['start', 'start', 'done']);
        });
      });
    },
  );
}
