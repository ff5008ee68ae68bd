/**
 * Streams across processes on one PostgreSQL: server A serves the API without a worker, server
 * B runs every node; a client following through A sees B's events and log lines as they commit
 * (LISTEN/NOTIFY wake-ups, the tables are the source of truth), and resumes with Last-Event-ID
 * on a restarted A without gaps or duplicates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { skipFor } from '../helpers/dialects.ts';
import { client } from '../helpers/http.ts';
import { type ServerProcess, freshPostgresDatabase, startServer } from '../helpers/process.ts';
import { follow } from '../helpers/sse.ts';

const token = `sy_${'f'.repeat(40)}`;

describe('streams across two processes', { skip: await skipFor('postgres') }, () => {
  it("follows B's work through A, and through a restarted A", async () => {
    const db = await freshPostgresDatabase();
    const dirs = [
      mkdtempSync(path.join(tmpdir(), 'switchyard-smp-a-')),
      mkdtempSync(path.join(tmpdir(), 'switchyard-smp-b-')),
    ];
    const env = {
      SWITCHYARD_ADMIN_TOKEN: token,
      DATABASE_URL: db.url,
      SWITCHYARD_LOCAL_ISOLATION: 'none',
      SWITCHYARD_RUNTIME: 'local',
    };
    const servers: ServerProcess[] = [];
    const startA = async () => {
      const s = await startServer(['--data-dir', dirs[0]!, '--worker-concurrency', '0'], env);
      servers.push(s);
      return s;
    };
    try {
      let a = await startA();
      servers.push(await startServer(['--data-dir', dirs[1]!], env));
      const api = client(a.url, token);
      const nodes = Array.from({ length: 5 }, (_, i) => ({
        id: `step${i + 1}`,
        type: 'command',
        run: `echo "step ${i + 1} on $SWITCHYARD_WORKER_ID"; sleep 0.3`,
        ...(i > 0 && { needs: [`step${i}`] }),
      }));
      const wf = await api.call('POST', '/api/v1/workflows', {
        name: 'streamed',
        graph: { nodes },
      });
      assert.equal(wf.status, 201);
      const run = await api.call('POST', `/api/v1/workflows/${wf.json.id}/run`, {});
      assert.equal(run.status, 202);
      const execPath = `/api/v1/workflows/${wf.json.id}/executions/${run.json.id}`;

      const logs = follow(`${a.url}${execPath}/logs?follow=1`, token);
      const first = follow(`${a.url}${execPath}/stream`, token);
      await first.received(4);
      await logs.received(1);
      first.close();
      const lastId = first.events.at(-1)!.id;

      // A restarts (killed hard); the events meanwhile are in the table.
      await a.stop('SIGKILL');
      a = await startA();
      const second = follow(`${a.url}${execPath}/stream`, token, lastId);
      assert.equal((await second.ended).status, 'succeeded');
      const all = [...first.events, ...second.events];
      assert.deepEqual(
        all.map((e) => Number(e.id)),
        Array.from({ length: all.length }, (_, i) => i + 1),
      );
      assert.equal(JSON.parse(all.at(-1)!.data).status, 'succeeded');
      assert.equal(
        all.filter((e) => e.type === 'node.status' && JSON.parse(e.data).status === 'succeeded')
          .length,
        5,
      );

      // The log follower lost its server with the first A; it resumes on the new one.
      logs.close();
      const rest = follow(`${a.url}${execPath}/logs?follow=1`, token, logs.events.at(-1)!.id);
      assert.equal((await rest.ended).status, 'succeeded');
      const lines = [...logs.events, ...rest.events].map(
        (e) => JSON.parse(e.data) as { line: number; text: string },
      );
      assert.deepEqual(
        lines.map((l: { line: number }) => l.line),
        [1, 2, 3, 4, 5],
      );
      const workers = new Set(lines.map((l: { text: string }) => l.text.split(' on ')[1]));
      assert.equal(workers.size, 1, 'one process (B) ran every node');
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      await db.drop();
    }
  });
});
