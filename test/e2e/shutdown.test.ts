/**
 * How a draining server ends when it cannot drain (docs/engine.md, "Shutdown"): a second SIGTERM
 * or SIGINT exits at once with 143 or 130 and says so; a drain whose database is gone (a private
 * PostgreSQL cluster, stopped) still ends shortly after its timeout instead of waiting on dead
 * connections.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { eventually } from '../helpers/eventually.ts';
import { client } from '../helpers/http.ts';
import { type PgCluster, skipWithoutCluster, startPgCluster } from '../helpers/pg-cluster.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';

const token = `sy_${'s'.repeat(40)}`;

/** Plain local processes, as in the drain tests. */
const env = {
  SWITCHYARD_ADMIN_TOKEN: token,
  SWITCHYARD_LOCAL_ISOLATION: 'plain',
  SWITCHYARD_RUNTIME: 'local',
  SWITCHYARD_KILL_GRACE_MS: '1000',
};

/** Starts a workflow whose one node runs far longer than any drain here; resolves once it runs. */
async function startLongNode(server: ServerProcess): Promise<void> {
  const api = client(server.url, token);
  const wf = await api.call('POST', '/api/v1/workflows', {
    name: 'long',
    graph: { nodes: [{ id: 'long', type: 'command', run: 'echo started; sleep 600' }] },
  });
  assert.equal(wf.status, 201, JSON.stringify(wf.json));
  const exec = await api.call('POST', `/api/v1/workflows/${wf.json.id}/run`, {});
  assert.equal(exec.status, 202, JSON.stringify(exec.json));
  await api.awaitLog(wf.json.id, exec.json.id, (l) => l.nodeId === 'long' && l.text === 'started');
}

/** The exit code once the process has exited; fails after `timeoutMs`. */
async function exitOf(server: ServerProcess, what: string, timeoutMs: number) {
  await eventually(
    what,
    () => (server.child.exitCode !== null || server.child.signalCode !== null ? true : undefined),
    timeoutMs,
  );
  return server.child.exitCode;
}

describe('a second signal while draining', { timeout: 120_000 }, () => {
  for (const [second, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`SIGTERM, then ${second}: exits at once with ${code} and says the drain did not finish`, async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-shutdown-'));
      let server: ServerProcess | undefined;
      try {
        // The drain alone would wait ten minutes for the node.
        server = await startServer(['--data-dir', dataDir, '--drain-timeout-ms', '600000'], env);
        await startLongNode(server);
        server.child.kill('SIGTERM');
        // Draining: the API has stopped listening (and the first signal was taken, so the
        // second is not merged into it).
        const url = server.url;
        await eventually('the API to close', () =>
          fetch(`${url}/healthz`).then(
            () => undefined,
            () => true,
          ),
        );
        assert.equal(server.child.exitCode, null, 'still draining');
        server.child.kill(second);
        // Well under the ten-minute drain and the node's sleep: "at once".
        assert.equal(await exitOf(server, 'the exit', 15_000), code, server.stderr());
        assert.match(
          server.stderr(),
          new RegExp(`${second} while draining; exiting without finishing the drain`),
        );
      } finally {
        await server?.stop('SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});

describe(
  'a drain while PostgreSQL is down',
  { skip: skipWithoutCluster(), timeout: 180_000 },
  () => {
    it('ends within seconds of its timeout', async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-shutdown-pg-'));
      let cluster: PgCluster | undefined;
      let server: ServerProcess | undefined;
      const drainTimeoutMs = 2000;
      try {
        cluster = await startPgCluster();
        server = await startServer(
          ['--data-dir', dataDir, '--drain-timeout-ms', String(drainTimeoutMs)],
          { ...env, DATABASE_URL: cluster.url },
        );
        await startLongNode(server);
        await cluster.stop();
        server.child.kill('SIGTERM');
        // The drain waits its timeout, the node gets killGraceMs (1 s), API requests 2 s more;
        // closing must then wait neither on the dead database (a connection attempt gives up
        // after 5 s) nor on a client's keep-alive connection (72 s; the test's own fetch keeps
        // one). 15 s on top of the timeout leaves room for a loaded machine and is still far
        // from the ~70 s it took.
        const code = await exitOf(server, 'the exit', drainTimeoutMs + 15_000);
        // As any drain: the stopped node runs again on the next server once its lease runs out.
        assert.equal(code, 0, server.stderr());
      } finally {
        await server?.stop('SIGKILL');
        await cluster?.destroy();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  },
);
