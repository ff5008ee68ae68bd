/**
 * The secret store (issue 14): write-only values, global or per workflow, sealed with
 * AES-256-GCM under the server's key (src/secrets/crypto.ts). Nothing here returns a value;
 * listings say who set a secret, when, and which workflows name it.
 *
 * Servers sharing a database must share the key: the first start records the key's fingerprint
 * in `settings`, and a server whose key has another fingerprint refuses to start. Hook and
 * webhook-rule secrets are sealed under the same key; `rotate` re-seals everything under a new one.
 */
import { type Clock, isoNow } from '../clock.ts';
import { AppError } from '../errors.ts';
import {
  isSealedColumnValue,
  keyFingerprint,
  openColumnValue,
  openSecret,
  sealColumnValue,
  sealSecret,
} from '../secrets/crypto.ts';
import { secretNamesIn } from '../secrets/references.ts';
import { SecretsKeyError } from '../secrets/key.ts';
import type { Database } from '../store/database.ts';
import type { Db } from '../store/db.ts';
import * as secretsSql from '../store/secrets.ts';
import type { SecretMetaRow } from '../store/secrets.ts';
import { claimSetting, getSetting, replaceSetting } from '../store/settings.ts';
import { listSealedColumn, replaceSealedColumn } from '../store/sealed-columns.ts';
import { getWorkflow } from '../store/workflows.ts';
import { type SecretListItem, type SecretView, maxSecretValueBytes } from '../wire/secrets.ts';

/** `settings` key holding the fingerprint of the key every stored value is sealed with. */
const fingerprintSetting = 'secrets_key_fingerprint';

/** The tables whose `secret` column is sealed under the secrets key. */
const sealedTables = ['hooks', 'trigger_rules'] as const;

/** The scope of a secret: global, or one workflow's. */
export type SecretScope = { workflowId?: string };

