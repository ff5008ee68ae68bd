import { Type } from 'typebox';
import { DurationString, nodeSchema } from '../definition/model.ts';
import { exactlyOne, type NodeTypeSpec } from './node-type.ts';

/** A durable timer. */
export const WaitNodeSchema = nodeSchema('wait', {
  duration: Type.Optional(DurationString()),
  until: Type.Optional(Type.String({ minLength: 1, 'x-format': 'timestamp-or-cel' })),
});

export const waitNode: NodeTypeSpec = {
  type: 'wait',
  schema: WaitNodeSchema,
  description: 'Waits for a duration or until a time (RFC 3339, or a CEL expression giving one).',
  engineNative: true,
  check: (node, ctx) => exactlyOne(node, 'duration', 'until', ctx),
};
