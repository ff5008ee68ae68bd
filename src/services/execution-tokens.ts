/**
 * Execution tokens (issue 11): `sye_` + 40 hex characters, one per node attempt that runs a
 * process, stored as SHA-256 like API tokens. Its holder may read its own execution and call
 * the LLM gateway; anything more only as `runtime_config.permissions` says, capped at the
 * permissions of the token that started the execution and never an `*.admin` one. It is revoked
 * when its attempt ends and, for attempts a dead server left, when the execution ends; a revoked
 * or expired one answers 401 `ERR_AUTH_TOKEN_ENDED`.
 *
 * The gateway's usage is kept here too, in memory, per token: the sandbox reaches the gateway
 * socket of the server that runs its command, so the worker that ends the attempt reads what the
 * attempt's calls used from the same process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type Clock, isoNow } from '../clock.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { NodeUsage } from '../engine/types.ts';
import type { Database } from '../store/db.ts';
import * as sql from '../store/execution-tokens.ts';
import { getLiveTokenByName } from '../store/tokens.ts';
import type { Permission } from '../types.ts';

/** What an execution token is for: one node attempt of one execution. */
export interface ExecutionScope {
  tokenId: string;
  executionId: string;
  workflowId: string;
  nodeId: string;
  attempt: number;
}

/** The longest an execution token lives even if nothing revokes it (a server killed mid-node). */
const maxLifetimeMs = 24 * 60 * 60 * 1000;

export const executionTokenPrefix = 'sye_';

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Tokens per model an attempt's gateway calls used. */
type ModelTokens = Record<string, { promptTokens: number; completionTokens: number }>;

export class ExecutionTokenService {
  private readonly charged = new Map<string, ModelTokens>();

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
  ) {}

  /**
   * A new token for a node attempt. `requested`: the workflow's `runtime_config.permissions`;
   * `startedBy`: the name of the API token that started the execution by hand (none for
   * schedules, hooks and events: then no extra permission is granted).
   */
  async mint(input: {
    executionId: string;
    workflowId: string;
    nodeId: string;
    attempt: number;
    requested: readonly string[];
    startedBy: string | undefined;
  }): Promise<{ id: string; secret: string }> {
    const permissions = await this.cap(input.requested, input.startedBy);
    const secret = `${executionTokenPrefix}${randomBytes(20).toString('hex')}`;
    const now = this.clock.now();
    const id = newId('etk', now.getTime());
    await sql.insertExecutionToken(this.database.db, {
      id,
      hash: hashSecret(secret),
      execution_id: input.executionId,
      workflow_id: input.workflowId,
      node_id: input.nodeId,
      attempt: input.attempt,
      permissions: JSON.stringify(permissions),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + maxLifetimeMs).toISOString(),
      revoked_at: null,
    });
    this.charged.set(id, {});
    return { id, secret };
  }

  /** The scope and permissions of a live token; 401 when unknown, ended or expired. */
  async authenticate(
    secret: string,
  ): Promise<{ scope: ExecutionScope; permissions: ReadonlySet<Permission> }> {
    const row = await sql.getExecutionTokenByHash(this.database.db, hashSecret(secret));
    if (!row) throw new AppError('ERR_AUTH_INVALID');
    if (row.revoked_at !== null || row.expires_at <= isoNow(this.clock)) {
      throw new AppError('ERR_AUTH_TOKEN_ENDED', {
        message: `The execution token has ended with its ${row.revoked_at === null ? 'lifetime' : 'node attempt or execution'}.`,
        context: { executionId: row.execution_id, nodeId: row.node_id, attempt: row.attempt },
      });
    }
    return {
      scope: {
        tokenId: row.id,
        executionId: row.execution_id,
        workflowId: row.workflow_id,
        nodeId: row.node_id,
        attempt: row.attempt,
      },
      permissions: new Set(JSON.parse(row.permissions) as Permission[]),
    };
  }

  /** Ends one token (its attempt is over) and hands back what its gateway calls used. */
  async end(id: string): Promise<NodeUsage | undefined> {
    await sql.revokeExecutionToken(this.database.db, id, isoNow(this.clock));
    const models = this.charged.get(id);
    this.charged.delete(id);
    return models === undefined || Object.keys(models).length === 0 ? undefined : usageOf(models);
  }

  /**
   * Records tokens a gateway call of this token used. A call that finishes after its attempt
   * ended (a background process) is not charged: the attempt's cost is written already.
   */
  charge(tokenId: string, model: string, promptTokens: number, completionTokens: number): void {
    const models = this.charged.get(tokenId);
    if (models === undefined) return;
    const m = (models[model] ??= { promptTokens: 0, completionTokens: 0 });
    m.promptTokens += promptTokens;
    m.completionTokens += completionTokens;
  }

  private async cap(requested: readonly string[], startedBy: string | undefined) {
    if (requested.length === 0 || startedBy === undefined) return [];
    const starter = await getLiveTokenByName(this.database.db, startedBy);
    if (!starter) return [];
    const held = new Set(JSON.parse(starter.permissions) as string[]);
    return [...new Set(requested)].filter((p) => held.has(p) && !p.endsWith('.admin'));
  }
}

function usageOf(models: ModelTokens): NodeUsage {
  const list = Object.entries(models);
  const promptTokens = list.reduce((n, [, u]) => n + u.promptTokens, 0);
  const completionTokens = list.reduce((n, [, u]) => n + u.completionTokens, 0);
  return { promptTokens, completionTokens, models };
}

/**
 * An attempt's usage with its gateway calls' tokens added: the totals add up and the tokens are
 * priced per model (`models`), the executor's own model included.
 */
export function withGatewayUsage(usage: NodeUsage | undefined, gateway: NodeUsage): NodeUsage {
  const models: ModelTokens = {};
  const add = (model: string, p: number, c: number) => {
    const m = (models[model] ??= { promptTokens: 0, completionTokens: 0 });
    m.promptTokens += p;
    m.completionTokens += c;
  };
  if (usage?.models !== undefined)
    for (const [k, u] of Object.entries(usage.models)) add(k, u.promptTokens, u.completionTokens);
  else if (usage?.model !== undefined)
    add(usage.model, usage.promptTokens ?? 0, usage.completionTokens ?? 0);
  for (const [k, u] of Object.entries(gateway.models ?? {}))
    add(k, u.promptTokens, u.completionTokens);
  const { model: _model, ...rest } = usage ?? {};
  return {
    ...rest,
    promptTokens: (usage?.promptTokens ?? 0) + (gateway.promptTokens ?? 0),
    completionTokens: (usage?.completionTokens ?? 0) + (gateway.completionTokens ?? 0),
    models,
  };
}
