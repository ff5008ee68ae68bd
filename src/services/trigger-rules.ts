/**
 * Trigger rules as a resource (`/api/v1/triggers`): create, read, change and delete rules, each
 * checked on save with every problem listed (ERR_RULE_INVALID), and read a rule's outbound
 * deliveries. Firing lives in triggers/rules.ts.
 */
import { randomBytes } from 'node:crypto';
import { AppError, type ErrorDetail } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Database } from '../store/db.ts';
import * as rulesSql from '../store/trigger-rules.ts';
import type { RuleDeliveryRow, TriggerRuleRow } from '../store/trigger-rules.ts';
import { getWorkflow } from '../store/workflows.ts';
import {
  type DeliveryState,
  type RuleAction,
  type RuleDeliveryView,
  type RuleInput,
  type RulePatch,
  type RuleView,
  ruleProblems,
} from '../triggers/rule-model.ts';
import { type Clock, isoNow } from '../clock.ts';
import { type Page, decodeCursor, toPage } from './pagination.ts';
import type { SecretService } from './secrets.ts';

export class TriggerRuleService {
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    /** Seals webhook rules' signing secrets at rest. */
    private readonly secrets: SecretService,
  ) {}

  /** A webhook rule's answer holds its signing secret, the only time it is shown. */
  async create(input: RuleInput, actor: string): Promise<RuleView & { secret?: string }> {
    await this.check(input.event, input.if, input.action);
    const now = isoNow(this.clock);
    const secret = input.action.type === 'webhook' ? newSecret() : undefined;
    const row: TriggerRuleRow = {
      id: newId('rule', this.clock.now().getTime()),
      name: input.name,
      enabled: input.enabled === false ? 0 : 1,
      event_glob: input.event,
      condition: input.if ?? null,
      action: JSON.stringify(input.action),
      secret: secret === undefined ? null : await this.secrets.sealColumn(secret),
      created_by: actor,
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    await rulesSql.insertRule(this.database.db, row);
    return { ...view(row), ...(secret !== undefined && { secret }) };
  }

  async list(): Promise<RuleView[]> {
    return (await rulesSql.listRules(this.database.db)).map(view);
  }

  async get(id: string): Promise<RuleView> {
    return view(await this.load(id));
  }

  /**
   * Changes what the body names; the result is checked as a whole. A rule that becomes a webhook
   * rule gets a secret, shown in this answer only; one that stays a webhook rule keeps its own.
   */
  async update(id: string, patch: RulePatch): Promise<RuleView & { secret?: string }> {
    const row = await this.load(id);
    const next: TriggerRuleRow = {
      ...row,
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.enabled !== undefined && { enabled: patch.enabled ? 1 : 0 }),
      ...(patch.event !== undefined && { event_glob: patch.event }),
      ...(patch.if !== undefined && { condition: patch.if }),
      ...(patch.action !== undefined && { action: JSON.stringify(patch.action) }),
      updated_at: isoNow(this.clock),
    };
    const action = JSON.parse(next.action) as RuleAction;
    await this.check(next.event_glob, next.condition, action);
    let shown: string | undefined;
    if (action.type === 'webhook' && next.secret === null) {
      shown = newSecret();
      next.secret = await this.secrets.sealColumn(shown);
    }
    if (action.type === 'run') next.secret = null;
    const { id: _id, created_by: _by, created_at: _at, deleted_at: _del, ...changes } = next;
    if (!(await rulesSql.updateRule(this.database.db, id, changes))) throw notFound(id);
    return { ...view(next), ...(shown !== undefined && { secret: shown }) };
  }

  /** Deletes a rule; its waiting deliveries fail at their next attempt. */
  async delete(id: string): Promise<void> {
    if (!(await rulesSql.deleteRule(this.database.db, id, isoNow(this.clock)))) throw notFound(id);
  }

  async deliveries(
    id: string,
    q: { limit?: number; cursor?: string },
  ): Promise<Page<RuleDeliveryView>> {
    await this.load(id);
    const limit = q.limit ?? 50;
    const beforeId = decodeCursor(q.cursor);
    const rows = await rulesSql.listRuleDeliveries(this.database.db, id, {
      ...(beforeId !== undefined && { beforeId }),
      limit: limit + 1,
    });
    return toPage(rows, limit, deliveryView);
  }

  /** Every problem of the rule, the workflow of a run rule included, as one 422. */
  private async check(
    event: string,
    condition: string | null | undefined,
    action: RuleAction,
  ): Promise<void> {
    const problems: ErrorDetail[] = ruleProblems({ event, if: condition, action });
    if (action.type === 'run') {
      const wf = await getWorkflow(this.database.db, action.workflowId);
      if (!wf)
        problems.push({
          path: 'action.workflowId',
          message: `no workflow ${action.workflowId}`,
        });
      else if (wf.status === 'archived')
        problems.push({
          path: 'action.workflowId',
          message: `workflow ${action.workflowId} is archived; archived workflows never run`,
        });
    }
    if (problems.length > 0)
      throw new AppError('ERR_RULE_INVALID', {
        message: `The trigger rule is invalid: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}.`,
        details: problems,
      });
  }

  private async load(id: string): Promise<TriggerRuleRow> {
    const row = await rulesSql.getRule(this.database.db, id);
    if (!row) throw notFound(id);
    return row;
  }
}

function newSecret(): string {
  return `whsec_${randomBytes(24).toString('hex')}`;
}

function view(row: TriggerRuleRow): RuleView {
  return {
    id: row.id,
    name: row.name,
    enabled: row.enabled === 1,
    event: row.event_glob,
    if: row.condition,
    action: JSON.parse(row.action) as RuleAction,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function deliveryView(row: RuleDeliveryRow): RuleDeliveryView {
  return {
    id: row.id,
    ruleId: row.rule_id,
    eventId: row.event_id,
    attempt: Number(row.attempt),
    state: row.state as DeliveryState,
    url: row.url,
    httpStatus: row.http_status === null ? null : Number(row.http_status),
    error: row.error,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

function notFound(id: string): AppError {
  return new AppError('ERR_RULE_NOT_FOUND', {
    message: `No trigger rule ${id}.`,
    context: { ruleId: id },
  });
}
