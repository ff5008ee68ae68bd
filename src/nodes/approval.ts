import { Type } from 'typebox';
import type { ErrorDetail } from '../errors.ts';
import { NonEmptyString, NodeIdString, nodeSchema } from '../definition/model.ts';
import { quote } from '../definition/keys.ts';
import { requestPrompt } from '../engine/approval.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** Waits for a human decision (POST .../resume). */
export const ApprovalNodeSchema = nodeSchema('approval', {
  message: Type.Optional(Type.String()),
  approvers: Type.Optional(Type.Array(NonEmptyString())),
  onReject: Type.Optional(NodeIdString()),
});

export const approvalNode: NodeTypeSpec = {
  type: 'approval',
  schema: ApprovalNodeSchema,
  description:
    'Waits for approve or reject; a rejection fails the node, or runs `on_reject` instead.',
  start: (d, id, node, attempt) => requestPrompt(d, id, node, 'approval', attempt),
  rejectRoute: (node) => (typeof node.onReject === 'string' ? node.onReject : undefined),
  check(node, ctx) {
    const problems: ErrorDetail[] = [];
    const target = node.onReject as string | undefined;
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
};
