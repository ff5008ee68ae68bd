import { Type } from 'typebox';
import { InlineNodeSchema, nodeSchema } from '../definition/model.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** Runs inline branch nodes side by side. */
export const ParallelNodeSchema = nodeSchema('parallel', {
  branches: Type.Array(InlineNodeSchema, { minItems: 1 }),
  concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
});

export const parallelNode: NodeTypeSpec = {
  type: 'parallel',
  schema: ParallelNodeSchema,
  description:
    'Runs its inline branches concurrently (at most `concurrency` at once); succeeds when all do.',
  lateFields: ['branches'],
  // executors/parallel.ts: each branch runs with its own id as `branch`.
  expressionNames: { inline: ['branch'] },
};
