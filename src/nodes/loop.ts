import { Type } from 'typebox';
import { CelString, InlineNodeSchema, nodeSchema } from '../definition/model.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** Repeats an inline node template until a condition holds, bounded. */
export const LoopNodeSchema = nodeSchema('loop', {
  node: InlineNodeSchema,
  until: CelString('checked after each iteration'),
  maxIterations: Type.Integer({ minimum: 1, maximum: 10000 }),
});

export const loopNode: NodeTypeSpec = {
  type: 'loop',
  schema: LoopNodeSchema,
  description:
    'Runs its node template repeatedly until `until` holds or `max_iterations` is reached.',
  lateFields: ['until', 'node'],
  // executors/loop.ts: each run gets iteration and the previous outputs; `until` the run's outputs.
  expressionNames: {
    inline: ['iteration', 'previous'],
    fields: { until: ['iteration', 'outputs'] },
  },
};
