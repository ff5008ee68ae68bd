/**
 * Trigger rules (DESIGN §7), decided without I/O: the wire shape of a rule (the schemas the routes
 * validate with, used by the service and the CLI alike), the checks a rule passes on save, whether
 * an event matches a rule, the params a run rule maps from the event, and the retry schedule of
 * outbound deliveries.
 */
import { type Static, Type } from 'typebox';
import { conditionError } from '../definition/expressions.ts';
import { ExpressionError, evaluate, evaluateCondition } from '../engine/expressions.ts';
import type { TriggerInfo } from '../engine/types.ts';
import type { ErrorDetail } from '../errors.ts';
import { compileGlob } from '../glob.ts';
import { type PlatformEvent, eventContext, triggerInfoOf } from './event-match.ts';

const RunActionSchema = Type.Object(
  {
    type: Type.Literal('run'),
    workflowId: Type.String({ minLength: 1, maxLength: 64 }),
    params: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 4096 }), {
        description: 'Param name → CEL over `event` (and `trigger`) giving its value.',
      }),
    ),
  },
  { additionalProperties: false },
);

const WebhookActionSchema = Type.Object(
  {
    type: Type.Literal('webhook'),
    url: Type.String({ minLength: 1, maxLength: 2048 }),
  },
  { additionalProperties: false },
);

const RuleActionSchema = Type.Union([RunActionSchema, WebhookActionSchema]);
export type RuleAction = Static<typeof RuleActionSchema>;
export type RunAction = Static<typeof RunActionSchema>;

export const RuleInputSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    enabled: Type.Optional(Type.Boolean()),
    event: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'The event type or a glob over it (pr.*).',
    }),
    if: Type.Optional(Type.String({ maxLength: 4096, description: 'CEL over `event`.' })),
    action: RuleActionSchema,
  },
  { additionalProperties: false },
);
export type RuleInput = Static<typeof RuleInputSchema>;

