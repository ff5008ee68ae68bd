/**
 * The secret store (issue 14): write-only values, global or per workflow, sealed with
 * AES-256-GCM under the server's key (src/secrets/crypto.ts). Nothing here returns a value;
 * listings say who set a secret, when, and which workflows name it.
 *
 * Servers sharing a database must share the key: the first start records the key's fingerprint
 * in `settings`, and a server whose key has another fingerprint refuses to start.
 */
import { type Clock, isoNow } from '../clock.ts';
import { AppError } from '../errors.ts';
import { keyFingerprint, openSecret, sealSecret } from '../secrets/crypto.ts';
import { secretNamesIn } from '../secrets/references.ts';
import { SecretsKeyError } from '../secrets/key.ts';
import type { Database } from '../store/database.ts';
import * as secretsSql from '../store/secrets.ts';
import type { SecretMetaRow } from '../store/secrets.ts';
import { claimSetting, getSetting } from '../store/settings.ts';
import { getWorkflow } from '../store/workflows.ts';
import { type SecretListItem, type SecretView, maxSecretValueBytes } from '../wire/secrets.ts';

/** `settings` key holding the fingerprint of the key every stored value is sealed with. */
const fingerprintSetting = 'secrets_key_fingerprint';

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

  /** Sets a secret's value; `created` is true when it did not exist before. */
  async set(
    scope: SecretScope,
    name: string,
    value: string,
    actor: string,
  ): Promise<{ secret: SecretView; created: boolean }> {
    const scopeKey = await this.scopeKey(scope);
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
