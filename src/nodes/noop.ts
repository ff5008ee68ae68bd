import { nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import { defineNodeType } from './node-type.ts';

/** Does nothing and succeeds: a join point, and the node of benchmarks and tests. */
const NoopNodeSchema = nodeSchema('noop', {});

export const noopNode = defineNodeType({
  type: 'noop',
  schema: NoopNodeSchema,
  description: 'Succeeds at once with no outputs.',
  outputs: [],
  start: (d, id, _node, attempt) => succeed(d, id, {}, { attempt }),
  // At top level the engine completes it (start); inside parallel/map/loop it runs here.
  execute: () => Promise.resolve({ status: 'succeeded', outputs: {} }),
});
