import { Type } from 'typebox';
import { CelString, NodeIdList, nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import { evaluate } from '../engine/expressions.ts';
import { defineNodeType, successorProblems } from './node-type.ts';

const CaseSchema = Type.Object(
  {
    equals: Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
    to: NodeIdList({ minItems: 1 }),
  },
  { additionalProperties: false, 'x-name': 'case' },
);

/** Multi-way branch on a value: the first case equal to it chooses the successors. */
const SwitchNodeSchema = nodeSchema('switch', {
  value: CelString('the value compared with each case'),
  cases: Type.Array(CaseSchema, { minItems: 1 }),
  default: Type.Optional(NodeIdList()),
});

export const switchNode = defineNodeType({
  type: 'switch',
  schema: SwitchNodeSchema,
  description:
    'Evaluates a CEL value and runs the successors of the first equal case (or `default`).',
  outputs: [
    { name: 'value', type: 'any', description: 'the value of `value`' },
    { name: 'matched', type: 'any | null', description: "the matching case's `equals`, or null" },
  ],
  start(d, id, node, attempt) {
    const value = evaluate(node.value, d.exprContext());
    const hit = node.cases.find((c) => c.equals === value);
    succeed(
      d,
      id,
      { value, matched: hit ? hit.equals : null },
      { attempt, chosen: hit ? hit.to : (node.default ?? []) },
    );
  },
  choices: (node) => [...node.cases.flatMap((c) => c.to), ...(node.default ?? [])],
  check: (node, ctx) => [
    ...node.cases.flatMap((c, i) => successorProblems(c.to, ctx, 'cases', i, 'to')),
    ...successorProblems(node.default ?? [], ctx, 'default'),
  ],
});
