/**
 * Which workflows a platform event starts (DESIGN §7), decided without I/O: the caller loads the
 * event and the listening workflows, this file says, for each, "start it" or why not. Only the
 * active published version of a live workflow fires; drafts and archived workflows are listed
 * with the reason so `GET /api/v1/events/{id}` can explain a run that did not happen.
 */
import type { EventTrigger, Trigger } from '../definition/index.ts';
import { ExpressionError, evaluateCondition } from '../engine/expressions.ts';
import type { TriggerInfo } from '../engine/types.ts';
import { compileGlob } from '../glob.ts';

/** An `execution.*` event deeper than this starts nothing (CLARIFICATIONS: the loop guard). */
export const maxChainDepth = 10;

export interface PlatformEvent {
  id: string;
  type: string;
  subject: string | null;
  data: Record<string, unknown>;
  source: string;
  actor: string;
  timestamp: string;
  chainDepth: number;
}

export interface Listener {
  workflowId: string;
  workflowName: string;
  workflowStatus: string;
  version: number;
  versionStatus: string;
  triggers: Trigger[];
}

export type ListenerOutcome =
  /** Not one event trigger names this event type: the workflow is not listed on the event. */
  | { kind: 'not_listening' }
  | { kind: 'match'; trigger: TriggerInfo }
  | { kind: 'no_match'; reason: string };

/** What a run started by `event` records as its `trigger` (and what `trigger` is in an `if`). */
export function triggerInfoOf(event: PlatformEvent): TriggerInfo {
  return {
    type: 'event',
    eventType: event.type,
    ...(event.subject !== null && { subject: event.subject }),
    eventId: event.id,
    actor: event.actor,
    data: event.data,
    chainDepth: event.chainDepth,
  };
}

export function matchListener(event: PlatformEvent, listener: Listener): ListenerOutcome {
  const named = listener.triggers.filter(
    (t): t is EventTrigger =>
      t.type === 'event' && typeof t.event === 'string' && globMatches(t.event, event.type),
  );
  if (named.length === 0) return { kind: 'not_listening' };
  if (listener.workflowStatus === 'archived')
    return { kind: 'no_match', reason: 'the workflow is archived; archived workflows never fire' };
  if (listener.workflowStatus !== 'published' || listener.versionStatus !== 'published')
    return {
      kind: 'no_match',
      reason: 'the workflow has no published version; drafts never fire (publish it first)',
    };
  if (event.chainDepth > maxChainDepth)
    return {
      kind: 'no_match',
      reason: `the event is ${event.chainDepth} execution events deep (at most ${maxChainDepth}): a loop guard stops the chain`,
    };
  const trigger = triggerInfoOf(event);
  const reasons: string[] = [];
  for (const t of named) {
    const why = triggerMismatch(event, trigger, t);
    if (why === undefined) return { kind: 'match', trigger };
    reasons.push(named.length > 1 ? `trigger '${t.event}': ${why}` : why);
  }
  return { kind: 'no_match', reason: reasons.join('; ') };
}

/** Why one event trigger does not take the event, or undefined when it does. */
function triggerMismatch(
  event: PlatformEvent,
  trigger: TriggerInfo,
  t: EventTrigger,
): string | undefined {
  if (!globMatches(t.event, event.type))
    return `event type '${event.type}' does not match '${t.event}'`;
  const branchWhy = stringFilter(event.data.branch, 'data.branch', 'branches', t.branches);
  if (branchWhy !== undefined) return branchWhy;
  const repoWhy = stringFilter(
    event.data.repository,
    'data.repository',
    'repositories',
    t.repositories,
  );
  if (repoWhy !== undefined) return repoWhy;
  if (t.paths !== undefined) {
    const paths = event.data.paths;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string'))
      return 'the trigger filters paths and the event has no data.paths list of strings';
    if (!paths.some((p) => t.paths!.some((g) => globMatches(g, p))))
      return `none of the ${paths.length} paths in data.paths matches ${list(t.paths)}`;
  }
  if (t.if !== undefined) {
    try {
      if (!evaluateCondition(t.if, { event: eventContext(event), trigger }))
        return `if '${t.if}' is false`;
    } catch (err) {
      if (err instanceof ExpressionError)
        return `if '${t.if}' could not be evaluated: ${err.message}`;
      throw err;
    }
  }
  return undefined;
}

/** `event` in an `if`: the event as `GET /api/v1/events/{id}` shows it. */
export function eventContext(event: PlatformEvent): Record<string, unknown> {
  return {
    id: event.id,
    type: event.type,
    subject: event.subject,
    data: event.data,
    source: event.source,
    actor: event.actor,
    timestamp: event.timestamp,
    chainDepth: event.chainDepth,
  };
}

function stringFilter(
  value: unknown,
  field: string,
  key: string,
  globs: string[] | undefined,
): string | undefined {
  if (globs === undefined) return undefined;
  if (typeof value !== 'string' || value === '')
    return `the trigger filters ${key} and the event has no ${field}`;
  if (!globs.some((g) => globMatches(g, value)))
    return `${field} '${value}' matches none of ${list(globs)}`;
  return undefined;
}

function list(globs: string[]): string {
  return `[${globs.join(', ')}]`;
}

/** Event types, branches, paths and repositories are '/'-separated names, as glob.ts expects. */
function globMatches(glob: string, value: string): boolean {
  return compileGlob(glob).matches(value);
}
