import { Type } from 'typebox';
import { FreeMap, nodeSchema } from '../definition/model.ts';
import { requestPrompt } from '../engine/approval.ts';
import type { NodeTypeSpec } from './node-type.ts';

/** Waits for a message (POST .../followup). */
export const InputNodeSchema = nodeSchema('input', {
  message: Type.Optional(Type.String()),
  schema: Type.Optional(FreeMap()),
});

export const inputNode: NodeTypeSpec = {
  type: 'input',
  schema: InputNodeSchema,
  description: 'Waits for a follow-up message; its text and data become the outputs.',
  start: (d, id, node, attempt) => requestPrompt(d, id, node, 'input', attempt),
};
