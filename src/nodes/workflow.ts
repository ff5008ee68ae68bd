import { Type } from 'typebox';
import { FreeMap, NonEmptyString, nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import { render } from '../engine/expressions.ts';
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
  start(d, id, node, attempt) {
    const childExecutionId = d.ctx.newId('exec');
    const params = render(
      (node.params as Record<string, unknown> | undefined) ?? {},
      d.exprContext(),
    );
    d.setNode(id, { status: 'running', attempt, startedAt: d.nowIso, childExecutionId });
    d.commands.push({
      type: 'startChild',
      nodeId: id,
      childExecutionId,
      workflow: node.workflow as string,
      ...(typeof node.version === 'number' && { version: node.version }),
      params,
    });
    if (node.wait === false)
      succeed(d, id, { executionId: childExecutionId }, { childExecutionId: null });
  },
};
