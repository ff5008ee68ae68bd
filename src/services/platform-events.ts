/**
 * Platform events (DESIGN §7): record an event, start every active published workflow whose
 * event trigger takes it, and remember the outcome on the event (the executions it started and,
 * per listening workflow, why it did not match). Matching itself is pure (triggers/event-match.ts).
 */
import type { Trigger } from '../definition/index.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Database } from '../store/db.ts';
import * as eventsSql from '../store/platform-events.ts';
import type { PlatformEventRow } from '../store/platform-events.ts';
import { type PlatformEvent, matchListener } from '../triggers/event-match.ts';
import type { Permission } from '../types.ts';
import type { Clock } from '../clock.ts';
import type { ExecutionService } from './executions.ts';
import { type Page, decodeCursor, toPage } from './pagination.ts';
import type { PlatformEventView, StartedRun, UnmatchedListener } from '../wire/events.ts';

export type { PlatformEventView };

/**
 * Types only hooks (and tokens.admin) may post: anyone with workflows.run could otherwise forge
 * `pr.merged` and start a deploy; `execution.*` is what Switchyard itself says about its runs.
 */
const reservedPrefixes = ['git.', 'pr.', 'webhook.', 'execution.'] as const;

export interface PublishInput {
  type: string;
  subject?: string;
  data?: Record<string, unknown>;
  /** `api`, `hook:<hookId>` or `switchyard`. */
  source: string;
  actor: string;
  chainDepth?: number;
}

export interface Outcome {
  executions: StartedRun[];
  unmatched: UnmatchedListener[];
}

export type ProcessedListener = (event: PlatformEventView) => void;

/**
 * More matching for each event `process` matches (trigger rules): its runs and non-matches join
 * the event's outcome. It must be safe to repeat for one event, as `process` is.
 */
export type EventMatcher = (event: PlatformEvent) => Promise<Outcome>;

export class PlatformEventService {
  private readonly listeners = new Set<ProcessedListener>();
  private readonly matchers: EventMatcher[] = [];
  private hookStarter: EventMatcher | undefined;

  constructor(
    private readonly database: Database,
    private readonly executions: ExecutionService,
    private readonly clock: Clock,
  ) {}

