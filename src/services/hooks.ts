/**
 * Webhooks (DESIGN §7, CLARIFICATIONS "Workflows start themselves"): a workflow's inbound
 * endpoints. A hook is `{name, kind: generic|github}` with a secret shown once; its URL is
 * `POST /api/v1/hooks/{hookId}`, authenticated by signature, not by a token.
 *
 * - **generic**: `X-Switchyard-Timestamp` + `X-Switchyard-Signature` (signature.ts), a signature
 *   seen before inside the window is a replay (401). The delivery becomes the platform event
 *   `webhook.<name>` and starts only its own workflow's `{type: webhook, name}` trigger, as an
 *   execution with `trigger.type: webhook`.
 * - **github**: GitHub's deliveries as they are (`X-Hub-Signature-256`, `X-GitHub-Event`,
 *   `X-GitHub-Delivery` deduplicated), mapped by github.ts to `git.push`, `pr.*`, … platform
 *   events that fire every matching `event` trigger.
 *
 * Every delivery is recorded (accepted, ignored, duplicate or rejected) and listed per hook.
 */
import { randomBytes } from 'node:crypto';
import type { Trigger } from '../definition/index.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Database } from '../store/database.ts';
import { isUniqueViolation } from '../store/db.ts';
import * as hooksSql from '../store/hooks.ts';
import type { HookDeliveryRow, HookRow } from '../store/hooks.ts';
import { getVersion } from '../store/versions.ts';
import { getWorkflow } from '../store/workflows.ts';
import { mapGithubDelivery, githubPayload } from '../triggers/github.ts';
import { verifyGeneric, verifyGithub } from '../triggers/signature.ts';
import { type Clock, isoNow } from '../clock.ts';
import type { ExecutionService } from './executions.ts';
import type { PlatformEvent } from '../triggers/event-match.ts';
import type { Outcome, PlatformEventService } from './platform-events.ts';
import type { SecretService } from './secrets.ts';
import { decodeCursor, toPage, type Page } from './pagination.ts';
import type { HookDeliveryView, HookKind, HookView } from '../wire/hooks.ts';

export type { HookDeliveryView, HookKind, HookView };

export interface Delivery {
  body: Buffer;
  contentType: string;
  header(name: string): string | undefined;
}

export interface DeliveryAnswer {
  status: 200 | 202;
  body: Record<string, unknown>;
}