export class SecretService {
  private readonly fingerprint: string;

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly key: Buffer,
  ) {
    this.fingerprint = keyFingerprint(key);
  }

  /**
   * Records this key's fingerprint on the first start; throws when the database holds another
   * one (another server's key, or a key file lost or replaced).
   */
  async checkKey(): Promise<void> {
    const db = this.database.db;
    if (await claimSetting(db, fingerprintSetting, this.fingerprint)) return;
    const stored = await getSetting(db, fingerprintSetting);
    if (stored !== this.fingerprint)
      throw new SecretsKeyError(
        `switchyard: the secrets key (fingerprint ${this.fingerprint}) is not the key this database's secrets are sealed with (fingerprint ${stored}). ` +
          'Start with the same secretsKey (SWITCHYARD_SECRETS_KEY, or <dataDir>/secrets.key) as the other servers of this database.',
      );
  }

  /**
   * Seals the hook and webhook-rule secrets an earlier version stored in plaintext (after
   * `checkKey`, at each start; migrations run without the key). Compare-and-set per row, so
   * servers starting together seal each once. Returns how many it sealed.
   */
  async sealPlaintext(): Promise<{ hookSecrets: number; ruleSecrets: number }> {
    const db = this.database.db;
    const sealed = { hooks: 0, trigger_rules: 0 };
    for (const table of sealedTables)
      for (const row of await listSealedColumn(db, table))
        if (
          !isSealedColumnValue(row.secret) &&
          (await replaceSealedColumn(
            db,
            table,
            row.id,
            row.secret,
            sealColumnValue(this.key, row.secret),
          ))
        )
          sealed[table]++;
    return { hookSecrets: sealed.hooks, ruleSecrets: sealed.trigger_rules };
  }

  /**
   * Re-seals every stored secret (the store's values, hook and webhook-rule secrets) under
   * `newKey` and records its fingerprint, all in one transaction; refuses unless this service's
   * key is the one the database records. Servers are stopped meanwhile (docs/secrets.md): one
   * still running keeps the old key and cannot open what is sealed under the new one.
   */
  async rotate(
    newKey: Buffer,
  ): Promise<{ values: number; hookSecrets: number; ruleSecrets: number }> {
    const next = keyFingerprint(newKey);
    if (next === this.fingerprint)
      throw new SecretsKeyError(
        `switchyard: the new secrets key is the old key (fingerprint ${next}); nothing to rotate.`,
      );
    return this.database.transaction(async (trx) => {
      // The compare-and-set comes first: it refuses another old key, and on PostgreSQL it holds
      // the row, so a rotation running at the same time waits and then refuses.
      if (!(await replaceSetting(trx, fingerprintSetting, this.fingerprint, next)))
        throw await this.notThisDatabasesKey(trx, next);
      const values = await secretsSql.listSealedValues(trx);
      for (const row of values) {
        let plaintext: string;
        try {
          plaintext = openSecret(this.key, row.ciphertext);
        } catch {
          throw new SecretsKeyError(
            `switchyard: secret ${row.name} (${row.scope === '' ? 'global' : row.scope}) does not open with the old key; nothing was changed.`,
          );
        }
        await secretsSql.replaceSealedValue(trx, {
          scope: row.scope,
          name: row.name,
          ciphertext: sealSecret(newKey, plaintext),
          key_fingerprint: next,
        });
      }
      const resealed = { hooks: 0, trigger_rules: 0 };
      for (const table of sealedTables)
        for (const row of await listSealedColumn(trx, table)) {
          const what = `${table === 'hooks' ? 'hook' : 'trigger rule'} ${row.id}`;
          await replaceSealedColumn(
            trx,
            table,
            row.id,
            row.secret,
            this.reseal(row.secret, newKey, what),
          );
          resealed[table]++;
        }
      return {
        values: values.length,
        hookSecrets: resealed.hooks,
        ruleSecrets: resealed.trigger_rules,
      };
    });
  }

  /**
   * Seals a hook's or webhook rule's secret. Refuses (ERR_SECRETS_KEY_CHANGED) when the database
   * records another key: sealed under a key rotated away, the secret would open on no server.
   */
  async sealColumn(plaintext: string): Promise<string> {
    await this.assertKeyCurrent();
    return sealColumnValue(this.key, plaintext);
  }

  /**
   * Opens a hook's or webhook rule's stored secret; ERR_SECRETS_KEY_CHANGED when it does not
   * open because the key was rotated since this server started.
   */
  async openColumn(stored: string): Promise<string> {
    try {
      return openColumnValue(this.key, stored);
    } catch (err) {
      await this.assertKeyCurrent();
      throw err;
    }
  }

  /** Throws ERR_SECRETS_KEY_CHANGED when the database no longer records this server's key. */
  private async assertKeyCurrent(): Promise<void> {
    const stored = await getSetting(this.database.db, fingerprintSetting);
    if (stored !== this.fingerprint)
      throw new AppError('ERR_SECRETS_KEY_CHANGED', {
        message: `This server's secrets key (fingerprint ${this.fingerprint}) is no longer the database's (fingerprint ${stored ?? 'none'}): the key was rotated since it started. Restart it with the current key.`,
        context: { fingerprint: this.fingerprint, databaseFingerprint: stored ?? null },
      });
  }

  /** A hook's or rule's secret sealed under `newKey` (a plaintext left by an earlier version too). */
  private reseal(stored: string, newKey: Buffer, what: string): string {
    try {
      return sealColumnValue(newKey, openColumnValue(this.key, stored));
    } catch {
      throw new SecretsKeyError(
        `switchyard: the secret of ${what} does not open with the old key; nothing was changed.`,
      );
    }
  }

  private async notThisDatabasesKey(db: Db, next: string): Promise<SecretsKeyError> {
    const stored = await getSetting(db, fingerprintSetting);
    if (stored === undefined)
      return new SecretsKeyError(
        'switchyard: this database records no secrets key yet (no server of this version has started on it); start a server with the new key instead of rotating.',
      );
    return new SecretsKeyError(
      `switchyard: the old key (fingerprint ${this.fingerprint}) is not the key this database's secrets are sealed with (fingerprint ${stored})` +
        (stored === next
          ? '; that is the new key: the rotation was done already. Start the servers with the new key.'
          : '; nothing was changed. Give the key the servers of this database start with.'),
    );
  }

  /** Sets a secret's value; `created` is true when it did not exist before. */
  async set(
    scope: SecretScope,
    name: string,
    value: string,
    actor: string,
  ): Promise<{ secret: SecretView; created: boolean }> {
    const scopeKey = await this.scopeKey(scope);
    await this.assertKeyCurrent();
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > maxSecretValueBytes)
      throw new AppError('ERR_SECRET_TOO_LARGE', {
        message: `The value of secret ${name} is ${bytes} bytes; the most is ${maxSecretValueBytes}.`,
        context: { name, bytes, max: maxSecretValueBytes },
      });
    const now = isoNow(this.clock);
    const created = await secretsSql.upsertSecret(this.database.db, {
      scope: scopeKey,
      name,
      ciphertext: sealSecret(this.key, value),
      key_fingerprint: this.fingerprint,
      created_by: actor,
      created_at: now,
      updated_by: actor,
      updated_at: now,
    });
    const row = await secretsSql.getSecretMeta(this.database.db, scopeKey, name);
    // Deleted between the write and this read: answer what was written.
    const meta = row ?? {
      scope: scopeKey,
      name,
      created_by: actor,
      created_at: now,
      updated_by: actor,
      updated_at: now,
    };
    return { secret: toView(meta), created };
  }

  async list(scope: SecretScope): Promise<SecretListItem[]> {
    const scopeKey = await this.scopeKey(scope);
    const db = this.database.db;
    const rows = await secretsSql.listSecretMeta(db, scopeKey);
    if (rows.length === 0) return [];
    const graphs = (await secretsSql.listLatestGraphs(db, scope.workflowId)).map((g) => ({
      workflowId: g.workflow_id,
      names: new Set(secretNamesIn(g.graph)),
    }));
    // A workflow's own secret wins over a global one of the same name.
    const shadowed = new Set<string>();
    if (scopeKey === '')
      for (const s of await secretsSql.listScopedSecretNames(db))
        shadowed.add(`${s.scope}/${s.name}`);
    return rows.map((row) => ({
      ...toView(row),
      usedBy: graphs
        .filter((g) => !shadowed.has(`${g.workflowId}/${row.name}`) && g.names.has(row.name))
        .map((g) => g.workflowId),
    }));
  }

  async delete(scope: SecretScope, name: string): Promise<void> {
    const scopeKey = await this.scopeKey(scope);
    if (!(await secretsSql.deleteSecret(this.database.db, scopeKey, name)))
      throw new AppError('ERR_SECRET_NOT_FOUND', {
        message:
          scopeKey === ''
            ? `No global secret ${name}.`
            : `No secret ${name} in workflow ${scopeKey}.`,
        context: { name, scope: scopeKey === '' ? 'global' : scopeKey },
      });
  }

  /**
   * The values of the named secrets as a workflow's nodes see them: the workflow's own secret,
   * else the global one of that name. Names with neither are left out (the caller says which
   * are missing). The one way a value leaves the store: the worker's resolver (run-node.ts).
   */
  async resolve(workflowId: string, names: readonly string[]): Promise<Map<string, string>> {
    const rows = await secretsSql.listSealedSecrets(this.database.db, workflowId, names);
    // Globals first, so the workflow's own secret of a name replaces the global one.
    rows.sort((a, b) => (a.scope === '' ? 0 : 1) - (b.scope === '' ? 0 : 1));
    return new Map(rows.map((row) => [row.name, openSecret(this.key, row.ciphertext)]));
  }

  /** '' for global; the workflow's id after checking it exists. */
  private async scopeKey(scope: SecretScope): Promise<string> {
    if (scope.workflowId === undefined) return '';
    const wf = await getWorkflow(this.database.db, scope.workflowId);
    if (!wf)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${scope.workflowId}.`,
        context: { workflowId: scope.workflowId },
      });
    return wf.id;
  }
}

function toView(row: SecretMetaRow): SecretView {
  return {
    name: row.name,
    scope: row.scope === '' ? 'global' : row.scope,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedBy: row.updated_by,
    updatedAt: row.updated_at,
  };
}
