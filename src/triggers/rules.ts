/**
 * Fires trigger rules (DESIGN §7). Every event the platform-events service matches is matched
 * against the enabled rules (`fire`, added as a matcher, so a run rule's execution joins the
 * event's outcome): a `run` rule starts its workflow's active published version under the key
 * `<eventId>:rule:<ruleId>`, so matching an event again starts nothing twice; a `webhook` rule
 * schedules attempt 1 of a delivery, and the delivery loop sends due attempts. Attempts live in
 * `rule_deliveries` with their due time, so retries survive a restart and any server sends them.
 */
import { type Dispatcher, request } from 'undici';
import { EgressForbiddenError } from '../egress/dispatcher.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Clock } from '../clock.ts';
import type { ExecutionService } from '../services/executions.ts';
import type { Outcome } from '../services/platform-events.ts';
import type { SecretService } from '../services/secrets.ts';
import type { Database } from '../store/db.ts';
import { getPlatformEvent } from '../store/platform-events.ts';
import * as rulesSql from '../store/trigger-rules.ts';
import type { RuleDeliveryRow, TriggerRuleRow } from '../store/trigger-rules.ts';
import { getWorkflow } from '../store/workflows.ts';
import { type PlatformEvent, maxChainDepth } from './event-match.ts';
import {
  type RuleAction,
  type RunAction,
  isRetryableStatus,
  matchRule,
  maxDeliveryAttempts,
  retryDelayMs,
  ruleParams,
} from './rule-model.ts';
import { PassLoop } from './pass-loop.ts';
import { signGeneric } from './signature.ts';

export interface RuleRunnerOptions {
  database: Database;
  clock: Clock;
  executions: ExecutionService;
  /** The egress client of workflow calls: deliveries to refused addresses fail, final. */
  egress: Dispatcher;
  /** Opens the rules' sealed signing secrets. */
  secrets: SecretService;
  /** Pause between delivery passes; 0: no loop (tests call `tick`). */
  intervalMs: number;
  onError(err: unknown, context: Record<string, unknown>): void;
}

/** How long one attempt may take before the receiver counts as unreachable. */
const requestTimeoutMs = 10_000;
/** A claimed attempt is sent again after this, should its sender have died meanwhile. */
const claimLeaseMs = 60_000;
/** The most a Retry-After may delay an attempt. */
const maxRetryAfterMs = 3_600_000;

export class RuleRunner {
  private readonly loop: PassLoop;

