/**
 * Artifacts end to end on both dialects: collection from a real workspace directory (nested
 * files, symlinks inside and escaping, refused globs, caps), the list and download routes
 * (nested and encoded paths, Range, ETag/304, traversal refused), expiry on a fake clock (410),
 * the reaper freeing the files, and execution deletes removing them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { ArtifactService } from '../../src/services/artifacts.ts';
import type { ArtifactView } from '../../src/wire/artifacts.ts';
import { type DialectName, dialectNames, skipFor } from '../helpers/dialects.ts';
import { createWorkflow, runAndWait, tokenWith } from '../helpers/executions.ts';
import { type Harness, adminToken, startHarness } from '../helpers/harness.ts';

/** A clock that stands still until a test moves it. */
function fakeClock(start = Date.now()) {
  let t = start;
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** 1,000 bytes whose every offset is recognisable. */
const bigContent = Buffer.from(Array.from({ length: 1000 }, (_, i) => 65 + (i % 26)));

/** A workspace with nested files, private engine files and symlinks inside and out. */
function makeWorkspace(scratch: string): { ws: string; outside: string } {
  const ws = mkdtempSync(path.join(scratch, 'ws-'));
  const outside = mkdtempSync(path.join(scratch, 'outside-'));
  writeFileSync(path.join(outside, 'secret.txt'), 'outside secret');
  const put = (rel: string, data: string | Buffer) => {
    const file = path.join(ws, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, data);
  };
  put('top.txt', 'top level\n');
  put('notes.md', 'not matched');
  put('reports/a.json', '{"a":1}');
  put('reports/b.json', '{"b":2}');
  put('reports/deep/c.json', '{"c":3}');
  put('logs/2024/run.txt', 'ran\n');
  put('nested/dir with space/ü file.txt', 'unicode name');
  put('.switchyard/secret.txt', 'engine bookkeeping');
  put('big.bin', bigContent);
  symlinkSync('top.txt', path.join(ws, 'link-inside.txt'));
  symlinkSync(path.join(outside, 'secret.txt'), path.join(ws, 'link-outside.txt'));
  symlinkSync(outside, path.join(ws, 'linkdir'));
  symlinkSync('/etc', path.join(ws, 'etc-link'));
  // A FIFO must be skipped, not opened (opening one would block the collection).
  execFileSync('mkfifo', [path.join(ws, 'reports', 'pipe.txt')]);
  return { ws, outside };
}

const globs = ['**/*.txt', 'reports/*.json', '../x', '/etc/passwd', 'big.bin', 'etc-link/*'];

/**
 * Each dialect with its default store (files on SQLite, the database on PostgreSQL), and the
 * database store on SQLite too. The database store cuts files into 64-byte chunks here, so the
 * range tests cross chunk boundaries.
 */
const variants = dialectNames.flatMap(
  (dialect): { dialect: DialectName; store: 'files' | 'database' }[] =>
    dialect === 'sqlite'
      ? [
          { dialect, store: 'files' as const },
          { dialect, store: 'database' as const },
        ]
      : [{ dialect, store: 'database' as const }],
);

for (const { dialect, store } of variants) {
  describe(`artifacts (${dialect}, ${store})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let scratch: string;
    const clock = fakeClock();
    let wfId: string;
    let otherWfId: string;
    let execId: string;
    let items: ArtifactView[];
    const base = () => `/api/v1/workflows/${wfId}/executions/${execId}/artifacts`;

    const newExecution = async (): Promise<string> => (await runAndWait(h, wfId, ['succeeded'])).id;

    before(async () => {
      h = await startHarness(dialect, {
        clock,
        config: { artifactStore: store === 'database' ? 'database' : 'auto' },
        artifacts: { reapIntervalMs: 0, chunkBytes: 64 },
      });
      scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-artifacts-test-'));
      wfId = (
        await createWorkflow(h, { name: 'arts', graph: { nodes: [{ id: 'n', type: 'noop' }] } })
      ).id;
      otherWfId = (
        await createWorkflow(h, { name: 'other', graph: { nodes: [{ id: 'n', type: 'noop' }] } })
      ).id;
      execId = await newExecution();
    });
    after(async () => {
      await h?.close();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    describe('collect', () => {
      it('copies matching files, refuses bad globs and symlinks that escape', async () => {
        const { ws } = makeWorkspace(scratch);
        const out = await h.yard.artifacts.collect({
          executionId: execId,
          workflowId: wfId,
          nodeId: 'n',
          hostWorkspace: ws,
          globs,
          retentionHours: 24,
        });
        assert.deepEqual(out.collected.map((a) => a.path).sort(), [
          'big.bin',
          'link-inside.txt',
          'logs/2024/run.txt',
          'nested/dir with space/ü file.txt',
          'reports/a.json',
          'reports/b.json',
          'top.txt',
        ]);
        const skipped = new Map(out.skipped.map((s) => [s.path, s.reason]));
        assert.equal(skipped.get('../x'), 'glob_refused');
        assert.equal(skipped.get('/etc/passwd'), 'glob_refused');
        assert.equal(skipped.get('link-outside.txt'), 'symlink_outside');
        assert.equal(skipped.get('reports/pipe.txt'), 'not_a_file');
        assert.ok(!out.collected.some((a) => a.path.startsWith('.switchyard')));
        assert.ok(!out.collected.some((a) => a.path.startsWith('linkdir')));
        assert.ok(!out.collected.some((a) => a.path.startsWith('etc-link')));

        const top = out.collected.find((a) => a.path === 'top.txt')!;
        assert.equal(top.size, 10);
        assert.equal(top.sha256, sha256('top level\n'));
        assert.equal(top.contentType, 'text/plain');
        assert.equal(top.nodeId, 'n');
        assert.match(top.id, /^art_[0-9a-z]{26}$/);
        assert.equal(
          Date.parse(top.expiresAt) - Date.parse(top.createdAt),
          24 * 3_600_000,
          'expires after the retention',
        );
        const inside = out.collected.find((a) => a.path === 'link-inside.txt')!;
        assert.equal(inside.sha256, top.sha256, 'a symlink inside is collected with its content');
        assert.equal(out.collected.find((a) => a.path === 'big.bin')!.size, 1000);
        assert.ok(await isStored(h, store, execId, 'reports/a.json'), `stored in ${store}`);
        assert.ok(await isStored(h, store, execId, 'nested/dir with space/ü file.txt'));
        assert.equal(
          existsSync(path.join(storedDir(h), execId)),
          store === 'files',
          'the data directory holds files only with the file store',
        );
      });

      it('lists through the API with size, sha256, content type and a download url', async () => {
        const res = await h.call('GET', base());
        assert.equal(res.statusCode, 200, res.body);
        items = res.json().items;
        assert.deepEqual(
          items.map((a) => a.path),
          [...items.map((a) => a.path)].sort(),
          'sorted by path',
        );
        assert.equal(items.length, 7);
        const json = items.find((a) => a.path === 'reports/a.json')!;
        assert.equal(json.contentType, 'application/json');
        assert.equal(json.sha256, sha256('{"a":1}'));
        assert.equal(json.expired, false);
        assert.equal(json.url, `${base()}/reports/a.json`);
        assert.equal(
          items.find((a) => a.path.startsWith('nested'))!.url,
          `${base()}/nested/dir%20with%20space/%C3%BC%20file.txt`,
        );
      });

      it('collecting a path again replaces the file and keeps the id', async () => {
        const ws = mkdtempSync(path.join(scratch, 'again-'));
        writeFileSync(path.join(ws, 'top.txt'), 'changed');
        const before = items.find((a) => a.path === 'top.txt')!;
        const out = await h.yard.artifacts.collect({
          executionId: execId,
          workflowId: wfId,
          nodeId: null,
          hostWorkspace: ws,
          globs: ['top.txt'],
        });
        assert.equal(out.collected.length, 1);
        assert.equal(out.collected[0]!.id, before.id);
        assert.equal(out.collected[0]!.nodeId, null);
        const res = await h.call('GET', `${base()}/top.txt`);
        assert.equal(res.body, 'changed');
        assert.equal(res.headers.etag, `"${sha256('changed')}"`);
        assert.equal((await h.yard.artifacts.list(execId)).length, 7);
        if (store === 'database') {
          // The replaced blob went in the same transaction: one blob per artifact is left.
          const blobs = await h.yard.database.db
            .selectFrom('artifact_chunks')
            .select('blob_id')
            .distinct()
            .where('execution_id', '=', execId)
            .execute();
          assert.equal(blobs.length, 7);
        }
      });

      it('enforces the per-file and per-execution caps, saying why', async () => {
        const exec = await newExecution();
        const ws = mkdtempSync(path.join(scratch, 'caps-'));
        for (const [name, size] of [
          ['a.txt', 5],
          ['b.txt', 8],
          ['c.txt', 11],
          ['d.txt', 9],
          ['e.txt', 5],
        ] as const)
          writeFileSync(path.join(ws, name), 'x'.repeat(size));
        const capped = new ArtifactService(h.yard.database, clock, {
          dataDir: mkdtempSync(path.join(scratch, 'capdata-')),
          store,
          maxFileBytes: 10,
          maxExecutionBytes: 25,
        });
        const out = await capped.collect({
          executionId: exec,
          workflowId: wfId,
          nodeId: 'n',
          hostWorkspace: ws,
          globs: ['*.txt'],
        });
        assert.deepEqual(
          out.collected.map((a) => a.path),
          ['a.txt', 'b.txt', 'd.txt'],
        );
        assert.deepEqual(
          out.skipped.map((s) => [s.path, s.reason]),
          [
            ['c.txt', 'file_too_large'],
            ['e.txt', 'execution_cap'],
          ],
        );
        assert.match(out.skipped[0]!.message, /11 bytes.*10/);
        // Replacing a file counts its new size instead of adding to the old one.
        writeFileSync(path.join(ws, 'a.txt'), 'x'.repeat(8));
        const again = await capped.collect({
          executionId: exec,
          workflowId: wfId,
          nodeId: 'n',
          hostWorkspace: ws,
          globs: ['a.txt'],
        });
        assert.equal(again.collected[0]?.size, 8, JSON.stringify(again.skipped));
      });

      it('serves what the other store wrote (a change of artifactStore strands nothing)', async () => {
        const exec = await newExecution();
        const ws = mkdtempSync(path.join(scratch, 'other-store-'));
        writeFileSync(path.join(ws, 'before.bin'), bigContent);
        const other = new ArtifactService(h.yard.database, clock, {
          dataDir: h.dataDir,
          store: store === 'files' ? 'database' : 'files',
          chunkBytes: 100,
        });
        const out = await other.collect({
          executionId: exec,
          workflowId: wfId,
          nodeId: 'n',
          hostWorkspace: ws,
          globs: ['before.bin'],
        });
        assert.equal(out.collected.length, 1, JSON.stringify(out.skipped));
        const url = `/api/v1/workflows/${wfId}/executions/${exec}/artifacts/before.bin`;
        const whole = await h.call('GET', url);
        assert.equal(whole.statusCode, 200, whole.body);
        assert.ok(whole.rawPayload.equals(bigContent));
        const part = await h.call('GET', url, undefined, { headers: { range: 'bytes=95-205' } });
        assert.equal(part.statusCode, 206);
        assert.ok(part.rawPayload.equals(bigContent.subarray(95, 206)));
        await h.yard.artifacts.deleteExecution(exec);
        assert.ok(!(await isStored(h, 'files', exec)));
        assert.ok(!(await isStored(h, 'database', exec)));
      });

      it('collects nothing for an unknown execution or a missing workspace', async () => {
        const none = await h.yard.artifacts.collect({
          executionId: 'exec_00000000000000000000000000',
          workflowId: wfId,
          nodeId: null,
          hostWorkspace: scratch,
          globs: ['**'],
        });
        assert.deepEqual(none.collected, []);
        const missing = await h.yard.artifacts.collect({
          executionId: execId,
          workflowId: wfId,
          nodeId: null,
          hostWorkspace: path.join(scratch, 'does-not-exist'),
          globs: ['**'],
        });
        assert.deepEqual(missing, { collected: [], skipped: [] });
      });
    });

    describe('download', () => {
      it('streams nested and encoded paths with Content-Type, Content-Length and ETag', async () => {
        let res = await h.call('GET', `${base()}/reports/a.json`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.body, '{"a":1}');
        assert.equal(res.headers['content-type'], 'application/json');
        assert.equal(res.headers['content-length'], '7');
        assert.equal(res.headers.etag, `"${sha256('{"a":1}')}"`);
        assert.equal(res.headers['accept-ranges'], 'bytes');
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.match(String(res.headers['content-disposition']), /^attachment; filename="a.json"/);

        res = await h.call('GET', `${base()}/logs/2024/run.txt`);
        assert.equal(res.statusCode, 200);
        assert.equal(res.body, 'ran\n');

        const unicode = items.find((a) => a.path.startsWith('nested'))!;
        res = await h.call('GET', unicode.url);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.body, 'unicode name');

        res = await h.call('GET', `${base()}/big.bin`);
        assert.equal(res.headers['content-type'], 'application/octet-stream');
        assert.deepEqual(res.rawPayload, bigContent);
      });

      it('answers HEAD with the headers and no body', async () => {
        const res = await h.call('HEAD', `${base()}/big.bin`);
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-length'], '1000');
        assert.equal(res.body, '');
      });

      it('serves byte ranges: a-b, a-, -n, clamped ends; 416 past the end', async () => {
        const range = async (spec: string) =>
          h.call('GET', `${base()}/big.bin`, undefined, { headers: { range: spec } });
        const cases: [string, number, number][] = [
          ['bytes=0-9', 0, 9],
          ['bytes=990-', 990, 999],
          ['bytes=-5', 995, 999],
          ['bytes=995-5000', 995, 999],
          ['bytes=10-10', 10, 10],
          ['bytes=-5000', 0, 999],
        ];
        for (const [spec, start, end] of cases) {
          const res = await range(spec);
          assert.equal(res.statusCode, 206, `${spec}: ${res.body}`);
          assert.equal(res.headers['content-range'], `bytes ${start}-${end}/1000`, spec);
          assert.equal(res.headers['content-length'], String(end - start + 1), spec);
          assert.deepEqual(res.rawPayload, bigContent.subarray(start, end + 1), spec);
        }
        for (const spec of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
          const res = await range(spec);
          assert.equal(res.statusCode, 416, spec);
          assert.equal(res.headers['content-range'], 'bytes */1000', spec);
          assert.equal(res.json().code, 'ERR_RANGE_NOT_SATISFIABLE', spec);
        }
        // Several ranges, other units and malformed ranges are ignored: the whole file.
        for (const spec of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-3', 'bytes=x-y']) {
          const res = await range(spec);
          assert.equal(res.statusCode, 200, spec);
          assert.equal(res.headers['content-length'], '1000', spec);
        }
        // If-Range with another validator: the whole (changed) file, not a piece of it.
        const etag = `"${sha256(bigContent)}"`;
        let res = await h.call('GET', `${base()}/big.bin`, undefined, {
          headers: { range: 'bytes=0-9', 'if-range': '"stale"' },
        });
        assert.equal(res.statusCode, 200);
        res = await h.call('GET', `${base()}/big.bin`, undefined, {
          headers: { range: 'bytes=0-9', 'if-range': etag },
        });
        assert.equal(res.statusCode, 206);
      });

      it('answers 304 to a current If-None-Match', async () => {
        const etag = `"${sha256('{"a":1}')}"`;
        const url = `${base()}/reports/a.json`;
        for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
          const res = await h.call('GET', url, undefined, { headers: { 'if-none-match': inm } });
          assert.equal(res.statusCode, 304, inm);
          assert.equal(res.body, '', inm);
          assert.equal(res.headers.etag, etag);
        }
        const res = await h.call('GET', url, undefined, { headers: { 'if-none-match': '"old"' } });
        assert.equal(res.statusCode, 200);
      });

      it('refuses traversal, absolute, backslash and NUL paths with 400', async () => {
        const prefix = base();
        for (const p of [
          '..%2F..%2Fswitchyard.db',
          '..%2f..%2f..%2fetc%2fpasswd',
          'reports/..%2Fa.json',
          '%2Fetc%2Fpasswd',
          'reports%5Ca.json',
          'a%00b',
          '.%2Freports%2Fa.json',
        ]) {
          const res = await h.call('GET', `${prefix}/${p}`);
          assert.equal(res.statusCode, 400, `${p}: ${res.statusCode} ${res.body}`);
          assert.equal(res.json().code, 'ERR_ARTIFACT_PATH_INVALID', p);
        }
        // Dot segments (plain or %2e) are resolved by URL parsers before routing; whatever is
        // left never reaches a file outside the execution.
        for (const p of ['../../switchyard.db', 'reports/../../../x', 'reports/%2e%2e/%2e%2e/x']) {
          const res = await h.call('GET', `${prefix}/${p}`);
          assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${p}: ${res.statusCode}`);
        }
      });

      it('refuses raw dot segments sent over a real socket (no client-side normalisation)', async () => {
        const address = await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
        const { port } = new URL(address);
        const rawGet = (rawPath: string) =>
          new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = request(
              {
                host: '127.0.0.1',
                port,
                path: rawPath,
                headers: { authorization: `Bearer ${adminToken}` },
              },
              (res) => {
                let body = '';
                res.setEncoding('utf8');
                res.on('data', (c: string) => (body += c));
                res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
              },
            );
            req.on('error', reject);
            req.end();
          });
        for (const p of [
          '../../../switchyard.db',
          'reports/../a.json',
          '%2e%2e/%2e%2e/switchyard.db',
          'reports/%2E%2E/a.json',
          './reports/a.json',
        ]) {
          const res = await rawGet(`${base()}/${p}`);
          assert.equal(res.status, 400, `${p}: ${res.status} ${res.body}`);
          assert.equal(JSON.parse(res.body).code, 'ERR_ARTIFACT_PATH_INVALID', p);
        }
        assert.equal((await rawGet(`${base()}/reports/a.json`)).body, '{"a":1}');
      });

      it('answers 404 for unknown paths, files never collected and foreign executions', async () => {
        for (const p of ['nope.txt', '.switchyard/secret.txt', 'link-outside.txt', 'reports']) {
          const res = await h.call('GET', `${base()}/${p}`);
          assert.equal(res.statusCode, 404, p);
          assert.equal(res.json().code, 'ERR_ARTIFACT_NOT_FOUND', p);
        }
        for (const url of [
          `/api/v1/workflows/${otherWfId}/executions/${execId}/artifacts`,
          `/api/v1/workflows/${otherWfId}/executions/${execId}/artifacts/top.txt`,
          `/api/v1/workflows/${wfId}/executions/exec_nope/artifacts`,
          `/api/v1/workflows/${wfId}/executions/exec_nope/artifacts/top.txt`,
        ]) {
          const res = await h.call('GET', url);
          assert.equal(res.statusCode, 404, url);
          assert.equal(res.json().code, 'ERR_EXECUTION_NOT_FOUND', url);
        }
      });

      it('needs workflows.read', async () => {
        const runner = await tokenWith(h, 'arts-runner', ['workflows.run']);
        const reader = await tokenWith(h, 'arts-reader', ['workflows.read']);
        for (const url of [base(), `${base()}/top.txt`]) {
          assert.equal((await h.call('GET', url, undefined, { token: null })).statusCode, 401);
          assert.equal((await h.call('GET', url, undefined, { token: runner })).statusCode, 403);
          assert.equal((await h.call('GET', url, undefined, { token: reader })).statusCode, 200);
        }
      });
    });

    describe('retention', () => {
      let shortExec: string;
      let shortPaths: string[];

      it('answers 410 after the retention ends, per execution', async () => {
        shortExec = await newExecution();
        const ws = mkdtempSync(path.join(scratch, 'short-'));
        mkdirSync(path.join(ws, 'out', 'deep'), { recursive: true });
        writeFileSync(path.join(ws, 'out', 'one.txt'), '1234');
        writeFileSync(path.join(ws, 'out', 'deep', 'two.txt'), '123456');
        const out = await h.yard.artifacts.collect({
          executionId: shortExec,
          workflowId: wfId,
          nodeId: 'n',
          hostWorkspace: ws,
          globs: ['out/**'],
          retentionHours: 1,
        });
        assert.equal(out.collected.length, 2);
        shortPaths = out.collected.map((a) => a.path);
        const url = `/api/v1/workflows/${wfId}/executions/${shortExec}/artifacts/out/deep/two.txt`;
        assert.equal((await h.call('GET', url)).statusCode, 200);

        clock.advance(3_600_000 - 1);
        assert.equal((await h.call('GET', url)).statusCode, 200, 'still within the retention');
        clock.advance(1);
        const res = await h.call('GET', url);
        assert.equal(res.statusCode, 410, res.body);
        assert.equal(res.json().code, 'ERR_ARTIFACT_EXPIRED');
        const list = await h.call(
          'GET',
          `/api/v1/workflows/${wfId}/executions/${shortExec}/artifacts`,
        );
        assert.ok(list.json().items.every((a: ArtifactView) => a.expired));
        // The other execution keeps its 24 hours.
        assert.equal((await h.call('GET', `${base()}/top.txt`)).statusCode, 200);
      });

      it('the reaper deletes expired files, reports freed bytes, and 410 stays', async () => {
        for (const p of shortPaths) assert.ok(await isStored(h, store, shortExec, p), p);
        const reaped = await h.yard.artifacts.reap();
        assert.deepEqual(reaped, { deleted: 2, freedBytes: 10 });
        for (const p of shortPaths)
          assert.ok(!(await isStored(h, store, shortExec, p)), `${p} should be gone`);
        assert.ok(!(await isStored(h, store, shortExec)), 'empty directories go too');
        assert.ok(await isStored(h, store, execId, 'top.txt'), 'unexpired files stay');
        const url = `/api/v1/workflows/${wfId}/executions/${shortExec}/artifacts/out/one.txt`;
        const res = await h.call('GET', url);
        assert.equal(res.statusCode, 410, res.body);
        assert.deepEqual(await h.yard.artifacts.reap(), { deleted: 0, freedBytes: 0 });
      });

      it('the background reaper runs on its period and stops cleanly', async (t) => {
        const exec = await newExecution();
        const ws = mkdtempSync(path.join(scratch, 'bg-'));
        writeFileSync(path.join(ws, 'x.log'), 'xyz');
        await h.yard.artifacts.collect({
          executionId: exec,
          workflowId: wfId,
          nodeId: null,
          hostWorkspace: ws,
          globs: ['*.log'],
          retentionHours: 0.5,
        });
        const stored = () => isStored(h, store, exec, 'x.log');
        assert.ok(await stored());
        clock.advance(1_800_000);
        // The period is counted on mocked timers: ticks start passes, stop() awaits the one running.
        t.mock.timers.enable({ apis: ['setInterval'] });
        const stop = h.yard.artifacts.startReaper(60_000);
        try {
          t.mock.timers.tick(59_999);
        } finally {
          await stop();
        }
        assert.ok(await stored(), 'no pass before the period');
        const again = h.yard.artifacts.startReaper(60_000);
        try {
          t.mock.timers.tick(60_000);
        } finally {
          await again();
        }
        assert.ok(!(await stored()), 'the reaper removed the expired file');
      });
    });

    describe('deleting executions', () => {
      it('a single delete removes the rows and the files', async () => {
        assert.ok(await isStored(h, store, execId));
        const res = await h.call('DELETE', `/api/v1/workflows/${wfId}/executions/${execId}`);
        assert.equal(res.statusCode, 204, res.body);
        assert.ok(!(await isStored(h, store, execId)), 'the artifact content is gone');
        assert.deepEqual(await h.yard.artifacts.list(execId), []);
        assert.equal((await h.call('GET', base())).statusCode, 404);
      });

      it('a bulk delete removes the rows and the files', async () => {
        const exec = await newExecution();
        const ws = mkdtempSync(path.join(scratch, 'bulk-'));
        writeFileSync(path.join(ws, 'r.txt'), 'bulk');
        await h.yard.artifacts.collect({
          executionId: exec,
          workflowId: wfId,
          nodeId: 'n',
          hostWorkspace: ws,
          globs: ['*.txt'],
        });
        assert.ok(await isStored(h, store, exec));
        const res = await h.call('DELETE', `/api/v1/workflows/${wfId}/executions`);
        assert.equal(res.statusCode, 200, res.body);
        assert.ok(res.json().deleted >= 1);
        assert.ok(!(await isStored(h, store, exec)));
        assert.deepEqual(await h.yard.artifacts.list(exec), []);
      });

      it('deleteExecution removes rows and files of one execution', async () => {
        const exec = await newExecution();
        const ws = mkdtempSync(path.join(scratch, 'del-'));
        writeFileSync(path.join(ws, 'r.txt'), 'x');
        await h.yard.artifacts.collect({
          executionId: exec,
          workflowId: wfId,
          nodeId: 'n',
          hostWorkspace: ws,
          globs: ['r.txt'],
        });
        assert.ok(await isStored(h, store, exec, 'r.txt'));
        await h.yard.artifacts.deleteExecution(exec);
        assert.deepEqual(await h.yard.artifacts.list(exec), []);
        assert.ok(!(await isStored(h, store, exec)));
      });
    });
  });
}

/**
 * Whether the store holds the content of an execution's artifact (or of any of its artifacts):
 * a file under the data directory, or chunk rows of the blob its record names.
 */
async function isStored(
  h: Harness,
  store: 'files' | 'database',
  exec: string,
  relPath?: string,
): Promise<boolean> {
  if (store === 'files')
    return existsSync(path.join(storedDir(h), exec, ...(relPath?.split('/') ?? [])));
  const db = h.yard.database.db;
  let q = db.selectFrom('artifact_chunks').select('byte_offset').where('execution_id', '=', exec);
  if (relPath !== undefined) {
    const row = await db
      .selectFrom('artifacts')
      .select('blob_id')
      .where('execution_id', '=', exec)
      .where('path', '=', relPath)
      .executeTakeFirst();
    if (!row?.blob_id) return false;
    q = q.where('blob_id', '=', row.blob_id);
  }
  return (await q.limit(1).execute()).length > 0;
}

/** `<dataDir>/artifacts` of a harness. */
function storedDir(h: Harness): string {
  return path.resolve(h.dataDir, 'artifacts');
}