  /** Called each time this process recorded an event's outcome (tests wait on it). */
  onProcessed(listener: ProcessedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adds matching that runs on every event after the workflows' own event triggers. */
  /**
   * How `webhook.<name>` events start their runs: a generic hook's event fires only its own
   * workflow's `{type: webhook, name}` trigger (CLARIFICATIONS), never `event` triggers.
   */
  setHookStarter(starter: EventMatcher): void {
    this.hookStarter = starter;
  }

  addMatcher(matcher: EventMatcher): void {
    this.matchers.push(matcher);
  }

  /** `POST /api/v1/events`: reserved types need tokens.admin (hooks publish them internally). */
  async post(
    body: { type: string; subject?: string; data?: Record<string, unknown> },
    by: { actor: string; permissions: ReadonlySet<Permission> },
  ): Promise<PlatformEventView> {
    const reserved = reservedPrefixes.find((p) => body.type.startsWith(p));
    if (reserved !== undefined && !by.permissions.has('tokens.admin'))
      throw new AppError('ERR_AUTH_FORBIDDEN', {
        message: `Event types starting '${reserved}' come from hooks and Switchyard; posting one needs tokens.admin.`,
        context: { type: body.type, required: 'tokens.admin' },
      });
    return this.publish({ ...body, source: 'api', actor: by.actor });
  }

  /** Records the event, then starts what it matches; answers the processed event. */
  async publish(input: PublishInput): Promise<PlatformEventView> {
    const now = this.clock.now();
    const id = newId('evt', now.getTime());
    await eventsSql.insertPlatformEvent(this.database.db, {
      id,
      type: input.type,
      subject: input.subject ?? null,
      data: JSON.stringify(input.data ?? {}),
      source: input.source,
      actor: input.actor,
      created_at: now.toISOString(),
      chain_depth: input.chainDepth ?? 0,
      outcome: null,
      processed_at: null,
    });
    return this.process(id);
  }

  /**
   * Matches a recorded event and starts its runs; safe to call again (after a crash, or from
   * two servers): each run's idempotency key is the event and workflow, so none starts twice.
   * `recorded` is the event's row as its writer just committed it (saves reading it back).
   */
  async process(id: string, recorded?: PlatformEventRow): Promise<PlatformEventView> {
    const db = this.database.db;
    const row = recorded?.id === id ? recorded : await this.load(id);
    if (row.processed_at !== null) return view(row);
    const event = toEvent(row);
    const outcome: Outcome = { executions: [], unmatched: [] };
    const fromHook = event.type.startsWith('webhook.');
    if (fromHook && this.hookStarter !== undefined) {
      const own = await this.hookStarter(event);
      outcome.executions.push(...own.executions);
      outcome.unmatched.push(...own.unmatched);
    }
    for (const l of fromHook ? [] : await eventsSql.listEventListeners(db)) {
      const listener = {
        workflowId: l.workflow_id,
        workflowName: l.workflow_name,
        workflowStatus: l.workflow_status,
        version: l.version,
        versionStatus: l.version_status,
        triggers: parseTriggers(l.trigger_config),
      };
      const named = {
        workflowId: l.workflow_id,
        workflowName: l.workflow_name,
        version: l.version,
      };
      const m = matchListener(event, listener);
      if (m.kind === 'not_listening') continue;
      if (m.kind === 'no_match') {
        outcome.unmatched.push({ ...named, reason: m.reason });
        continue;
      }
      try {
        const { accepted } = await this.executions.run(
          l.workflow_id,
          { version: l.version },
          {
            actor: event.actor,
            idempotencyKey: `${event.id}:${l.workflow_id}`,
            trigger: m.trigger,
          },
        );
        outcome.executions.push({ ...named, executionId: accepted.id });
      } catch (err) {
        // The workflow changed since the scan (archived) or its manual inputs have no defaults:
        // the event says so instead of failing for every other listener.
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        outcome.unmatched.push({ ...named, reason: `matched but could not start: ${err.message}` });
      }
    }
    for (const matcher of this.matchers) {
      const more = await matcher(event);
      outcome.executions.push(...more.executions);
      outcome.unmatched.push(...more.unmatched);
    }
    const outcomeText = JSON.stringify(outcome);
    const processedAt = this.clock.now().toISOString();
    // When another server recorded its outcome first, that one is the event's.
    const done = view(
      (await eventsSql.recordOutcome(db, id, outcomeText, processedAt))
        ? { ...row, outcome: outcomeText, processed_at: processedAt }
        : await this.load(id),
    );
    for (const listener of this.listeners) listener(done);
    return done;
  }

  /** Events a stopped server recorded but never matched (its executions' end events). */
  async processPending(): Promise<void> {
    for (;;) {
      const rows = await eventsSql.listPendingPlatformEvents(this.database.db, 100);
      for (const r of rows) await this.process(r.id);
      if (rows.length < 100) return;
    }
  }

  async get(id: string): Promise<PlatformEventView> {
    return view(await this.load(id));
  }

  async list(q: {
    type?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<PlatformEventView>> {
    const limit = q.limit ?? 50;
    const beforeId = decodeCursor(q.cursor);
    const rows = await eventsSql.listPlatformEvents(this.database.db, {
      ...(q.type !== undefined && { type: q.type }),
      ...(beforeId !== undefined && { beforeId }),
      limit: limit + 1,
    });
    return toPage(rows, limit, view);
  }

  private async load(id: string): Promise<PlatformEventRow> {
    const row = await eventsSql.getPlatformEvent(this.database.db, id);
    if (!row)
      throw new AppError('ERR_EVENT_NOT_FOUND', {
        message: `No platform event ${id}.`,
        context: { eventId: id },
      });
    return row;
  }
}

function parseTriggers(text: string): Trigger[] {
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? (v as Trigger[]) : [];
}

function toEvent(row: PlatformEventRow): PlatformEvent {
  return {
    id: row.id,
    type: row.type,
    subject: row.subject,
    data: JSON.parse(row.data) as Record<string, unknown>,
    source: row.source,
    actor: row.actor,
    timestamp: row.created_at,
    chainDepth: Number(row.chain_depth),
  };
}

function view(row: PlatformEventRow): PlatformEventView {
  const outcome: Outcome =
    row.outcome === null ? { executions: [], unmatched: [] } : (JSON.parse(row.outcome) as Outcome);
  return {
    ...toEvent(row),
    status: row.processed_at === null ? 'pending' : 'processed',
    processedAt: row.processed_at,
    executions: outcome.executions,
    unmatched: outcome.unmatched,
  };
}
