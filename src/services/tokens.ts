/**
 * Bearer tokens: `sy_` + 40 hex characters, stored as SHA-256 with a permission list. The first
 * start on an empty database creates an admin token, prints it once and writes it to
 * `<dataDir>/admin-token` (mode 0600) unless `SWITCHYARD_ADMIN_TOKEN` provides one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Database } from '../store/db.ts';
import { claimSetting } from '../store/settings.ts';
import * as tokensSql from '../store/tokens.ts';
import type { TokenRow } from '../store/tokens.ts';
import { allPermissions, type Permission } from '../types.ts';
import { type Clock, isoNow } from '../clock.ts';
import type { CreatedToken, TokenView } from '../wire/tokens.ts';

export interface Principal {
  tokenId: string;
  /** Recorded as `createdBy` on what the token creates. */
  name: string;
  permissions: ReadonlySet<Permission>;
  /** When the token stops working (null: never); unset for execution tokens. */
  expiresAt?: string | null;
}

/** The principal of an API token that is neither revoked nor expired at `now`. */
export function livePrincipal(row: TokenRow | undefined, now: Date): Principal | undefined {
  if (
    !row ||
    row.revoked_at !== null ||
    (row.expires_at !== null && row.expires_at <= now.toISOString())
  )
    return undefined;
  return {
    tokenId: row.id,
    name: row.name,
    permissions: new Set(JSON.parse(row.permissions) as Permission[]),
    expiresAt: row.expires_at,
  };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function newSecret(): string {
  return `sy_${randomBytes(20).toString('hex')}`;
}

function view(row: TokenRow): TokenView {
  return {
    id: row.id,
    name: row.name,
    permissions: JSON.parse(row.permissions) as Permission[],
    createdBy: row.created_by,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/** last_used_at is written at most this often per token, to keep reads free of writes. */
const touchEveryMs = 60_000;

export class TokenService {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
  ) {}

  /** Resolves a bearer secret to its principal, or throws 401. */
  async authenticate(secret: string): Promise<Principal> {
    const row = await tokensSql.getTokenByHash(this.database.db, hashSecret(secret));
    const now = this.clock.now();
    const principal = livePrincipal(row, now);
    if (!principal) throw new AppError('ERR_AUTH_INVALID');
    const last = this.touched.get(principal.tokenId) ?? 0;
    if (now.getTime() - last > touchEveryMs) {
      this.touched.set(principal.tokenId, now.getTime());
      await tokensSql.touchToken(this.database.db, principal.tokenId, now.toISOString());
    }
    return principal;
  }

  async create(
    input: { name: string; permissions: readonly Permission[]; expiresAt?: string },
    actor: string,
  ): Promise<CreatedToken> {
    if (input.expiresAt !== undefined && Date.parse(input.expiresAt) <= this.clock.now().getTime())
      throw new AppError('ERR_VALIDATION', {
        message: 'The token would be expired already.',
        details: [{ path: 'body.expiresAt', message: `${input.expiresAt} is not in the future` }],
      });
    const secret = newSecret();
    const row = await this.insert(
      input.name,
      secret,
      input.permissions,
      actor,
      input.expiresAt ?? null,
    );
    return { ...view(row), token: secret };
  }

  async list(includeRevoked: boolean): Promise<TokenView[]> {
    return (await tokensSql.listTokens(this.database.db, includeRevoked)).map(view);
  }

  async revoke(id: string): Promise<void> {
    const row = await tokensSql.getToken(this.database.db, id);
    if (!row) throw new AppError('ERR_TOKEN_NOT_FOUND', { context: { tokenId: id } });
    // Revoking twice is a no-op: the token is revoked either way.
    await tokensSql.revokeToken(this.database.db, id, isoNow(this.clock));
  }

  /**
   * Ensures an admin token exists. Returns the secret when this call generated one (the caller
   * prints it once); undefined when the configured token was ensured or the database already
   * had its admin token.
   */
  async bootstrap(opts: {
    adminToken: string;
    dataDir: string;
  }): Promise<{ secret?: string; file?: string }> {
    // An admin token made by an earlier version gets the permissions added since (upgrades).
    for (const t of await tokensSql.systemAdminTokens(this.database.db)) {
      const held = JSON.parse(t.permissions) as string[];
      if (allPermissions.every((p) => held.includes(p))) continue;
      const all = JSON.stringify([...new Set([...held, ...allPermissions])]);
      await tokensSql.setTokenPermissions(this.database.db, t.id, all);
    }
    if (opts.adminToken !== '') {
      const hash = hashSecret(opts.adminToken);
      if (!(await tokensSql.getTokenByHash(this.database.db, hash))) {
        try {
          await this.insert('admin', opts.adminToken, allPermissions, 'system', null);
        } catch (err) {
          // Another process inserted the same token at the same moment.
          if (!(await tokensSql.getTokenByHash(this.database.db, hash))) throw err;
        }
      }
      await claimSetting(this.database.db, 'admin_bootstrapped', isoNow(this.clock));
      return {};
    }
    const claimed = await claimSetting(this.database.db, 'admin_bootstrapped', isoNow(this.clock));
    if (!claimed || (await tokensSql.countTokens(this.database.db)) > 0) return {};
    const secret = newSecret();
    await this.insert('admin', secret, allPermissions, 'system', null);
    mkdirSync(opts.dataDir, { recursive: true });
    const file = path.join(opts.dataDir, 'admin-token');
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
    return { secret, file };
  }

  private async insert(
    name: string,
    secret: string,
    permissions: readonly Permission[],
    actor: string,
    expiresAt: string | null,
  ): Promise<TokenRow> {
    const row: TokenRow = {
      id: newId('tok', this.clock.now().getTime()),
      name,
      hash: hashSecret(secret),
      permissions: JSON.stringify([...new Set(permissions)]),
      created_by: actor,
      created_at: isoNow(this.clock),
      last_used_at: null,
      revoked_at: null,
      expires_at: expiresAt,
    };
    await tokensSql.insertToken(this.database.db, row);
    return row;
  }
}
