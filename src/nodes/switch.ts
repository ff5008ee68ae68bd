import { Type } from 'typebox';
import { CelString, NodeIdList, nodeSchema } from '../definition/model.ts';
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
  engineNative: true,
  choices: (node) => [
    ...((node.cases as Case[] | undefined) ?? []).flatMap((c) => c.to),
    ...((node.default as string[]) ?? []),
  ],
  check: (node, ctx) => [
    ...(node.cases as Case[]).flatMap((c, i) => successorProblems(c.to, ctx, 'cases', i, 'to')),
    ...successorProblems((node.default as string[] | undefined) ?? [], ctx, 'default'),
  ],
};