  constructor(private readonly opts: RuleRunnerOptions) {
    this.loop = new PassLoop(opts.intervalMs, opts.clock, (now) =>
      this.sendDue(now).catch((err: unknown) =>
        this.opts.onError(err, { what: 'rule deliveries' }),
      ),
    );
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Matches one event against the enabled rules; safe to repeat for the same event. */
  async fire(event: PlatformEvent): Promise<Outcome> {
    const outcome: Outcome = { executions: [], unmatched: [] };
    let scheduled = false;
    for (const rule of await rulesSql.listRules(this.opts.database.db, { enabledOnly: true })) {
      const action = JSON.parse(rule.action) as RuleAction;
      const m = matchRule({ name: rule.name, event: rule.event_glob, if: rule.condition }, event);
      if (m.kind === 'not_listening') continue;
      if (action.type === 'webhook') {
        if (m.kind === 'match')
          scheduled = (await this.schedule(rule, action.url, event)) || scheduled;
        continue;
      }
      const result = await this.startRun(rule, action, event, m);
      if ('executionId' in result) outcome.executions.push(result);
      else outcome.unmatched.push(result);
    }
    // Sent right away rather than at the next pass; a pass that finds it claimed skips it.
    if (scheduled && !this.loop.stopped) void this.tick();
    return outcome;
  }

  /** One delivery pass at `now`: sends every due attempt; passes never overlap in one process. */
  tick(now?: Date): Promise<void> {
    return this.loop.tick(now);
  }

  private async startRun(
    rule: TriggerRuleRow,
    action: RunAction,
    event: PlatformEvent,
    m: Exclude<ReturnType<typeof matchRule>, { kind: 'not_listening' }>,
  ): Promise<Outcome['executions'][number] | Outcome['unmatched'][number]> {
    const wf = await getWorkflow(this.opts.database.db, action.workflowId);
    const named = {
      workflowId: action.workflowId,
      workflowName: wf?.name ?? '',
      version: wf?.active_version ?? wf?.latest_version ?? 0,
      ruleId: rule.id,
    };
    const not = (why: string) => ({ ...named, reason: `rule '${rule.name}': ${why}` });
    if (m.kind === 'no_match') return not(m.reason);
    if (!wf || wf.status === 'archived') return not('the workflow is archived');
    if (wf.active_version === null)
      return not('the workflow has no published version; drafts never fire (publish it first)');
    if (event.chainDepth > maxChainDepth)
      return not(
        `the event is ${event.chainDepth} execution events deep (at most ${maxChainDepth}): a loop guard stops the chain`,
      );
    const mapped = ruleParams(action, event, m.trigger);
    if ('error' in mapped) return not(mapped.error);
    try {
      const { accepted } = await this.opts.executions.run(
        wf.id,
        { version: wf.active_version, params: mapped.params },
        {
          actor: `rule:${rule.name}`,
          idempotencyKey: `${event.id}:rule:${rule.id}`,
          trigger: m.trigger,
        },
      );
      return { ...named, executionId: accepted.id };
    } catch (err) {
      // Params the workflow's inputs refuse, or a workflow archived since: the event says so.
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      return not(`matched but could not start: ${err.message}`);
    }
  }

  /** Attempt 1 of a delivery, due now; false when this event was scheduled for the rule before. */
  private schedule(rule: TriggerRuleRow, url: string, event: PlatformEvent): Promise<boolean> {
    const now = this.opts.clock.now();
    return rulesSql.insertDelivery(this.opts.database.db, {
      id: newId('rdl', now.getTime()),
      rule_id: rule.id,
      event_id: event.id,
      attempt: 1,
      state: 'scheduled',
      url,
      http_status: null,
      error: null,
      next_attempt_at: now.toISOString(),
      created_at: now.toISOString(),
      finished_at: null,
    });
  }

  private async sendDue(now: Date): Promise<void> {
    const db = this.opts.database.db;
    for (;;) {
      const due = await rulesSql.listDueDeliveries(db, now.toISOString(), 50);
      let sent = 0;
      for (const row of due) {
        const leaseUntil = new Date(now.getTime() + claimLeaseMs).toISOString();
        if (!(await rulesSql.claimDelivery(db, row, leaseUntil))) continue;
        sent++;
        await this.attempt(row, now, leaseUntil);
      }
      if (due.length < 50 || sent === 0) return;
    }
  }

  /** Sends one claimed attempt and records how it ended, scheduling the next when worth it. */
  private async attempt(row: RuleDeliveryRow, now: Date, leaseUntil: string): Promise<void> {
    const db = this.opts.database.db;
    const rule = await rulesSql.getRule(db, row.rule_id);
    const eventRow = await getPlatformEvent(db, row.event_id);
    const finish = (r: {
      state: 'delivered' | 'retried' | 'failed';
      status?: number;
      error?: string;
    }) =>
      rulesSql.finishDelivery(db, row.id, leaseUntil, {
        state: r.state,
        http_status: r.status ?? null,
        error: r.error ?? null,
        finished_at: this.opts.clock.now().toISOString(),
      });
    if (!rule || rule.enabled !== 1 || rule.secret === null) {
      await finish({
        state: 'failed',
        error: 'the rule was disabled or deleted before this attempt',
      });
      return;
    }
    if (!eventRow) {
      await finish({ state: 'failed', error: `the event ${row.event_id} no longer exists` });
      return;
    }
    // Throws for a key rotated since this server started: the attempt stays claimed, and a
    // server with the current key sends it once the claim lapses.
    const secret = await this.opts.secrets.openColumn(rule.secret);
    const body = JSON.stringify({
      id: eventRow.id,
      type: eventRow.type,
      subject: eventRow.subject,
      data: JSON.parse(eventRow.data) as unknown,
      source: eventRow.source,
      timestamp: eventRow.created_at,
    });
    const result = await post(this.opts.egress, row.url, body, {
      'content-type': 'application/json',
      'user-agent': 'Switchyard',
      'x-switchyard-event': eventRow.type,
      'x-switchyard-event-id': eventRow.id,
      'x-switchyard-delivery': row.id,
      ...signGeneric(secret, body, this.opts.clock.now().getTime() / 1000),
    });
    if (result.kind === 'answered' && result.status >= 200 && result.status < 300) {
      await finish({ state: 'delivered', status: result.status });
      return;
    }
    const retryable =
      result.kind === 'network' || (result.kind === 'answered' && isRetryableStatus(result.status));
    const error =
      result.kind === 'answered' ? `the receiver answered ${result.status}` : result.message;
    const status = result.kind === 'answered' ? result.status : undefined;
    if (!retryable || row.attempt >= maxDeliveryAttempts) {
      const last = retryable ? `; gave up after ${row.attempt} attempts` : '';
      await finish({
        state: 'failed',
        error: `${error}${last}`,
        ...(status !== undefined && { status }),
      });
      return;
    }
    if (!(await finish({ state: 'retried', error, ...(status !== undefined && { status }) })))
      return;
    const wait = Math.max(
      retryDelayMs(row.attempt),
      result.kind === 'answered' ? result.retryAfterMs : 0,
    );
    const at = new Date(now.getTime() + wait).toISOString();
    await rulesSql.insertDelivery(db, {
      ...row,
      id: newId('rdl', this.opts.clock.now().getTime()),
      attempt: row.attempt + 1,
      state: 'scheduled',
      http_status: null,
      error: null,
      next_attempt_at: at,
      created_at: this.opts.clock.now().toISOString(),
      finished_at: null,
    });
  }
}

type PostResult =
  | { kind: 'answered'; status: number; retryAfterMs: number }
  /** Unreachable, reset, timed out: worth another attempt. */
  | { kind: 'network'; message: string }
  /** The egress policy refused the address: final, another attempt would be refused too. */
  | { kind: 'forbidden'; message: string };

async function post(
  egress: Dispatcher,
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<PostResult> {
  try {
    const res = await request(url, {
      method: 'POST',
      body,
      headers,
      dispatcher: egress,
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    // The answer's body says nothing the delivery log keeps; read it so the socket is reused.
    await res.body.dump();
    const header = res.headers['retry-after'];
    const seconds = Number(Array.isArray(header) ? header[0] : header);
    const retryAfterMs = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
    return {
      kind: 'answered',
      status: res.statusCode,
      retryAfterMs: Math.min(retryAfterMs, maxRetryAfterMs),
    };
  } catch (err) {
    const cause = (err as { cause?: unknown } | undefined)?.cause;
    const refused =
      err instanceof EgressForbiddenError
        ? err
        : cause instanceof EgressForbiddenError
          ? cause
          : undefined;
    if (refused !== undefined) return { kind: 'forbidden', message: refused.message };
    return { kind: 'network', message: networkMessage(err) };
  }
}

function networkMessage(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `the request failed: ${code}${message}`;
}
