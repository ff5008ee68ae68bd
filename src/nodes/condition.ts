import { Type } from 'typebox';
import { CelString, NodeIdList, nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import { evaluateCondition } from '../engine/expressions.ts';
import { defineNodeType, successorProblems } from './node-type.ts';

/** Two-way branch: successors not chosen become `skipped`. */
const ConditionNodeSchema = nodeSchema('condition', {
  expression: CelString('chooses `then` when true, `else` when false'),
  then: Type.Optional(NodeIdList()),
  else: Type.Optional(NodeIdList()),
});

export const conditionNode = defineNodeType({
  type: 'condition',
  schema: ConditionNodeSchema,
  description: 'Evaluates a CEL expression and runs the `then` or the `else` successors.',
  outputs: [{ name: 'result', type: 'bool', description: 'the value of `expression`' }],
  start(d, id, node, attempt) {
    const result = evaluateCondition(node.expression, d.exprContext());
    const chosen = (result ? node.then : node.else) ?? [];
    succeed(d, id, { result }, { attempt, chosen });
  },
  choices: (node) => [...(node.then ?? []), ...(node.else ?? [])],
  check: (node, ctx) => [
    ...successorProblems(node.then ?? [], ctx, 'then'),
    ...successorProblems(node.else ?? [], ctx, 'else'),
  ],
});