export const RulePatchSchema = Type.Object(
  {
    name: Type.Optional(RuleInputSchema.properties.name),
    enabled: Type.Optional(Type.Boolean()),
    event: Type.Optional(RuleInputSchema.properties.event),
    if: Type.Optional(
      Type.Union([Type.String({ maxLength: 4096 }), Type.Null()], {
        description: 'null removes the condition.',
      }),
    ),
    action: Type.Optional(RuleActionSchema),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type RulePatch = Static<typeof RulePatchSchema>;

export const RuleSchema = Type.Object({
  id: Type.String({ description: 'rule_…' }),
  name: Type.String(),
  enabled: Type.Boolean(),
  event: Type.String(),
  if: Type.Union([Type.String(), Type.Null()]),
  action: RuleActionSchema,
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type RuleView = Static<typeof RuleSchema>;

const deliveryStates = ['scheduled', 'sending', 'delivered', 'retried', 'failed'] as const;
export type DeliveryState = (typeof deliveryStates)[number];

export const RuleDeliverySchema = Type.Object({
  id: Type.String({ description: 'rdl_…' }),
  ruleId: Type.String(),
  eventId: Type.String(),
  attempt: Type.Integer({ description: '1-based.' }),
  state: Type.Enum([...deliveryStates], {
    description:
      'scheduled (waits for nextAttemptAt), sending, delivered (2xx), retried (failed; a later attempt follows), failed (final)',
  }),
  url: Type.String(),
  httpStatus: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type RuleDeliveryView = Static<typeof RuleDeliverySchema>;

/** A webhook delivery is tried at most this often. */
export const maxDeliveryAttempts = 5;

/** The wait after failed attempt `attempt` (1-based): 1 s, 2 s, 4 s, 8 s. */
export function retryDelayMs(attempt: number): number {
  return 1000 * 2 ** Math.max(0, attempt - 1);
}

/** Which answers are worth another attempt: the receiver is overloaded or broken for now. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Every problem of a rule's filter and action that needs no database (names each field). */
export function ruleProblems(rule: {
  event: string;
  if?: string | null | undefined;
  action: RuleAction;
}): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const globWhy = eventGlobError(rule.event);
  if (globWhy !== undefined) problems.push({ path: 'event', message: globWhy });
  if (rule.if !== undefined && rule.if !== null) {
    const why = conditionError(rule.if);
    if (why !== undefined) problems.push({ path: 'if', message: why });
  }
  if (rule.action.type === 'run') {
    for (const [name, expr] of Object.entries(rule.action.params ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name))
        problems.push({
          path: `action.params.${name}`,
          message: 'a param name is a letter or _ followed by letters, digits, _ or -',
        });
      const why = conditionError(expr);
      if (why !== undefined) problems.push({ path: `action.params.${name}`, message: why });
    }
  } else {
    const why = urlError(rule.action.url);
    if (why !== undefined) problems.push({ path: 'action.url', message: why });
  }
  return problems;
}

/** Event types are dot-separated words; a rule's glob over them may add `*`, `?` and `[…]`. */
export function eventGlobError(glob: string): string | undefined {
  if (glob.trim() === '') return 'is empty';
  if (/[^A-Za-z0-9_.*?[\]!^-]/.test(glob))
    return `'${glob}' may hold only letters, digits, '_', '-', '.' and the glob characters * ? [ ]`;
  if (glob.split('.').some((s) => s === '')) return `'${glob}' has an empty segment between dots`;
  const open = glob.indexOf('[');
  if (open !== -1 && glob.indexOf(']', open + 2) === -1)
    return `'${glob}' has a '[' without its closing ']'`;
  if (glob.includes(']') && open === -1) return `'${glob}' has a ']' without its opening '['`;
  return undefined;
}

function urlError(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `'${text}' is not an absolute URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `'${url.protocol}' URLs are not delivered to; use http or https`;
  if (url.username !== '' || url.password !== '')
    return 'the URL may not hold credentials; deliveries are authenticated by their signature';
  return undefined;
}

/** What a rule is matched with: its filter, as stored. */
export interface RuleFilter {
  name: string;
  event: string;
  if: string | null;
}

export type RuleMatch =
  /** The type glob does not take the event: the rule is not concerned at all. */
  | { kind: 'not_listening' }
  | { kind: 'match'; trigger: TriggerInfo }
  | { kind: 'no_match'; reason: string };

/** What a run started by a rule records as its `trigger`: the event's, with the rule as actor. */
function ruleTrigger(rule: { name: string }, event: PlatformEvent): TriggerInfo {
  return { ...triggerInfoOf(event), actor: `rule:${rule.name}` };
}

export function matchRule(rule: RuleFilter, event: PlatformEvent): RuleMatch {
  if (!compileGlob(rule.event).matches(event.type)) return { kind: 'not_listening' };
  const trigger = ruleTrigger(rule, event);
  if (rule.if === null) return { kind: 'match', trigger };
  try {
    return evaluateCondition(rule.if, { event: eventContext(event), trigger })
      ? { kind: 'match', trigger }
      : { kind: 'no_match', reason: `if '${rule.if}' is false` };
  } catch (err) {
    if (err instanceof ExpressionError)
      return { kind: 'no_match', reason: `if '${rule.if}' could not be evaluated: ${err.message}` };
    throw err;
  }
}

/** A run rule's params, each its CEL over the event; an expression that fails says which. */
export function ruleParams(
  action: RunAction,
  event: PlatformEvent,
  trigger: TriggerInfo,
): { params: Record<string, unknown> } | { error: string } {
  const params: Record<string, unknown> = {};
  const ctx = { event: eventContext(event), trigger };
  for (const [name, expr] of Object.entries(action.params ?? {})) {
    try {
      params[name] = evaluate(expr, ctx);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      return { error: `param '${name}' could not be evaluated: ${err.message}` };
    }
  }
  return { params };
}
