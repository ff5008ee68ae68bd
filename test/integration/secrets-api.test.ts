/**
 * The secret store through the API on both dialects: global and workflow-scoped secrets set,
 * listed (never with values) and deleted; the stored rows hold AES-256-GCM ciphertext; only
 * `secrets.admin` reaches the routes; a server started with another key refuses the database.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, freshPlace, skipFor } from '../helpers/dialects.ts';
import { createWorkflow } from '../helpers/executions.ts';
import { type Harness, adminToken, composeOn, startHarness } from '../helpers/harness.ts';
import { allPermissions } from '../../src/types.ts';
import { generateSecretsKey } from '../../src/secrets/crypto.ts';

const multiLine =
  '-----BEGIN KEY-----\nMIIBfakeline2\nline3 with "quotes" and ü\n-----END KEY-----\n';

for (const dialect of dialectNames) {
  describe(`secrets API (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(async () => {
      await h?.close();
    });

    const put = (url: string, value: unknown, token?: string) =>
      h.call('PUT', url, { value }, token === undefined ? {} : { token });

    /**
     * Puts expressions into a workflow's stored graph in place of placeholders: `usedBy` reads
     * the stored text, which may name secrets where a definition saved today may not (a command
     * line), as one saved by hand or by another version could.
     */
    async function writeIntoGraph(workflowId: string, replacements: Record<string, string>) {
      const db = h.yard.database.db;
      const row = await db
        .selectFrom('workflow_versions')
        .select(['version', 'graph'])
        .where('workflow_id', '=', workflowId)
        .executeTakeFirstOrThrow();
      let graph = row.graph;
      for (const [from, to] of Object.entries(replacements)) {
        assert.ok(graph.includes(from), graph);
        graph = graph.replace(from, JSON.stringify(to).slice(1, -1));
      }
      await db
        .updateTable('workflow_versions')
        .set({ graph })
        .where('workflow_id', '=', workflowId)
        .where('version', '=', row.version)
        .execute();
    }

    it('sets, lists without values, and deletes global and workflow secrets', async () => {
      const wf = await createWorkflow(h, {
        name: `secrets-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'deploy',
              type: 'command',
              run: 'deploy.sh',
              env: { TOKEN: 'PLACEHOLDER_TOKEN', KEY: 'PLACEHOLDER_KEY' },
            },
          ],
        },
      });
      await writeIntoGraph(wf.id, {
        PLACEHOLDER_TOKEN: '${{ secrets.DEPLOY_TOKEN }}',
        PLACEHOLDER_KEY: '${{ secrets["SSH_KEY"] }}',
      });
      // Names outside an expression, or a longer name, are no use of the secret.
      const other = await createWorkflow(h, {
        name: `secrets-other-${dialect}`,
        graph: {
          nodes: [{ id: 'a', type: 'command', run: 'echo secrets.DEPLOY_TOKEN PLACEHOLDER' }],
        },
      });
      await writeIntoGraph(other.id, { PLACEHOLDER: '${{ secrets.DEPLOY_TOKEN_2 }}' });

      const created = await put('/api/v1/secrets/DEPLOY_TOKEN', 'tok-single-line-1234');
      assert.equal(created.statusCode, 201, created.body);
      const body = created.json();
      assert.equal(body.name, 'DEPLOY_TOKEN');
      assert.equal(body.scope, 'global');
      assert.equal(body.createdBy, 'admin');
      assert.equal(body.value, undefined);
      const replaced = await put('/api/v1/secrets/DEPLOY_TOKEN', 'tok-single-line-5678');
      assert.equal(replaced.statusCode, 200, replaced.body);
      assert.equal(replaced.json().createdAt, body.createdAt);

      const scoped = await put(`/api/v1/workflows/${wf.id}/secrets/SSH_KEY`, multiLine);
      assert.equal(scoped.statusCode, 201, scoped.body);
      assert.equal(scoped.json().scope, wf.id);
      assert.equal((await put('/api/v1/secrets/UNUSED', 'x')).statusCode, 201);

      const global = await h.call('GET', '/api/v1/secrets');
      assert.equal(global.statusCode, 200, global.body);
      assert.ok(!global.body.includes('tok-single-line'), 'no value in the listing');
      assert.deepEqual(
        global.json().items.map((s: { name: string; usedBy: string[] }) => [s.name, s.usedBy]),
        [
          ['DEPLOY_TOKEN', [wf.id]],
          ['UNUSED', []],
        ],
      );
      const own = await h.call('GET', `/api/v1/workflows/${wf.id}/secrets`);
      assert.equal(own.statusCode, 200, own.body);
      assert.ok(!own.body.includes('MIIBfake'));
      assert.deepEqual(
        own
          .json()
          .items.map((s: { name: string; scope: string; usedBy: string[] }) => [
            s.name,
            s.scope,
            s.usedBy,
          ]),
        [['SSH_KEY', wf.id, [wf.id]]],
      );
      // Another workflow neither lists nor deletes it.
      const theirs = await h.call('GET', `/api/v1/workflows/${other.id}/secrets`);
      assert.deepEqual(theirs.json().items, []);
      const notTheirs = await h.call('DELETE', `/api/v1/workflows/${other.id}/secrets/SSH_KEY`);
      assert.equal(notTheirs.statusCode, 404);
      assert.equal(notTheirs.json().code, 'ERR_SECRET_NOT_FOUND');

      // The rows hold ciphertext and the key's fingerprint, never the value.
      const rows = await h.yard.database.db.selectFrom('secrets').selectAll().execute();
      assert.equal(rows.length, 3);
      const fingerprint = await h.yard.database.db
        .selectFrom('settings')
        .select('value')
        .where('key', '=', 'secrets_key_fingerprint')
        .executeTakeFirstOrThrow();
      for (const row of rows) {
        const raw = JSON.stringify(row);
        assert.ok(!raw.includes('tok-single-line') && !raw.includes('MIIBfake'), raw);
        assert.ok(!Buffer.from(row.ciphertext, 'base64').toString('latin1').includes('MIIBfake'));
        assert.equal(row.key_fingerprint, fingerprint.value);
      }
      const sshRow = rows.find((r) => r.name === 'SSH_KEY')!;
      assert.equal(sshRow.scope, wf.id);
      assert.equal(
        Buffer.from(sshRow.ciphertext, 'base64').length,
        12 + Buffer.byteLength(multiLine) + 16,
      );
      // The key was generated beside the admin token, readable by the server's user only.
      assert.equal(statSync(path.join(h.dataDir, 'secrets.key')).mode & 0o777, 0o600);

      const del = await h.call('DELETE', `/api/v1/workflows/${wf.id}/secrets/SSH_KEY`);
      assert.equal(del.statusCode, 204);
      const again = await h.call('DELETE', `/api/v1/workflows/${wf.id}/secrets/SSH_KEY`);
      assert.equal(again.statusCode, 404);
      assert.equal(again.json().code, 'ERR_SECRET_NOT_FOUND');
      assert.equal((await h.call('DELETE', '/api/v1/secrets/UNUSED')).statusCode, 204);
      const left = await h.call('GET', '/api/v1/secrets');
      assert.deepEqual(
        left.json().items.map((s: { name: string }) => s.name),
        ['DEPLOY_TOKEN'],
      );
    });

    it('a workflow secret shadows a global one in usedBy', async () => {
      const wf = await createWorkflow(h, {
        name: `secrets-shadow-${dialect}`,
        graph: { nodes: [{ id: 'a', type: 'command', run: 'echo PLACEHOLDER' }] },
      });
      await writeIntoGraph(wf.id, { PLACEHOLDER: '${{ secrets.SHADOWED }}' });
      assert.equal((await put('/api/v1/secrets/SHADOWED', 'g')).statusCode, 201);
      const before = await h.call('GET', '/api/v1/secrets');
      const find = (res: typeof before) =>
        res
          .json<{ items: { name: string; usedBy: string[] }[] }>()
          .items.find((s) => s.name === 'SHADOWED')?.usedBy;
      assert.deepEqual(find(before), [wf.id]);
      assert.equal((await put(`/api/v1/workflows/${wf.id}/secrets/SHADOWED`, 'w')).statusCode, 201);
      assert.deepEqual(find(await h.call('GET', '/api/v1/secrets')), []);
    });

    it('refuses bad names, big values, unknown workflows and values in answers', async () => {
      for (const name of ['1ABC', 'has-dash', 'a'.repeat(129), 'sp%20ace']) {
        const res = await put(`/api/v1/secrets/${name}`, 'x');
        assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
        assert.equal(res.json().code, 'ERR_VALIDATION');
      }
      assert.equal((await put('/api/v1/secrets/OK', 42)).statusCode, 400);
      const extra = await h.call('PUT', '/api/v1/secrets/OK', { value: 'x', scope: 'global' });
      assert.equal(extra.statusCode, 400);
      const big = await put('/api/v1/secrets/BIG', 'ü'.repeat(32 * 1024 + 1));
      assert.equal(big.statusCode, 413, big.body);
      assert.equal(big.json().code, 'ERR_SECRET_TOO_LARGE');
      assert.equal((await put('/api/v1/secrets/BIG', 'x'.repeat(64 * 1024))).statusCode, 201);
      for (const [method, url] of [
        ['PUT', '/api/v1/workflows/wf_nope/secrets/A'],
        ['GET', '/api/v1/workflows/wf_nope/secrets'],
        ['DELETE', '/api/v1/workflows/wf_nope/secrets/A'],
      ] as const) {
        const res = await h.call(method, url, method === 'PUT' ? { value: 'x' } : undefined);
        assert.equal(res.statusCode, 404, `${method} ${url}`);
        assert.equal(res.json().code, 'ERR_WORKFLOW_NOT_FOUND');
      }
      const missing = await h.call('DELETE', '/api/v1/secrets/NEVER_SET');
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().code, 'ERR_SECRET_NOT_FOUND');
      // No route reads a value.
      assert.equal((await h.call('GET', '/api/v1/secrets/BIG')).statusCode, 404);
    });

    it('needs secrets.admin on every route', async () => {
      const wf = await createWorkflow(h, { name: `secrets-perm-${dialect}` });
      const minted = await h.call('POST', '/api/v1/tokens', {
        name: 'no-secrets',
        permissions: allPermissions.filter((p) => p !== 'secrets.admin'),
      });
      assert.equal(minted.statusCode, 201, minted.body);
      const token = minted.json<{ token: string }>().token;
      const routes = [
        ['PUT', '/api/v1/secrets/P'],
        ['GET', '/api/v1/secrets'],
        ['DELETE', '/api/v1/secrets/P'],
        ['PUT', `/api/v1/workflows/${wf.id}/secrets/P`],
        ['GET', `/api/v1/workflows/${wf.id}/secrets`],
        ['DELETE', `/api/v1/workflows/${wf.id}/secrets/P`],
      ] as const;
      for (const [method, url] of routes) {
        const res = await h.call(method, url, method === 'PUT' ? { value: 'x' } : undefined, {
          token,
        });
        assert.equal(res.statusCode, 403, `${method} ${url}`);
        assert.equal(res.json().context.required, 'secrets.admin');
      }
      const rows = await h.yard.database.db
        .selectFrom('secrets')
        .select('name')
        .where('name', '=', 'P')
        .execute();
      assert.deepEqual(rows, []);
    });
  });

  describe(`secrets key (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('a server with another key refuses the database; the same key starts', async () => {
      const place = freshPlace(dialect);
      const start = (secretsKey: string) =>
        composeOn(place, { config: { secretsKey, workerConcurrency: 0 }, startWorker: false });
      try {
        const keyA = generateSecretsKey().toString('base64');
        const first = await start(keyA);
        const set = await first.app.inject({
          method: 'PUT',
          url: '/api/v1/secrets/A',
          headers: { authorization: `Bearer ${adminToken}` },
          payload: { value: 'v' },
        });
        assert.equal(set.statusCode, 201, set.body);
        await first.close();

        await assert.rejects(
          start(generateSecretsKey().toString('base64')),
          /secrets key \(fingerprint [0-9a-f]{16}\) is not the key this database's secrets are sealed with/,
        );
        // Without a configured key the generated key file is another key too.
        await assert.rejects(start(''), /not the key this database/);
        await assert.rejects(start('not-a-key'), /32 bytes/);
        const again = await start(keyA);
        await again.close();
      } finally {
        await place.cleanup();
      }
    });

    it('an admin token made before secrets.admin existed gets it on the next start', async () => {
      const place = freshPlace(dialect);
      const start = () =>
        composeOn(place, { config: { workerConcurrency: 0 }, startWorker: false });
      const put = (yard: Awaited<ReturnType<typeof start>>) =>
        yard.app.inject({
          method: 'PUT',
          url: '/api/v1/secrets/UPGRADE',
          headers: { authorization: `Bearer ${adminToken}` },
          payload: { value: 'v' },
        });
      try {
        const old = await start();
        // As an earlier version left it: every permission of its day, not secrets.admin.
        await old.database.db
          .updateTable('tokens')
          .set({
            permissions: JSON.stringify(allPermissions.filter((p) => p !== 'secrets.admin')),
          })
          .where('name', '=', 'admin')
          .execute();
        assert.equal((await put(old)).statusCode, 403);
        await old.close();
        const upgraded = await start();
        try {
          assert.equal((await put(upgraded)).statusCode, 201);
        } finally {
          await upgraded.close();
        }
      } finally {
        await place.cleanup();
      }
    });
  });
}
