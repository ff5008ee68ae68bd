import { Type } from 'typebox';
import type { ErrorDetail } from '../errors.ts';
import { NonEmptyString, NodeIdString, nodeSchema } from '../definition/model.ts';
import { quote } from '../definition/keys.ts';
import { requestPrompt } from '../engine/approval.ts';
import { defineNodeType } from './node-type.ts';

/** Waits for a human decision (POST .../resume). */
const ApprovalNodeSchema = nodeSchema('approval', {
  message: Type.Optional(Type.String()),
  approvers: Type.Optional(Type.Array(NonEmptyString())),
  onReject: Type.Optional(NodeIdString()),
});

export const approvalNode = defineNodeType({
  type: 'approval',
  schema: ApprovalNodeSchema,
  description:
    'Waits for approve or reject; a rejection fails the node, or runs `on_reject` instead.',
  outputs: [
    { name: 'decision', type: 'string', description: '`approve` or `reject`' },
    { name: 'comment', type: 'string | null', description: 'the comment given with the decision' },
    { name: 'data', type: 'any | null', description: 'the `data` given with the decision' },
    { name: 'actor', type: 'string', description: 'who decided (the token name)' },
    {
      name: 'override',
      type: 'boolean',
      description: 'true when an admin token not in `approvers` decided with `override: true`',
    },
    { name: 'decidedAt', type: 'string', description: 'when (RFC 3339)' },
  ],
  start: (d, id, node, attempt) => requestPrompt(d, id, node, 'approval', attempt),
  rejectRoute: (node) => node.onReject,
  check(node, ctx) {
    const problems: ErrorDetail[] = [];
    const target = node.onReject;
    if (target === undefined) return problems;
    if (!ctx.nodeIds.has(target))
      problems.push({ path: ctx.field('onReject'), message: `unknown node ${quote(target)}` });
    else if (target === node.id)
      problems.push({
        path: ctx.field('onReject'),
        message: 'a node cannot route its own rejection to itself',
      });
    return problems;
  },
});
