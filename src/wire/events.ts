/** Platform events as the API shows them: the event, the runs it started and why others did not. */
import { type Static, Type } from 'typebox';
import { AnyObject } from './common.ts';

const StartedRunSchema = Type.Object({
  executionId: Type.String(),
  workflowId: Type.String(),
  workflowName: Type.String(),
  version: Type.Integer(),
  ruleId: Type.Optional(Type.String({ description: 'The trigger rule that started it.' })),
});

const UnmatchedSchema = Type.Object({
  workflowId: Type.String(),
  workflowName: Type.String(),
  version: Type.Integer(),
  reason: Type.String({ description: 'Why this listening workflow did not start.' }),
  ruleId: Type.Optional(Type.String({ description: 'The trigger rule that did not start it.' })),
});

export const PlatformEventSchema = Type.Object({
  id: Type.String({ description: 'evt_…' }),
  type: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  data: AnyObject(),
  source: Type.String({ description: 'api, hook:<hookId> or switchyard' }),
  actor: Type.String(),
  timestamp: Type.String({ format: 'date-time' }),
  chainDepth: Type.Integer({ description: 'How many execution.* events led to this one.' }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('processed')]),
  processedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  executions: Type.Array(StartedRunSchema, { description: 'The runs this event started.' }),
  unmatched: Type.Array(UnmatchedSchema, {
    description: 'Workflows with an event trigger for this type that did not start, and why.',
  }),
});

export type StartedRun = Static<typeof StartedRunSchema>;
export type UnmatchedListener = Static<typeof UnmatchedSchema>;
export type PlatformEventView = Static<typeof PlatformEventSchema>;
