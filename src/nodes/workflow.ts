import { Type } from 'typebox';
import { FreeMap, NonEmptyString, nodeSchema } from '../definition/model.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** Runs another workflow as a child execution. */
export const WorkflowNodeSchema = nodeSchema('workflow', {
  workflow: NonEmptyString({ description: 'id or name of the workflow to run' }),
  version: Type.Optional(Type.Integer({ minimum: 1 })),
  params: Type.Optional(FreeMap()),
  wait: Type.Optional(Type.Boolean({ default: true })),
});

export const workflowNode: NodeTypeSpec = {
  type: 'workflow',
  schema: WorkflowNodeSchema,
  description:
    'Starts another workflow with `params` and (by default) waits for it; its outputs become ours.',
  engineNative: true,
};
