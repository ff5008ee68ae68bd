/**
 * Crash and recovery (CONVENTIONS 13): a real server process is SIGKILLed while a command node
 * runs and while a `wait` timer is pending; a restarted server finishes both executions, and no
 * node that had succeeded runs again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { client } from '../helpers/http.ts';
import { lines, mark, reportMarks, reportedMarks } from '../helpers/marks.ts';
import { freshPostgresDatabase, startServer } from '../helpers/process.ts';

const token = `sy_${'d'.repeat(40)}`;

for (const dialect of dialectNames) {
  describe(`crash recovery (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('finishes a running command and a pending timer after kill -9 and restart', async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-crash-'));
      // Each execution counts its runs in its own workspace, which the plain sandbox (its own
      // uid and namespaces as root) can write and the test reads from the host.
      const marksOf = (execId: string) => path.join(dataDir, 'workspaces', execId, 'marks');
      const db = dialect === 'postgres' ? await freshPostgresDatabase() : undefined;
      // A short lease lets the restarted PostgreSQL worker take over the dead one's task quickly.
      // Plain processes: the orphan of the killed attempt must die with the server (pid namespace).
      const env = {
        SWITCHYARD_ADMIN_TOKEN: token,
        SWITCHYARD_LEASE_MS: '1500',
        DATABASE_URL: db?.url ?? '',
        SWITCHYARD_LOCAL_ISOLATION: 'plain',
        SWITCHYARD_RUNTIME: 'local',
      };
      let server = await startServer(['--data-dir', dataDir], env);
      try {
        let api = client(server.url, token);
        const cmdWf = await api.call('POST', '/api/v1/workflows', {
          name: 'crash-command',
          graph: {
            nodes: [
              { id: 'a', type: 'command', run: mark('a') },
              {
                id: 'b',
                type: 'command',
                needs: ['a'],
                // Default retry policy: one attempt. The re-run after the crash is not a failure.
                run: `${mark('b-start')}; echo b-start; sleep 4; ${mark('b-done')}; echo "attempt=$SWITCHYARD_ATTEMPT" >> "$SWITCHYARD_OUTPUT"`,
              },
              { id: 'c', type: 'command', needs: ['b'], run: mark('c') },
              reportMarks('c'),
            ],
          },
        });
        assert.equal(cmdWf.status, 201, JSON.stringify(cmdWf.json));
        const timerWf = await api.call('POST', '/api/v1/workflows', {
          name: 'crash-timer',
          graph: {
            nodes: [
              { id: 'a', type: 'command', run: mark('a') },
              { id: 'w', type: 'wait', duration: '3s', needs: ['a'] },
              { id: 'c', type: 'command', needs: ['w'], run: mark('c') },
              reportMarks('c'),
            ],
          },
        });
        const e1 = (await api.call('POST', `/api/v1/workflows/${cmdWf.json.id}/run`, {})).json;
        const e2 = (await api.call('POST', `/api/v1/workflows/${timerWf.json.id}/run`, {})).json;
        const f1 = marksOf(e1.id);

        // Kill while b's command runs (its line is logged after its start mark) and while w's
        // timer is pending.
        await api.awaitLog(cmdWf.json.id, e1.id, (l) => l.nodeId === 'b' && l.text === 'b-start');
        assert.deepEqual(lines(f1), ['a', 'b-start']);
        await api.awaitEvent(
          timerWf.json.id,
          e2.id,
          'node.status',
          (e) => e.nodeId === 'w' && e.status === 'running',
        );
        assert.equal(await server.stop('SIGKILL'), null);

        server = await startServer(['--data-dir', dataDir], env);
        api = client(server.url, token);
        const d1 = await api.waitFor(
          cmdWf.json.id,
          e1.id,
          ['succeeded', 'failed', 'cancelled'],
          60_000,
        );
        const d2 = await api.waitFor(
          timerWf.json.id,
          e2.id,
          ['succeeded', 'failed', 'cancelled'],
          60_000,
        );
        assert.equal(d1.status, 'succeeded', JSON.stringify(d1));
        assert.equal(d2.status, 'succeeded', JSON.stringify(d2));

        // Succeeded nodes ran once; b (killed mid-run) ran again and finished once: the orphan of
        // the killed attempt was stopped before the re-run.
        const m1 = reportedMarks(d1);
        assert.equal(m1.filter((l) => l === 'a').length, 1, m1.join(','));
        assert.equal(m1.filter((l) => l === 'c').length, 1, m1.join(','));
        assert.equal(m1.filter((l) => l === 'b-start').length, 2, m1.join(','));
        assert.equal(m1.filter((l) => l === 'b-done').length, 1, m1.join(','));
        // The re-run is visible as attempt 2: in the detail, in $SWITCHYARD_ATTEMPT, in the
        // events and in the log lines; it used none of b's one allowed attempt.
        const b = d1.nodes.find((n: { nodeId: string }) => n.nodeId === 'b');
        assert.equal(b.status, 'succeeded');
        assert.equal(b.attempt, 2);
        assert.equal(b.outputs.attempt, '2', 'SWITCHYARD_ATTEMPT of the re-run');
        // The lost attempt has its own entry (a node_runs row), failed as lost with its server.
        const attempts = b.attempts as { attempt: number; status: string; error: unknown }[];
        assert.deepEqual(
          attempts.map((a) => [a.attempt, a.status]),
          [
            [1, 'failed'],
            [2, 'succeeded'],
          ],
          JSON.stringify(attempts),
        );
        assert.equal((attempts[0]!.error as { code: string }).code, 'ERR_WORKER_LOST');
        const running = await api.awaitEvent(
          cmdWf.json.id,
          e1.id,
          'node.status',
          (e) => e.nodeId === 'b' && e.status === 'running' && e.attempt === 2,
        );
        assert.equal(running.attempt, 2);
        const requeued = await api.awaitEvent(
          cmdWf.json.id,
          e1.id,
          'node.status',
          (e) => e.nodeId === 'b' && e.status === 'queued' && e.attempt === 2,
        );
        assert.equal(requeued.takenOver, 1);
        const logs = await api.call(
          'GET',
          `/api/v1/workflows/${cmdWf.json.id}/executions/${e1.id}/logs?node=b`,
        );
        assert.equal(logs.status, 200, JSON.stringify(logs.json));
        assert.deepEqual(
          (logs.json.items as { attempt: number; text: string }[])
            .filter((l) => l.text === 'b-start')
            .map((l) => l.attempt),
          [1, 2],
        );
        const m2 = reportedMarks(d2);
        assert.deepEqual(m2, ['a', 'c']);
        const w = d2.nodes.find((n: { nodeId: string }) => n.nodeId === 'w');
        assert.equal(w.status, 'succeeded');
        assert.ok(
          Date.parse(w.endedAt) - Date.parse(w.startedAt) >= 3000,
          'the timer kept its due time',
        );
      } finally {
        await server.stop('SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    });
  });
}
