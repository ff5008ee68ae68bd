import { Type } from 'typebox';
import { CelString, NodeIdList, nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import { evaluateCondition } from '../engine/expressions.ts';
import { successorProblems, type NodeTypeSpec } from './node-type.ts';

/** Two-way branch: successors not chosen become `skipped`. */
export const ConditionNodeSchema = nodeSchema('condition', {
  expression: CelString('chooses `then` when true, `else` when false'),
  then: Type.Optional(NodeIdList()),
  else: Type.Optional(NodeIdList()),
});

export const conditionNode: NodeTypeSpec = {
  type: 'condition',
  schema: ConditionNodeSchema,
  description: 'Evaluates a CEL expression and runs the `then` or the `else` successors.',
  start(d, id, node, attempt) {
    const result = evaluateCondition(node.expression as string, d.exprContext());
    const chosen = ((result ? node.then : node.else) as string[] | undefined) ?? [];
    succeed(d, id, { result }, { attempt, chosen });
  },
  choices: (node) => [...((node.then as string[]) ?? []), ...((node.else as string[]) ?? [])],
  check: (node, ctx) => [
    ...successorProblems((node.then as string[] | undefined) ?? [], ctx, 'then'),
    ...successorProblems((node.else as string[] | undefined) ?? [], ctx, 'else'),
  ],
};
