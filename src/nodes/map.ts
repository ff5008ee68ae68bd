import { Type } from 'typebox';
import { CelString, InlineNodeSchema, nodeSchema } from '../definition/model.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** Fans an inline node template out over a list. */
export const MapNodeSchema = nodeSchema('map', {
  items: CelString('a list; each item is `item` in the template'),
  node: InlineNodeSchema,
  concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
});

export const mapNode: NodeTypeSpec = {
  type: 'map',
  schema: MapNodeSchema,
  description: 'Runs its node template once per item of a list; outputs are the list of results.',
  lateFields: ['items', 'node'],
  // executors/map.ts: `items` is evaluated with the execution's names; each run gets item, index.
  expressionNames: { inline: ['item', 'index'], fields: { items: [] } },
};
