import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { freshPostgresDatabase, startServer } from '../helpers/process.ts';

for (const dialect of dialectNames) {
  describe(`server process (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('prints the admin token once, saves it 0600, and serves the API with it', async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-e2e-'));
      const db = dialect === 'postgres' ? await freshPostgresDatabase() : undefined;
      const env: Record<string, string> = db ? { DATABASE_URL: db.url } : {};
      try {
        const first = await startServer(['--data-dir', dataDir], env);
        const m = /\b(sy_[0-9a-f]{40})\b/.exec(first.stdout());
        assert.ok(m, `no token printed:\n${first.stdout()}`);
        const token = m[1]!;
        const file = path.join(dataDir, 'admin-token');
        assert.equal(readFileSync(file, 'utf8').trim(), token);
        assert.equal(statSync(file).mode & 0o777, 0o600);

        const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
        let res = await fetch(`${first.url}/api/v1/workflows`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ name: 'e2e', graph: { nodes: [{ id: 'a', type: 'noop' }] } }),
        });
        assert.equal(res.status, 201);
        const wf = (await res.json()) as { id: string };
        res = await fetch(`${first.url}/api/v1/workflows`);
        assert.equal(res.status, 401);
        assert.equal(await first.stop(), 0);

        // A restart keeps the data and the token, and prints no new token.
        const second = await startServer(['--data-dir', dataDir], env);
        assert.doesNotMatch(second.stdout(), /sy_[0-9a-f]{40}/);
        res = await fetch(`${second.url}/api/v1/workflows/${wf.id}`, { headers });
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { name: string }).name, 'e2e');
        assert.equal(await second.stop(), 0);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    });

    it('uses SWITCHYARD_ADMIN_TOKEN instead of generating one', async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-e2e-'));
      const db = dialect === 'postgres' ? await freshPostgresDatabase() : undefined;
      const token = `sy_${'b'.repeat(40)}`;
      try {
        const srv = await startServer(['--data-dir', dataDir], {
          SWITCHYARD_ADMIN_TOKEN: token,
          DATABASE_URL: db?.url ?? '',
        });
        assert.doesNotMatch(srv.stdout(), /sy_[0-9a-f]{40}/);
        const res = await fetch(`${srv.url}/api/v1/tokens`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.status, 200);
        await srv.stop();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    });
  });
}

describe('server process: bad configuration', () => {
  it('refuses a bad port with a clear message', async () => {
    await assert.rejects(startServer(['--port', 'eighty']), /port must be an integer/);
  });

  it('says a port in use is in use, without a stack trace, and exits 2', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-e2e-port-'));
    try {
      await assert.rejects(
        startServer(['--port', String(port), '--data-dir', dataDir]),
        (err: Error) => {
          assert.match(err.message, /server exited with 2/);
          assert.match(err.message, new RegExp(`port ${port} is in use on 127\\.0\\.0\\.1`));
          assert.match(err.message, /choose another with --port/);
          assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace');
          return true;
        },
      );
    } finally {
      taken.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('logs once at start which runtime and isolation it uses and what it cannot enforce', async () => {
    for (const isolation of ['auto', 'plain'] as const) {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-e2e-report-'));
      try {
        const srv = await startServer(['--data-dir', dataDir, '--log-level', 'info'], {
          SWITCHYARD_RUNTIME: 'local',
          SWITCHYARD_LOCAL_ISOLATION: isolation,
        });
        await srv.stop();
        const reports = srv
          .stdout()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg: string; runtimeReport?: Record<string, unknown> })
          .filter((l) => l.runtimeReport !== undefined);
        assert.equal(reports.length, 1, srv.stdout());
        const { msg, runtimeReport } = reports[0]!;
        const r = runtimeReport as { isolation: string; unenforced: string[]; reasons: string[] };
        assert.match(msg, /^runtime: local; local isolation: /);
        assert.match(msg, new RegExp(`local isolation: ${r.isolation.replace('+', '\\+')};`));
        if (isolation === 'plain') {
          assert.notEqual(r.isolation, 'bubblewrap');
          assert.ok(r.unenforced.includes('isolation'));
          assert.match(
            msg,
            /not enforced on the local runtime: .*isolation.*bubblewrap: isolation: plain/,
          );
        } else if (r.isolation !== 'bubblewrap') {
          assert.ok(r.unenforced.includes('isolation'), msg);
        }
        // Each unenforced limit is named in the line, with the reasons.
        for (const what of r.unenforced) assert.ok(msg.includes(what), msg);
        for (const why of r.reasons) assert.ok(msg.includes(why), msg);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  });
});
