/**
 * Artifacts in scale-out (issue 9 §2): two server processes on one PostgreSQL database, each
 * with its own data directory. An execution collects artifacts on whichever server runs it;
 * both servers serve them, whole and by byte range (across the database store's 256 KiB chunk
 * boundaries), and nothing lands in either data directory. Deleting the execution removes its
 * chunk rows.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, it } from '../helpers/suite.ts';
import { skipFor } from '../helpers/dialects.ts';
import { client } from '../helpers/http.ts';
import { freshPostgresDatabase, startServer } from '../helpers/process.ts';

const token = `sy_${'f'.repeat(40)}`;
const chunk = 256 * 1024;

/** What `seq 1 100000` prints: 588,895 bytes in which every offset is distinguishable. */
const bigContent = Buffer.from(
  Array.from({ length: 100_000 }, (_, i) => `${i + 1}\n`).join(''),
  'utf8',
);

async function download(
  base: string,
  url: string,
  range?: string,
): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`${base}${url}`, {
    headers: { authorization: `Bearer ${token}`, ...(range !== undefined && { range }) },
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

describe(
  'artifacts with two processes on one PostgreSQL',
  { skip: await skipFor('postgres') },
  () => {
    it('serves what one server collected from both, whole and by range; delete removes the chunks', async () => {
      const db = await freshPostgresDatabase();
      const dirs = [
        mkdtempSync(path.join(tmpdir(), 'switchyard-art-a-')),
        mkdtempSync(path.join(tmpdir(), 'switchyard-art-b-')),
      ];
      const env = {
        SWITCHYARD_ADMIN_TOKEN: token,
        DATABASE_URL: db.url,
        SWITCHYARD_LOCAL_ISOLATION: 'none',
        SWITCHYARD_RUNTIME: 'local',
      };
      const servers = await Promise.all(dirs.map((d) => startServer(['--data-dir', d], env)));
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      try {
        const apis = servers.map((s) => client(s.url, token));
        const wf = await apis[0]!.call('POST', '/api/v1/workflows', {
          name: 'scale-out-artifacts',
          graph: {
            nodes: [
              {
                id: 'make',
                type: 'command',
                artifacts: ['out/**'],
                run: 'mkdir -p out/deep && seq 1 100000 > out/big.txt && printf small > out/deep/small.txt && : > out/empty.txt',
              },
            ],
          },
        });
        assert.equal(wf.status, 201, JSON.stringify(wf.json));
        const run = await apis[0]!.call('POST', `/api/v1/workflows/${wf.json.id}/run`, {});
        assert.equal(run.status, 202);
        const execId = run.json.id as string;
        const done = await apis[1]!.waitFor(wf.json.id, execId, ['succeeded', 'failed'], 60_000);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));

        const base = `/api/v1/workflows/${wf.json.id}/executions/${execId}/artifacts`;
        for (const [i, server] of servers.entries()) {
          const list = await apis[i]!.call('GET', base);
          assert.deepEqual(
            list.json.items.map((a: { path: string; size: number }) => [a.path, a.size]),
            [
              ['out/big.txt', bigContent.length],
              ['out/deep/small.txt', 5],
              ['out/empty.txt', 0],
            ],
          );
          const whole = await download(server.url, `${base}/out/big.txt`);
          assert.equal(whole.status, 200, `server ${i}: ${whole.body.toString().slice(0, 200)}`);
          assert.equal(whole.headers.get('content-length'), String(bigContent.length));
          assert.ok(whole.body.equals(bigContent), `server ${i}: the whole file`);

          // A range across the first chunk boundary, one ending exactly on the second, a suffix.
          for (const [header, start, end] of [
            [`bytes=${chunk - 100}-${chunk + 99}`, chunk - 100, chunk + 99],
            [`bytes=${chunk}-${2 * chunk - 1}`, chunk, 2 * chunk - 1],
            [`bytes=${2 * chunk - 1}-`, 2 * chunk - 1, bigContent.length - 1],
            ['bytes=-10', bigContent.length - 10, bigContent.length - 1],
          ] as const) {
            const part = await download(server.url, `${base}/out/big.txt`, header);
            assert.equal(part.status, 206, `server ${i} ${header}`);
            assert.equal(
              part.headers.get('content-range'),
              `bytes ${start}-${end}/${bigContent.length}`,
            );
            assert.equal(part.headers.get('content-length'), String(end - start + 1));
            assert.ok(
              part.body.equals(bigContent.subarray(start, end + 1)),
              `server ${i} ${header}`,
            );
          }
          const past = await download(server.url, `${base}/out/big.txt`, 'bytes=900000-');
          assert.equal(past.status, 416);
          assert.equal(past.headers.get('content-range'), `bytes */${bigContent.length}`);

          const small = await download(server.url, `${base}/out/deep/small.txt`);
          assert.equal(small.body.toString(), 'small');
          const empty = await download(server.url, `${base}/out/empty.txt`);
          assert.equal(empty.status, 200);
          assert.equal(empty.body.length, 0);
          assert.ok(
            !existsSync(path.join(dirs[i]!, 'artifacts', execId)),
            `server ${i} keeps no artifact file`,
          );
        }

        const chunkRows = async () =>
          Number(
            (
              await sql.query('SELECT count(*) AS n FROM artifact_chunks WHERE execution_id = $1', [
                execId,
              ])
            ).rows[0].n,
          );
        // big.txt in 3 chunks, small.txt and empty.txt in one each.
        assert.equal(await chunkRows(), 5);
        const del = await apis[1]!.call(
          'DELETE',
          `/api/v1/workflows/${wf.json.id}/executions/${execId}`,
        );
        assert.equal(del.status, 204, JSON.stringify(del.json));
        assert.equal(await chunkRows(), 0, 'deleting the execution removes its chunks');
        assert.equal((await apis[0]!.call('GET', base)).status, 404);
      } finally {
        await sql.end();
        await Promise.all(servers.map((s) => s.stop()));
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
        await db.drop();
      }
    });
  },
);
