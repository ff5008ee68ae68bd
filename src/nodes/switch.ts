import { Type } from 'typebox';
import { CelString, NodeIdList, nodeSchema } from '../definition/model.ts';
import { succeed } from '../engine/draft.ts';
import { evaluate } from '../engine/expressions.ts';
import { successorProblems, type NodeTypeSpec } from './node-type.ts';

const CaseSchema = Type.Object(
  {
    equals: Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
    to: NodeIdList({ minItems: 1 }),
  },
  { additionalProperties: false, 'x-name': 'case' },
);

/** Multi-way branch on a value: the first case equal to it chooses the successors. */
export const SwitchNodeSchema = nodeSchema('switch', {
  value: CelString('the value compared with each case'),
  cases: Type.Array(CaseSchema, { minItems: 1 }),
  default: Type.Optional(NodeIdList()),
});

interface Case {
  equals: string | number | boolean;
  to: string[];
}

export const switchNode: NodeTypeSpec = {
  type: 'switch',
  schema: SwitchNodeSchema,
  description:
    'Evaluates a CEL value and runs the successors of the first equal case (or `default`).',
  start(d, id, node, attempt) {
    const value = evaluate(node.value as string, d.exprContext());
    const hit = (node.cases as Case[]).find((c) => c.equals === value);
    succeed(
      d,
      id,
      { value, matched: hit ? hit.equals : null },
      { attempt, chosen: hit ? hit.to : ((node.default as string[]) ?? []) },
    );
  },
  choices: (node) => [
    ...((node.cases as Case[] | undefined) ?? []).flatMap((c) => c.to),
    ...((node.default as string[]) ?? []),
  ],
  check: (node, ctx) => [
    ...(node.cases as Case[]).flatMap((c, i) => successorProblems(c.to, ctx, 'cases', i, 'to')),
    ...successorProblems((node.default as string[] | undefined) ?? [], ctx, 'default'),
  ],
};
