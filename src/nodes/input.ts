import { Type } from 'typebox';
import { FreeMap, nodeSchema } from '../definition/model.ts';
import { requestPrompt } from '../engine/approval.ts';
import { defineNodeType } from './node-type.ts';

/** Waits for a message (POST .../followup). */
const InputNodeSchema = nodeSchema('input', {
  message: Type.Optional(Type.String()),
  schema: Type.Optional(FreeMap()),
});

export const inputNode = defineNodeType({
  type: 'input',
  schema: InputNodeSchema,
  description: 'Waits for a follow-up message; its text and data become the outputs.',
  outputs: [
    { name: 'message', type: 'string', description: 'the follow-up message' },
    { name: 'data', type: 'any | null', description: 'the `data` sent with it' },
    { name: 'actor', type: 'string', description: 'who sent it (the token name)' },
    { name: 'receivedAt', type: 'string', description: 'when (RFC 3339)' },
  ],
  start: (d, id, node, attempt) => requestPrompt(d, id, node, 'input', attempt),
});
