import { nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** Does nothing and succeeds: a join point, and the node of benchmarks and tests. */
export const NoopNodeSchema = nodeSchema('noop', {});

export const noopNode: NodeTypeSpec = {
  type: 'noop',
  schema: NoopNodeSchema,
  description: 'Succeeds at once with no outputs.',
  start: (d, id, _node, attempt) => succeed(d, id, {}, { attempt }),
};
