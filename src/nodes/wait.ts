import { type Static, Type } from 'typebox';
import { DurationString, nodeSchema } from '../definition/model.ts';
import { parseDuration } from '../definition/duration.ts';
import { type Draft, addMs } from '../engine/draft.ts';
import { ExpressionError, evaluate } from '../engine/expressions.ts';
import { defineNodeType, exactlyOne } from './node-type.ts';

/** A durable timer. */
const WaitNodeSchema = nodeSchema('wait', {
  duration: Type.Optional(DurationString()),
  until: Type.Optional(Type.String({ minLength: 1, 'x-format': 'timestamp-or-cel' })),
});

export const waitNode = defineNodeType({
  type: 'wait',
  schema: WaitNodeSchema,
  description: 'Waits for a duration or until a time (RFC 3339, or a CEL expression giving one).',
  outputs: [{ name: 'firedAt', type: 'string', description: 'when the timer fired (RFC 3339)' }],
  start(d, id, node, attempt) {
    const at = waitUntil(d, node);
    d.setNode(id, { status: 'running', attempt, startedAt: d.nowIso });
    d.commands.push({ type: 'enqueue', kind: 'timer', nodeId: id, attempt, availableAt: at });
  },
  check: (node, ctx) => exactlyOne(node, 'duration', 'until', ctx),
});

/** When the timer fires: after `duration`, or at `until` (a time, or CEL giving one); never in the past. */
function waitUntil(d: Draft, node: Static<typeof WaitNodeSchema>): string {
  if (node.duration !== undefined) return addMs(d.ctx.now, parseDuration(node.duration) ?? 0);
  const raw = String(node.until);
  const direct = Date.parse(raw);
  const value = Number.isNaN(direct) ? evaluate(raw, d.exprContext()) : raw;
  const at = typeof value === 'number' ? value : Date.parse(String(value));
  if (Number.isNaN(at)) throw new ExpressionError(raw, `wait until '${raw}' is not a time`);
  return new Date(Math.max(at, d.ctx.now.getTime())).toISOString();
}
