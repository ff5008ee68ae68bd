import { Type } from 'typebox';
import { FreeMap, NonEmptyString, nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import { render } from '../engine/expressions.ts';
import { defineNodeType } from './node-type.ts';

/** Runs another workflow as a child execution. */
const WorkflowNodeSchema = nodeSchema('workflow', {
  workflow: NonEmptyString({ description: 'id or name of the workflow to run' }),
  version: Type.Optional(Type.Integer({ minimum: 1 })),
  params: Type.Optional(FreeMap()),
  wait: Type.Optional(Type.Boolean({ default: true })),
});

export const workflowNode = defineNodeType({
  type: 'workflow',
  schema: WorkflowNodeSchema,
  description:
    'Starts another workflow with `params` and (by default) waits for it; its outputs become ours.',
  outputs: [
    { name: 'executionId', type: 'string', description: "the child execution's id" },
    {
      name: 'status',
      type: 'string',
      description: "the child's final status (absent with `wait: false`)",
    },
    {
      name: 'outputs',
      type: 'map',
      description: "the child's outputs (absent with `wait: false`)",
    },
  ],
  start(d, id, node, attempt) {
    const childExecutionId = d.ctx.newId('exec');
    const params = render(node.params ?? {}, d.exprContext());
    d.setNode(id, { status: 'running', attempt, startedAt: d.nowIso, childExecutionId });
    d.commands.push({
      type: 'startChild',
      nodeId: id,
      childExecutionId,
      workflow: node.workflow,
      ...(node.version !== undefined && { version: node.version }),
      params,
    });
    if (node.wait === false)
      succeed(d, id, { executionId: childExecutionId }, { childExecutionId: null });
  },
});
