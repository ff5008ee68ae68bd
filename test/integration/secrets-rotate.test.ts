/**
 * Key rotation and hook / webhook-rule secrets at rest, on both dialects: the hooks and
 * trigger_rules rows hold ciphertext; `yard secrets rotate` (the real CLI, on the database the
 * servers used) re-seals every value under the new key, after which a server with the new key
 * starts, opens them (an inbound signed webhook verifies, an outbound delivery is signed) and one
 * with the old key refuses; a wrong old key or a second run refuses and changes nothing; the
 * data directory's key file is replaced; a server left running with the old key answers
 * ERR_SECRETS_KEY_CHANGED instead of sealing under it; a plaintext hook secret an earlier version stored is
 * sealed at the next start and still verifies.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/eventually.ts';
import { after, before, describe, it } from '../helpers/suite.ts';
import {
  type DialectPlace,
  dialectNames,
  freshPlace,
  openPlace,
  skipFor,
} from '../helpers/dialects.ts';
import { adminToken, composeOn } from '../helpers/harness.ts';
import type { Config } from '../../src/config.ts';
import type { Switchyard } from '../../src/server.ts';
import {
  generateSecretsKey,
  keyFingerprint,
  openColumnValue,
  openSecret,
} from '../../src/secrets/crypto.ts';
import { signGeneric, verifyGeneric } from '../../src/triggers/signature.ts';
import { ensureBuilt, yardBin as bin } from '../helpers/build.ts';

ensureBuilt();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `yard secrets rotate` with the flags and environment given, and nothing inherited of ours. */
function rotate(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(base))
    if (k.startsWith('SWITCHYARD_') || k === 'DATABASE_URL') delete base[k];
  const child = spawn(process.execPath, [bin, 'secrets', 'rotate', ...args], {
    cwd,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** The flags that point the CLI at a place's database (PostgreSQL: its schema, in the URL). */
function databaseFlags(place: DialectPlace): string[] {
  const flags = ['--data-dir', place.dataDir];
  if (place.pgSchema !== undefined)
    flags.push(
      '--database-url',
      `${place.databaseUrl}?options=${encodeURIComponent(`-c search_path=${place.pgSchema}`)}`,
    );
  return flags;
}

/** A server on the place's database; with `worker`, it runs executions too. */
function start(place: DialectPlace, config: Partial<Config>, worker = false): Promise<Switchyard> {
  return composeOn(place, {
    config: { workerConcurrency: worker ? 2 : 0, ...config },
    startWorker: worker,
  });
}

async function call(yard: Switchyard, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) {
  return yard.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${adminToken}` },
    ...(body !== undefined && { payload: body as Record<string, unknown> }),
  });
}

/** A generic delivery to a hook, signed with `secret` now. */
function deliver(yard: Switchyard, hookId: string, secret: string) {
  const body = JSON.stringify({ ref: 'main' });
  return yard.app.inject({
    method: 'POST',
    url: `/api/v1/hooks/${hookId}`,
    headers: {
      'content-type': 'application/json',
      ...signGeneric(secret, body, Date.now() / 1000),
    },
    payload: body,
  });
}

/** Everything sealed in the database, read directly. */
async function storedSecrets(place: DialectPlace) {
  const database = await openPlace(place);
  try {
    const db = database.db;
    return {
      values: await db.selectFrom('secrets').selectAll().orderBy('name').execute(),
      hooks: await db.selectFrom('hooks').select(['id', 'secret']).orderBy('id').execute(),
      rules: await db.selectFrom('trigger_rules').select(['id', 'secret']).orderBy('id').execute(),
      fingerprint: (
        await db
          .selectFrom('settings')
          .select('value')
          .where('key', '=', 'secrets_key_fingerprint')
          .executeTakeFirst()
      )?.value,
    };
  } finally {
    await database.close();
  }
}

/** A receiver on 127.0.0.1 recording each POST. */
async function receiver() {
  const got: { headers: Record<string, string | string[] | undefined>; body: Buffer }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/deliveries`,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sealed = /^sealed:v1:[A-Za-z0-9+/]+=*$/;

for (const dialect of dialectNames) {
  describe(`secrets key rotation (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let dir: string;
    let rx: Awaited<ReturnType<typeof receiver>>;
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'switchyard-rotate-'));
      rx = await receiver();
    });
    after(async () => {
      await rx?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const keyFile = (name: string, key: Buffer) => {
      const file = path.join(dir, name);
      writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600 });
      return file;
    };

    it('re-seals every secret under the new key; the old key then refuses', async () => {
      const place = freshPlace(dialect);
      const keyA = generateSecretsKey();
      const keyB = generateSecretsKey();
      const newFile = keyFile(`new-${dialect}.key`, keyB);
      const wrongFile = keyFile(`wrong-${dialect}.key`, generateSecretsKey());
      const oldEnv = { SWITCHYARD_SECRETS_KEY: keyA.toString('base64') };
      try {
        const first = await start(place, { secretsKey: keyA.toString('base64') });
        let hook: { id: string; secret: string };
        let rule: { id: string; secret: string };
        try {
          const wf = await call(first, 'POST', '/api/v1/workflows', { name: 'rotating' });
          assert.equal(wf.statusCode, 201, wf.body);
          const wfId = wf.json<{ id: string }>().id;
          assert.equal(
            (await call(first, 'PUT', '/api/v1/secrets/TOKEN', { value: 'tok-1' })).statusCode,
            201,
          );
          const own = await call(first, 'PUT', `/api/v1/workflows/${wfId}/secrets/KEY`, {
            value: 'key-2\nline',
          });
          assert.equal(own.statusCode, 201, own.body);
          const h = await call(first, 'POST', `/api/v1/workflows/${wfId}/hooks`, { name: 'push' });
          assert.equal(h.statusCode, 201, h.body);
          hook = h.json();
          assert.match(hook.secret, /^whsec_[0-9a-f]{48}$/, 'shown once, in plaintext');
          const r = await call(first, 'POST', '/api/v1/triggers', {
            name: 'notify',
            event: 'build.done',
            action: { type: 'webhook', url: rx.url },
          });
          assert.equal(r.statusCode, 201, r.body);
          rule = r.json();
          assert.match(rule.secret, /^whsec_/);
        } finally {
          await first.close();
        }

        // The hook and rule rows hold ciphertext under key A.
        const before = await storedSecrets(place);
        assert.equal(before.fingerprint, keyFingerprint(keyA));
        assert.equal(before.hooks.length, 1);
        assert.match(before.hooks[0]!.secret, sealed);
        assert.ok(!before.hooks[0]!.secret.includes(hook.secret.slice(6)));
        assert.equal(openColumnValue(keyA, before.hooks[0]!.secret), hook.secret);
        assert.equal(before.rules.length, 1);
        assert.match(before.rules[0]!.secret!, sealed);
        assert.equal(openColumnValue(keyA, before.rules[0]!.secret!), rule.secret);

        // A wrong old key refuses and changes nothing.
        const wrong = await rotate(dir, [
          ...databaseFlags(place),
          '--old-key-file',
          wrongFile,
          '--new-key-file',
          newFile,
        ]);
        assert.equal(wrong.code, 2, `${wrong.stdout}\n${wrong.stderr}`);
        assert.match(wrong.stderr, /is not the key this database's secrets are sealed with/);
        assert.deepEqual(await storedSecrets(place), before);
        // No new key: refused before the database is touched.
        const none = await rotate(dir, databaseFlags(place), oldEnv);
        assert.equal(none.code, 2);
        assert.match(none.stderr, /no new key: give --new-key-file/);

        const done = await rotate(
          dir,
          [...databaseFlags(place), '--new-key-file', newFile],
          oldEnv,
        );
        assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
        assert.match(
          done.stdout,
          new RegExp(
            `fingerprint ${keyFingerprint(keyB)}: 2 secret values, 1 hook secrets and 1 trigger-rule secrets re-sealed`,
          ),
        );
        assert.match(done.stdout, /Start every server of this database with the new key/);

        const after = await storedSecrets(place);
        assert.equal(after.fingerprint, keyFingerprint(keyB));
        assert.deepEqual(
          after.values.map((v) => [v.name, openSecret(keyB, v.ciphertext), v.key_fingerprint]),
          [
            ['KEY', 'key-2\nline', keyFingerprint(keyB)],
            ['TOKEN', 'tok-1', keyFingerprint(keyB)],
          ],
        );
        // Who set a value and when stay: the value did not change.
        assert.deepEqual(
          after.values.map((v) => [v.created_at, v.updated_at, v.updated_by]),
          before.values.map((v) => [v.created_at, v.updated_at, v.updated_by]),
        );
        for (const v of after.values) assert.throws(() => openSecret(keyA, v.ciphertext));
        assert.match(after.hooks[0]!.secret, sealed);
        assert.equal(openColumnValue(keyB, after.hooks[0]!.secret), hook.secret);
        assert.throws(() => openColumnValue(keyA, after.hooks[0]!.secret), /does not open/);
        assert.match(after.rules[0]!.secret!, sealed);
        assert.equal(openColumnValue(keyB, after.rules[0]!.secret!), rule.secret);

        // A second run with the old key refuses: it was done already.
        const again = await rotate(
          dir,
          [...databaseFlags(place), '--new-key-file', newFile],
          oldEnv,
        );
        assert.equal(again.code, 2);
        assert.match(again.stderr, /that is the new key: the rotation was done already/);
        assert.deepEqual(await storedSecrets(place), after);

        await assert.rejects(
          start(place, { secretsKey: keyA.toString('base64') }),
          /is not the key this database's secrets are sealed with/,
        );
        const next = await start(
          place,
          { secretsKey: keyB.toString('base64'), egressAllow: ['127.0.0.1'] },
          true,
        );
        try {
          // Runs keep working: a command gets the value opened with the new key.
          const uses = await call(next, 'POST', '/api/v1/workflows', {
            name: 'uses-token',
            graph: {
              nodes: [
                {
                  id: 'check',
                  type: 'command',
                  run: 'test "$T" = tok-1 && echo token-ok',
                  env: { T: '${{ secrets.TOKEN }}' },
                },
              ],
            },
          });
          assert.equal(uses.statusCode, 201, uses.body);
          const usesId = uses.json<{ id: string }>().id;
          const run = await call(next, 'POST', `/api/v1/workflows/${usesId}/run`, {});
          assert.equal(run.statusCode, 202, run.body);
          const runId = run.json<{ id: string }>().id;
          const ended = await eventually('the run after the rotation to end', async () => {
            const d = await call(next, 'GET', `/api/v1/workflows/${usesId}/executions/${runId}`);
            const status = d.json<{ status: string }>().status;
            return ['succeeded', 'failed'].includes(status)
              ? d.json<{ status: string }>()
              : undefined;
          });
          assert.equal(ended.status, 'succeeded', JSON.stringify(ended));
          const logs = await call(
            next,
            'GET',
            `/api/v1/workflows/${usesId}/executions/${runId}/logs`,
          );
          assert.match(logs.body, /token-ok/);

          // Inbound: the hook's secret still verifies; another does not.
          const ok = await deliver(next, hook.id, hook.secret);
          assert.equal(ok.statusCode, 202, ok.body);
          const bad = await deliver(next, hook.id, 'whsec_other');
          assert.equal(bad.statusCode, 401, bad.body);
          // Outbound: a delivery is signed with the rule's secret.
          const event = await call(next, 'POST', '/api/v1/events', { type: 'build.done' });
          assert.equal(event.statusCode, 201, event.body);
          await next.rules.tick();
          assert.equal(rx.got.length, 1);
          const got = rx.got[0]!;
          const verdict = verifyGeneric(
            rule.secret,
            got.body,
            {
              timestamp: got.headers['x-switchyard-timestamp'] as string,
              signature: got.headers['x-switchyard-signature'] as string,
            },
            Date.now() / 1000,
          );
          assert.ok(verdict.ok, JSON.stringify(verdict));
        } finally {
          await next.close();
        }
      } finally {
        await place.cleanup();
      }
    });

    it('replaces the data directory key file after the commit', async () => {
      const place = freshPlace(dialect);
      const keyB = generateSecretsKey();
      const newFile = keyFile(`file-new-${dialect}.key`, keyB);
      const dataDirKey = path.join(place.dataDir, 'secrets.key');
      try {
        // No secretsKey: the server generates <dataDir>/secrets.key.
        const first = await start(place, { secretsKey: '' });
        let hook: { id: string; secret: string };
        try {
          const wf = await call(first, 'POST', '/api/v1/workflows', { name: 'keyfile' });
          const h = await call(
            first,
            'POST',
            `/api/v1/workflows/${wf.json<{ id: string }>().id}/hooks`,
            {
              name: 'push',
            },
          );
          assert.equal(h.statusCode, 201, h.body);
          hook = h.json();
        } finally {
          await first.close();
        }
        const oldKeyText = readFileSync(dataDirKey, 'utf8');

        const done = await rotate(dir, [...databaseFlags(place), '--new-key-file', newFile]);
        assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
        assert.match(done.stdout, /secrets\.key now holds the new key/);
        assert.notEqual(readFileSync(dataDirKey, 'utf8'), oldKeyText);
        assert.equal(readFileSync(dataDirKey, 'utf8').trim(), keyB.toString('base64'));
        assert.equal(statSync(dataDirKey).mode & 0o777, 0o600);
        assert.deepEqual(
          readdirSync(place.dataDir).filter((f) => f.startsWith('secrets.key')),
          ['secrets.key'],
          'no staged key file is left',
        );
        const stored = await storedSecrets(place);
        assert.equal(stored.fingerprint, keyFingerprint(keyB));

        // The next start reads the new key file and opens the hook's secret with it.
        const next = await start(place, { secretsKey: '' });
        try {
          assert.equal((await deliver(next, hook.id, hook.secret)).statusCode, 202);
        } finally {
          await next.close();
        }
        // A refused rotation from the key file (the new key is the old one) leaves it as it is.
        const same = await rotate(dir, [...databaseFlags(place), '--new-key-file', newFile]);
        assert.equal(same.code, 2, `${same.stdout}\n${same.stderr}`);
        assert.match(same.stderr, /the new secrets key is the old key/);
        assert.equal(readFileSync(dataDirKey, 'utf8').trim(), keyB.toString('base64'));
        assert.deepEqual(
          readdirSync(place.dataDir).filter((f) => f.startsWith('secrets.key')),
          ['secrets.key'],
        );
      } finally {
        await place.cleanup();
      }
    });

    it('a server left running with the old key refuses to seal or open after a rotation', async () => {
      const place = freshPlace(dialect);
      const keyA = generateSecretsKey();
      const newFile = keyFile(`stale-new-${dialect}.key`, generateSecretsKey());
      try {
        const stale = await start(place, { secretsKey: keyA.toString('base64') });
        try {
          const wf = await call(stale, 'POST', '/api/v1/workflows', { name: 'stale' });
          const wfId = wf.json<{ id: string }>().id;
          const h = await call(stale, 'POST', `/api/v1/workflows/${wfId}/hooks`, { name: 'push' });
          assert.equal(h.statusCode, 201, h.body);
          const hook = h.json<{ id: string; secret: string }>();
          assert.equal((await deliver(stale, hook.id, hook.secret)).statusCode, 202);

          const done = await rotate(dir, [...databaseFlags(place), '--new-key-file', newFile], {
            SWITCHYARD_SECRETS_KEY: keyA.toString('base64'),
          });
          assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
          const before = await storedSecrets(place);

          const refused = [
            await deliver(stale, hook.id, hook.secret),
            await call(stale, 'PUT', '/api/v1/secrets/LATE', { value: 'v' }),
            await call(stale, 'POST', `/api/v1/workflows/${wfId}/hooks`, { name: 'late' }),
            await call(stale, 'POST', '/api/v1/triggers', {
              name: 'late',
              event: 'build.done',
              action: { type: 'webhook', url: rx.url },
            }),
          ];
          for (const res of refused) {
            assert.equal(res.statusCode, 503, res.body);
            assert.equal(res.json().code, 'ERR_SECRETS_KEY_CHANGED');
          }
          // Nothing was sealed under the old key.
          assert.deepEqual(await storedSecrets(place), before);
        } finally {
          await stale.close();
        }
      } finally {
        await place.cleanup();
      }
    });

    it('seals a plaintext hook secret an earlier version stored, at the next start', async () => {
      const place = freshPlace(dialect);
      const key = generateSecretsKey();
      const config = { secretsKey: key.toString('base64') };
      const plain = `whsec_${'ab'.repeat(24)}`;
      const rulePlain = `whsec_${'cd'.repeat(24)}`;
      try {
        const first = await start(place, config);
        let hookId: string;
        let ruleId: string;
        try {
          const wf = await call(first, 'POST', '/api/v1/workflows', { name: 'upgraded' });
          const h = await call(
            first,
            'POST',
            `/api/v1/workflows/${wf.json<{ id: string }>().id}/hooks`,
            {
              name: 'push',
            },
          );
          hookId = h.json<{ id: string }>().id;
          const r = await call(first, 'POST', '/api/v1/triggers', {
            name: 'notify',
            event: 'build.done',
            action: { type: 'webhook', url: rx.url },
          });
          ruleId = r.json<{ id: string }>().id;
        } finally {
          await first.close();
        }
        // As the version before this one left them: plaintext.
        const database = await openPlace(place);
        try {
          await database.db
            .updateTable('hooks')
            .set({ secret: plain })
            .where('id', '=', hookId)
            .execute();
          await database.db
            .updateTable('trigger_rules')
            .set({ secret: rulePlain })
            .where('id', '=', ruleId)
            .execute();
        } finally {
          await database.close();
        }

        const upgraded = await start(place, config);
        try {
          const stored = await storedSecrets(place);
          assert.match(stored.hooks[0]!.secret, sealed);
          assert.equal(openColumnValue(key, stored.hooks[0]!.secret), plain);
          assert.match(stored.rules[0]!.secret!, sealed);
          assert.equal(openColumnValue(key, stored.rules[0]!.secret!), rulePlain);
          assert.equal((await deliver(upgraded, hookId, plain)).statusCode, 202);
          assert.equal((await deliver(upgraded, hookId, 'whsec_other')).statusCode, 401);
        } finally {
          await upgraded.close();
        }
        // Sealed once: another start leaves the rows as they are.
        const sealedOnce = await storedSecrets(place);
        await (await start(place, config)).close();
        assert.deepEqual(await storedSecrets(place), sealedOnce);
      } finally {
        await place.cleanup();
      }
    });
  });
}
