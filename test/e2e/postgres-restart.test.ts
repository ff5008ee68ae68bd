/**
 * Exact under database faults (issue 8 §3): a real server process runs 80 executions on a
 * private PostgreSQL cluster that is restarted (`pg_ctl restart -m fast`) and stopped for a
 * while, at different moments. The server stays the same process, answers 503 ERR_UNAVAILABLE
 * with Retry-After (never 500) while the database is down, every execution succeeds, and every
 * command node ran exactly once: no finished result was dropped and run again. The last node's
 * artifact is recorded for every execution, also when it was collected while the database was
 * down (kept and recorded once it is back, not dropped).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { type PgCluster, skipWithoutCluster, startPgCluster } from '../helpers/pg-cluster.ts';
import { eventually } from '../helpers/eventually.ts';
import { mark, reportMarks, reportedMarks } from '../helpers/marks.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';

const token = `sy_${'p'.repeat(40)}`;
const executions = 80;

/** State that no engine event reports (counters in /metrics): checked with a backoff. */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 120_000,
): Promise<void> {
  await eventually(what, async () => ((await cond()) ? true : undefined), timeoutMs);
}

describe('PostgreSQL restarts under load', { skip: skipWithoutCluster() }, () => {
  it('keeps the server, answers 503 while down, loses no completion', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-pg-restart-'));
    // Each execution counts its runs in its own workspace, which the plain sandbox (its own uid
    // and namespaces on a root server) can write and the test reads from the host.
    let cluster: PgCluster | undefined;
    let server: ServerProcess | undefined;
    // Every answer the API gave, by status: a 500 anywhere fails the test.
    const statuses = new Map<number, number>();
    try {
      cluster = await startPgCluster();
      server = await startServer(['--data-dir', path.join(dir, 'data')], {
        SWITCHYARD_ADMIN_TOKEN: token,
        DATABASE_URL: cluster.url,
        // Plain processes: commands die with the server, as in production without bubblewrap.
        SWITCHYARD_LOCAL_ISOLATION: 'plain',
        SWITCHYARD_RUNTIME: 'local',
        // More slots than executions: while the database is down the claim loop has room to
        // poll (and fail), however many attempts wait to commit their results or make their
        // execution tokens meanwhile; a worker with every slot taken does not claim.
        SWITCHYARD_WORKER_CONCURRENCY: '200',
      });
      const base = server.url;
      const pid = server.child.pid;
      const call = async (
        method: string,
        url: string,
        body?: unknown,
        headers: Record<string, string> = {},
      ) => {
        const res = await fetch(`${base}${url}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body !== undefined && { 'content-type': 'application/json' }),
            ...headers,
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.notEqual(res.status, 500, `${method} ${url} answered 500: ${text}`);
        return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
      };
      /** Retries a call the server answered 503 (the database was restarting). */
      const callThrough = async (
        method: string,
        url: string,
        body?: unknown,
        headers: Record<string, string> = {},
      ) => {
        for (;;) {
          const r = await call(method, url, body, headers);
          if (r.status !== 503) return r;
          assert.equal(r.json.code, 'ERR_UNAVAILABLE');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };

      const wf = await callThrough('POST', '/api/v1/workflows', {
        name: 'pg-restart',
        graph: {
          nodes: [
            { id: 'a', type: 'command', run: mark('a') },
            { id: 'w', type: 'wait', duration: '1s', needs: ['a'] },
            { id: 'b', type: 'command', needs: ['w'], run: mark('b') },
            {
              id: 'c',
              type: 'command',
              needs: ['b'],
              run: `${mark('c')}; echo done > out.txt`,
              artifacts: ['out.txt'],
            },
            reportMarks('c'),
          ],
        },
      });
      assert.equal(wf.status, 201, JSON.stringify(wf.json));
      const wfId = wf.json.id as string;
      // Progress: command attempts that ended, as the server counts them (a succeeded
      // execution's workspace, and its marks file, are gone once it ends).
      const runs = async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        let n = 0;
        for (const m of text.matchAll(
          /^switchyard_node_duration_seconds_count\{node_type="command",status="[a-z]+"\} (\d+)$/gm,
        ))
          n += Number(m[1]);
        return n;
      };

      // Restart 1: while executions are still being created. A start answered 503 is sent again
      // with the same Idempotency-Key, so none is created twice.
      const ids: string[] = [];
      let restarting: Promise<void> | undefined;
      for (let i = 0; i < executions; i++) {
        if (i === 20) restarting = cluster.restart();
        const r = await callThrough(
          'POST',
          `/api/v1/workflows/${wfId}/run`,
          {},
          {
            'idempotency-key': `run-${i}`,
          },
        );
        assert.equal(r.status, 202, JSON.stringify(r.json));
        ids.push(r.json.id as string);
      }
      await restarting;
      assert.equal(new Set(ids).size, executions);

      // Restart 2: while commands run and timers are pending.
      await until(async () => (await runs()) >= 60, '60 command runs');
      await cluster.restart();

      // An outage: every API answer that needs the database is 503 ERR_UNAVAILABLE with
      // Retry-After, never 500; the server keeps running nodes that need no database.
      await until(async () => (await runs()) >= 120, '120 command runs');
      await cluster.stop();
      try {
        for (const [method, url, body] of [
          ['GET', `/api/v1/workflows/${wfId}/executions/${ids[0]}`],
          ['GET', `/api/v1/workflows/${wfId}`],
          ['POST', `/api/v1/workflows/${wfId}/run`, {}],
          ['GET', '/readyz'],
        ] as const) {
          const r = await call(method, url, body);
          assert.equal(r.status, 503, `${method} ${url}: ${JSON.stringify(r.json)}`);
          assert.equal(r.json.code, 'ERR_UNAVAILABLE');
          assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
        }
        assert.equal((await call('GET', '/healthz')).status, 200);
        // The worker's polls fail meanwhile; they are counted (and logged), not hidden.
        await until(async () => {
          const text = await (await fetch(`${base}/metrics`)).text();
          const m = /^switchyard_worker_claim_failures_total (\d+)/m.exec(text);
          return m !== null && Number(m[1]) > 0;
        }, 'a failed claim in /metrics');
      } finally {
        await cluster.start();
      }

      // Restart 3: near the end.
      await until(async () => (await runs()) >= 180, '180 command runs');
      await cluster.restart();

      // Every execution succeeds...
      const pending = new Set(ids);
      await until(
        async () => {
          for (const id of [...pending]) {
            const d = await callThrough('GET', `/api/v1/workflows/${wfId}/executions/${id}`);
            assert.equal(d.status, 200, JSON.stringify(d.json));
            if (['failed', 'cancelled'].includes(d.json.status as string))
              assert.fail(`execution ${id} ended ${d.json.status}: ${JSON.stringify(d.json)}`);
            if (d.json.status === 'succeeded') pending.delete(id);
          }
          return pending.size === 0;
        },
        'every execution to succeed',
        180_000,
      );
      // ...and every command node ran exactly once.
      for (const id of ids) {
        const d = await callThrough('GET', `/api/v1/workflows/${wfId}/executions/${id}`);
        assert.deepEqual(reportedMarks(d.json as never), ['a', 'b', 'c'], `runs of ${id}`);
        const artifacts = await callThrough(
          'GET',
          `/api/v1/workflows/${wfId}/executions/${id}/artifacts`,
        );
        assert.deepEqual(
          (artifacts.json.items as { path: string }[]).map((a) => a.path),
          ['out.txt'],
          `artifacts of ${id}`,
        );
      }
      // The same process served it all and still answers.
      assert.equal(server.child.exitCode, null, server.stderr());
      assert.equal(server.child.pid, pid);
      assert.equal((await call('GET', '/readyz')).status, 200);
      assert.ok((statuses.get(503) ?? 0) >= 4, 'the outage was seen');
    } catch (err) {
      if (server) process.stderr.write(`server stderr:\n${server.stderr()}\n`);
      throw err;
    } finally {
      await server?.stop('SIGKILL');
      await cluster?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