export class HookService {
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly executions: ExecutionService,
    private readonly events: PlatformEventService,
    /** Seals and opens hook secrets at rest. */
    private readonly secrets: SecretService,
  ) {}

  async create(
    workflowId: string,
    input: { name: string; kind: HookKind },
    actor: string,
  ): Promise<HookView & { secret: string }> {
    await this.requireWorkflow(workflowId);
    const secret = `whsec_${randomBytes(24).toString('hex')}`;
    const row: HookRow = {
      id: newId('hook', this.clock.now().getTime()),
      workflow_id: workflowId,
      name: input.name,
      kind: input.kind,
      secret: await this.secrets.sealColumn(secret),
      created_by: actor,
      created_at: isoNow(this.clock),
      deleted_at: null,
    };
    // One live hook per name: the generic event is `webhook.<name>`.
    const taken = await hooksSql.findLiveHookByName(this.database.db, workflowId, input.name);
    if (taken) throw nameTaken(workflowId, input.name);
    try {
      await hooksSql.insertHook(this.database.db, row);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(workflowId, input.name);
      throw err;
    }
    return { ...view(row), secret };
  }

  async list(workflowId: string): Promise<HookView[]> {
    await this.requireWorkflow(workflowId);
    return (await hooksSql.listHooks(this.database.db, workflowId)).map(view);
  }

  async delete(workflowId: string, hookId: string): Promise<void> {
    const now = isoNow(this.clock);
    if (!(await hooksSql.deleteHook(this.database.db, workflowId, hookId, now)))
      throw notFound(hookId);
  }

  async deliveries(
    workflowId: string,
    hookId: string,
    q: { limit?: number; cursor?: string },
  ): Promise<Page<HookDeliveryView>> {
    const hook = await hooksSql.getHook(this.database.db, hookId);
    if (!hook || hook.workflow_id !== workflowId) throw notFound(hookId);
    const limit = q.limit ?? 50;
    const beforeId = decodeCursor(q.cursor);
    const rows = await hooksSql.listDeliveries(this.database.db, hookId, {
      ...(beforeId !== undefined && { beforeId }),
      limit: limit + 1,
    });
    const page = toPage(rows, limit, (r) => r);
    return { items: page.items.map(deliveryView), nextCursor: page.nextCursor };
  }

  /** One delivery to `POST /api/v1/hooks/{hookId}`. */
  async receive(hookId: string, delivery: Delivery): Promise<DeliveryAnswer> {
    const hook = await hooksSql.getHook(this.database.db, hookId);
    if (!hook) throw notFound(hookId);
    return hook.kind === 'github'
      ? this.receiveGithub(hook, delivery)
      : this.receiveGeneric(hook, delivery);
  }

  private async receiveGeneric(hook: HookRow, delivery: Delivery): Promise<DeliveryAnswer> {
    const nowSeconds = this.clock.now().getTime() / 1000;
    const verdict = verifyGeneric(
      await this.secrets.openColumn(hook.secret),
      delivery.body,
      {
        timestamp: delivery.header('x-switchyard-timestamp'),
        signature: delivery.header('x-switchyard-signature'),
      },
      nowSeconds,
    );
    if (!verdict.ok) return this.reject(hook, verdict.reason, null, 'ERR_HOOK_SIGNATURE');
    const row = this.deliveryRow(hook, `sig:${verdict.signature}`, null);
    if (!(await hooksSql.insertDelivery(this.database.db, row)))
      return this.reject(hook, 'this signature was seen before', null, 'ERR_HOOK_REPLAY');
    const type = `webhook.${hook.name}`;
    // Published (and crash-safe: a pending event is processed at the next start); `process`
    // starts the hook's own workflow through `startOwn`, and trigger rules see it too.
    const event = await this.events.publish({
      type,
      data: bodyData(delivery),
      source: `hook:${hook.id}`,
      actor: `hook:${hook.name}`,
    });
    const own = event.executions.filter(
      (e) => e.workflowId === hook.workflow_id && e.ruleId === undefined,
    );
    const reason = event.unmatched.find((u) => u.workflowId === hook.workflow_id)?.reason;
    await hooksSql.updateDelivery(this.database.db, row.id, {
      event_type: type,
      event_id: event.id,
      detail:
        own.length > 0
          ? `started ${own.map((e) => e.executionId).join(', ')}`
          : (reason ?? 'started nothing'),
    });
    return {
      status: 202,
      body: {
        deliveryId: row.id,
        eventId: event.id,
        eventType: type,
        executionIds: event.executions.map((e) => e.executionId),
        ...(own.length === 0 && reason !== undefined && { detail: reason }),
      },
    };
  }

  /** The start of a `webhook.<name>` event: its hook's own workflow (PlatformEventService). */
  async startOwn(event: PlatformEvent): Promise<Outcome> {
    const hookId = event.source.startsWith('hook:') ? event.source.slice(5) : '';
    const hook = await hooksSql.getHook(this.database.db, hookId);
    if (!hook) return { executions: [], unmatched: [] };
    return (await this.startOwnWorkflow(hook, event.type, event.id, event.data)).outcome;
  }

  /** Starts the hook's own workflow when its active published version has the webhook trigger. */
  private async startOwnWorkflow(
    hook: HookRow,
    eventType: string,
    eventId: string,
    data: Record<string, unknown>,
  ): Promise<{ executionId?: string; reason?: string; outcome: Outcome }> {
    const db = this.database.db;
    const wf = await getWorkflow(db, hook.workflow_id);
    const version = wf?.active_version ?? wf?.latest_version ?? 0;
    const named = { workflowId: hook.workflow_id, workflowName: wf?.name ?? '', version };
    const none = (reason: string) => ({
      reason,
      outcome: { executions: [], unmatched: [{ ...named, reason }] },
    });
    if (!wf || wf.status === 'archived') return none('the workflow is archived');
    if (wf.active_version === null)
      return none('the workflow has no published version (drafts never fire)');
    const v = await getVersion(db, wf.id, wf.active_version);
    const triggers = v ? (JSON.parse(v.trigger_config) as Trigger[]) : [];
    if (!triggers.some((t) => t.type === 'webhook' && t.name === hook.name))
      return none(
        `version ${wf.active_version} has no trigger {type: webhook, name: ${hook.name}}`,
      );
    let accepted;
    try {
      ({ accepted } = await this.executions.run(
        wf.id,
        { version: wf.active_version },
        {
          actor: `hook:${hook.name}`,
          idempotencyKey: `${eventId}:${wf.id}`,
          trigger: { type: 'webhook', eventType, eventId, actor: `hook:${hook.name}`, data },
        },
      ));
    } catch (err) {
      // A full concurrency group with policy skip is this delivery's outcome, not a failure.
      if (err instanceof AppError && err.code === 'ERR_CONCURRENCY_SKIPPED')
        return none(err.message);
      throw err;
    }
    return {
      executionId: accepted.id,
      outcome: { executions: [{ ...named, executionId: accepted.id }], unmatched: [] },
    };
  }

  private async receiveGithub(hook: HookRow, delivery: Delivery): Promise<DeliveryAnswer> {
    const eventName = delivery.header('x-github-event') ?? '';
    const deliveryId = delivery.header('x-github-delivery') ?? null;
    const verdict = verifyGithub(
      await this.secrets.openColumn(hook.secret),
      delivery.body,
      delivery.header('x-hub-signature-256'),
    );
    if (!verdict.ok) return this.reject(hook, verdict.reason, eventName, 'ERR_HOOK_SIGNATURE');
    const row = this.deliveryRow(hook, deliveryId === null ? null : `gh:${deliveryId}`, eventName);
    if (!(await hooksSql.insertDelivery(this.database.db, row))) {
      // GitHub redelivers with the same id: answered, recorded, started nothing.
      const dup = { ...row, id: newId('hdl', this.clock.now().getTime()), dedupe_key: null };
      await hooksSql.insertDelivery(this.database.db, {
        ...dup,
        outcome: 'duplicate',
        http_status: 200,
        detail: `delivery ${deliveryId} was received before`,
      });
      return { status: 200, body: { duplicate: true, deliveryId } };
    }
    const payload = githubPayload(delivery.body, delivery.contentType);
    const mapped =
      payload === undefined
        ? ({ kind: 'ignored', reason: 'the body is not a JSON payload' } as const)
        : mapGithubDelivery(eventName, payload);
    if (mapped.kind === 'ping') {
      await hooksSql.updateDelivery(this.database.db, row.id, {
        outcome: 'accepted',
        http_status: 200,
        detail: 'ping',
      });
      return { status: 200, body: { ok: true, zen: mapped.zen } };
    }
    if (mapped.kind === 'ignored') {
      await hooksSql.updateDelivery(this.database.db, row.id, {
        outcome: 'ignored',
        http_status: 202,
        detail: mapped.reason,
      });
      return { status: 202, body: { ignored: true, detail: mapped.reason } };
    }
    const event = await this.events.publish({
      type: mapped.type,
      subject: mapped.subject,
      data: mapped.data,
      source: `hook:${hook.id}`,
      actor: `hook:${hook.name}`,
    });
    await hooksSql.updateDelivery(this.database.db, row.id, {
      event_type: mapped.type,
      event_id: event.id,
      detail: `published ${mapped.type} ${mapped.subject}`,
    });
    return {
      status: 202,
      body: {
        deliveryId,
        eventId: event.id,
        eventType: mapped.type,
        subject: mapped.subject,
        executionIds: event.executions.map((e) => e.executionId),
      },
    };
  }

  private deliveryRow(
    hook: HookRow,
    dedupeKey: string | null,
    sourceEvent: string | null,
  ): HookDeliveryRow {
    return {
      id: newId('hdl', this.clock.now().getTime()),
      hook_id: hook.id,
      dedupe_key: dedupeKey,
      received_at: isoNow(this.clock),
      outcome: 'accepted',
      http_status: 202,
      source_event: sourceEvent,
      event_type: null,
      event_id: null,
      detail: '',
    };
  }

  /** A refused delivery is recorded (so the owner can see why) and answered 401. */
  private async reject(
    hook: HookRow,
    reason: string,
    sourceEvent: string | null,
    code: 'ERR_HOOK_SIGNATURE' | 'ERR_HOOK_REPLAY',
  ): Promise<never> {
    await hooksSql.insertDelivery(this.database.db, {
      ...this.deliveryRow(hook, null, sourceEvent),
      outcome: 'rejected',
      http_status: 401,
      detail: reason,
    });
    throw new AppError(code, {
      message: `The delivery to hook ${hook.id} is refused: ${reason}.`,
      context: { hookId: hook.id },
    });
  }

  private async requireWorkflow(workflowId: string): Promise<void> {
    const wf = await getWorkflow(this.database.db, workflowId);
    if (!wf)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${workflowId}.`,
        context: { workflowId },
      });
  }
}

/** A generic delivery's data: its JSON object, else `{body: <the JSON value or the text>}`. */
function bodyData(delivery: Delivery): Record<string, unknown> {
  const text = delivery.body.toString('utf8');
  if (/json/i.test(delivery.contentType)) {
    try {
      const value = JSON.parse(text) as unknown;
      return value !== null && typeof value === 'object' && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : { body: value };
    } catch {
      // kept as text below
    }
  }
  return { body: text };
}

function view(row: HookRow): HookView {
  return {
    id: row.id,
    workflowId: row.workflow_id,
    name: row.name,
    kind: row.kind as HookKind,
    url: `/api/v1/hooks/${row.id}`,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

function deliveryView(row: HookDeliveryRow): HookDeliveryView {
  return {
    id: row.id,
    hookId: row.hook_id,
    receivedAt: row.received_at,
    outcome: row.outcome as HookDeliveryView['outcome'],
    httpStatus: row.http_status,
    deliveryId: row.dedupe_key?.startsWith('gh:') === true ? row.dedupe_key.slice(3) : null,
    sourceEvent: row.source_event,
    eventType: row.event_type,
    eventId: row.event_id,
    detail: row.detail,
  };
}

function notFound(hookId: string): AppError {
  return new AppError('ERR_HOOK_NOT_FOUND', {
    message: `No hook ${hookId}.`,
    context: { hookId },
  });
}

function nameTaken(workflowId: string, name: string): AppError {
  return new AppError('ERR_HOOK_NAME_TAKEN', {
    message: `Workflow ${workflowId} already has a hook named ${name}.`,
    context: { workflowId, name },
  });
}
