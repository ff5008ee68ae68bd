/**
 * Executions on the wire (DESIGN §4): the summary lists show, the detail with its nodes and their
 * attempts, the answer to a run request; the dead letter queue and a workflow's usage.
 */
import { type Static, Type } from 'typebox';
import {
  dlqStatuses,
  executionStatuses,
  itemStatuses,
  nodeStatuses,
  nodeStatusReasons,
} from '../engine/status.ts';
import { AnyObject, Nullable, literalUnion } from './common.ts';

export const ExecutionStatusSchema = literalUnion(executionStatuses);
export const NodeStatusSchema = literalUnion(nodeStatuses);

const Tokens = Type.Object({ prompt: Type.Integer(), completion: Type.Integer() });

const unpricedField = Type.Optional(
  Type.Boolean({
    description:
      'Present (true) when tokens were spent on a model modelPrices does not price: estimatedUsd leaves them out, it is not a real $0.',
  }),
);

const CostSchema = Type.Object({
  estimatedUsd: Type.Number(),
  tokens: Tokens,
  computeSeconds: Type.Number(),
  unpriced: unpricedField,
  models: Type.Optional(
    Type.Record(
      Type.String(),
      Type.Object({
        prompt: Type.Integer(),
        completion: Type.Integer(),
        estimatedUsd: Type.Number(),
        unpriced: Type.Optional(Type.Boolean()),
      }),
      { description: 'Tokens and their USD per model (absent when no tokens were spent).' },
    ),
  ),
});

const TriggerInfoSchema = Type.Object({
  type: Type.String(),
  eventType: Type.Optional(Type.String()),
  subject: Type.Optional(Type.String()),
  actor: Type.Optional(Type.String()),
  eventId: Type.Optional(Type.String({ description: 'The platform event that started the run.' })),
  data: Type.Optional(AnyObject({ description: "That event's data." })),
  chainDepth: Type.Optional(
    Type.Integer({ description: 'How many execution.* events led to this run.' }),
  ),
  scheduledAt: Type.Optional(Type.String({ format: 'date-time' })),
});

const NodeErrorSchema = Type.Object(
  {
    message: Type.String(),
    code: Type.String(),
    exitCode: Type.Optional(Type.Integer()),
    retryable: Type.Optional(Type.Boolean()),
    retryAfterMs: Type.Optional(Type.Number()),
  },
  { additionalProperties: true },
);

/** One attempt of a node, with its own times. */
const AttemptViewSchema = Type.Object({
  attempt: Type.Integer(),
  status: Type.String({
    description:
      'How it ended (`succeeded`, `failed`, `cancelled`), or the node status while it runs.',
  }),
  startedAt: Nullable(Type.String({ format: 'date-time' })),
  endedAt: Nullable(Type.String({ format: 'date-time' })),
  durationMs: Nullable(Type.Integer()),
  exitCode: Type.Optional(Type.Integer()),
  error: Nullable(NodeErrorSchema),
});
export type AttemptView = Static<typeof AttemptViewSchema>;

/** One child of a fan-out node: a map item, a parallel branch, a loop iteration. */
const ItemViewSchema = Type.Object({
  index: Type.Integer({
    description: "The item's index, the branch's place among the branches, the iteration.",
  }),
  key: Type.Optional(Type.String({ description: "A parallel branch's id." })),
  status: literalUnion(itemStatuses, {
    description:
      '`running`, `succeeded` (later attempts reuse its outputs), `failed` or `cancelled` (the next attempt runs it again).',
  }),
  attempt: Type.Integer({ description: 'The node attempt that ran it last.' }),
  startedAt: Nullable(Type.String({ format: 'date-time' })),
  endedAt: Nullable(Type.String({ format: 'date-time' })),
  error: Type.Optional(NodeErrorSchema),
  cost: Type.Optional(CostSchema),
});
export type ItemView = Static<typeof ItemViewSchema>;

export const NodeViewSchema = Type.Object({
  nodeId: Type.String(),
  type: Type.String(),
  status: NodeStatusSchema,
  statusReason: Type.Optional(
    literalUnion(nodeStatusReasons, {
      description:
        'Why a skipped node was skipped: `upstream_failed` (a failure stopped the run before it could start; an execution retry reopens it) or `branch_not_taken` (no incoming edge was taken or its `if` was false; decided again when its predecessors re-run).',
    }),
  ),
  attempt: Type.Integer(),
  startedAt: Nullable(
    Type.String({ format: 'date-time', description: 'When the first attempt started.' }),
  ),
  endedAt: Nullable(Type.String({ format: 'date-time' })),
  durationMs: Nullable(Type.Integer({ description: 'From the first start to the end.' })),
  attempts: Type.Array(AttemptViewSchema, {
    description:
      'Each attempt that ran, oldest first, with its own times (a re-run after a takeover has none of its own).',
  }),
  items: Type.Optional(
    Type.Array(ItemViewSchema, {
      description:
        'A map, parallel or loop node: each child that started, by index, with the attempt that ran it (a child that succeeded is not run again by a later attempt).',
    }),
  ),
  error: Nullable(NodeErrorSchema),
  outputs: Nullable(AnyObject()),
  cost: CostSchema,
  waitingFor: Type.Optional(
    Type.Object({
      kind: Type.String(),
      message: Nullable(Type.String()),
      requestedAt: Type.String(),
    }),
  ),
  childExecutionId: Type.Optional(Type.String()),
  agent: Type.Optional(
    Type.Object(
      {
        attempt: Type.Integer({ description: 'The attempt these counts are of.' }),
        steps: Type.Integer({ description: 'Model calls made so far.' }),
        toolCalls: Type.Integer({ description: 'Tool calls made so far.' }),
      },
      {
        description:
          'An agent node: how far its latest attempt got, one step per `agent.step` event (updated while it runs).',
      },
    ),
  ),
});
/** A node of an execution's detail: its state, attempts, outputs and cost. */
export type NodeView = Static<typeof NodeViewSchema>;

const executionSummaryFields = {
  id: Type.String(),
  workflowId: Type.String(),
  version: Type.Integer(),
  status: ExecutionStatusSchema,
  trigger: TriggerInfoSchema,
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Nullable(Type.String({ format: 'date-time' })),
  endedAt: Nullable(Type.String({ format: 'date-time' })),
  durationMs: Nullable(Type.Integer()),
  error: Nullable(
    Type.Object({
      message: Type.String(),
      code: Type.String(),
      nodeId: Type.Optional(Type.String()),
    }),
  ),
  cost: CostSchema,
  parentExecutionId: Nullable(Type.String()),
  statusReason: Type.Optional(
    Type.String({
      description:
        'Why the execution is where it is; while it waits in its concurrency group: `concurrency: waiting for group <key> (<n> running)`.',
    }),
  ),
  concurrencyGroup: Type.Optional(
    Type.String({ description: 'The concurrency group key rendered when the run was created.' }),
  ),
};

export const ExecutionSummarySchema = Type.Object(executionSummaryFields);
/** An execution as lists show it. */
export type ExecutionSummary = Static<typeof ExecutionSummarySchema>;

const EnvironmentInfoSchema = Type.Object(
  {
    runtime: Type.String({ description: '`local` or `docker`.' }),
    isolation: Type.String({
      description: 'How the nodes are isolated: `plain`, `bwrap+cgroup-v1`, `docker`, ...',
    }),
    unenforced: Type.Array(Type.String(), {
      description:
        "Limits or isolation asked for but not enforced by this runtime (`identity`: commands run as the server's user).",
    }),
    user: Type.Optional(
      Type.String({
        description:
          "Who the commands run as: `sandbox (uid 3001234)`, `a uid per execution`, `the server's user (uid 1000)`, or on docker `runtime_config.user`, else the image's user (`root`).",
      }),
    ),
    readOnlyPaths: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Extra host paths bound read-only into the sandbox (server config).',
      }),
    ),
    network: Type.Optional(
      Type.String({
        description:
          'The network the commands had: `none` (own loopback only), `outbound` (the outside, not the host or private ranges) or `host`. An `outbound` the runtime cannot give runs as `none` and lists `outbound` in `unenforced`.',
      }),
    ),
  },
  { description: 'Where the nodes run; present once an environment was acquired.' },
);

export const ExecutionSchema = Type.Object({
  ...executionSummaryFields,
  params: AnyObject(),
  createdBy: Type.String(),
  nodes: Type.Array(NodeViewSchema),
  lastSeq: Type.Integer({
    description:
      'The seq of its latest event: `GET …/stream?from=<lastSeq + 1>` (or `Last-Event-ID: <lastSeq>`) streams only what happens next, e.g. after a retry.',
  }),
  turn: Type.Optional(Type.Integer()),
  conversation: Type.Optional(
    Type.Array(
      Type.Object({
        role: Type.String(),
        content: Type.String(),
        turn: Type.Integer(),
        at: Type.String(),
        data: Type.Optional(Type.Unknown()),
      }),
    ),
  ),
  environment: Type.Optional(EnvironmentInfoSchema),
  secrets: Type.Array(Type.String(), {
    description:
      'Names of the secrets its nodes used (`${{ secrets.NAME }}`), sorted; never their values, which are masked as `***` in its logs, outputs, errors, events and DLQ entries.',
  }),
});
/** An execution's detail: its summary, params and each node with its attempts. */
export type ExecutionView = Static<typeof ExecutionSchema>;

export const RunAcceptedSchema = Type.Object({
  id: Type.String(),
  workflowId: Type.String(),
  version: Type.Integer(),
  status: ExecutionStatusSchema,
});
/** The answer to a run request (202). */
export type RunAccepted = Static<typeof RunAcceptedSchema>;

// --- the dead letter queue ---------------------------------------------------------------------

export const DlqStatusSchema = literalUnion(dlqStatuses);

export const DlqSchema = Type.Object({
  id: Type.String(),
  executionId: Type.String(),
  workflowId: Type.String(),
  version: Type.Integer(),
  nodeId: Type.String(),
  attempts: Type.Integer(),
  error: NodeErrorSchema,
  logTail: Type.Array(Type.String(), {
    description: 'The node’s last log lines (all attempts), as `[stream] text`.',
  }),
  logLines: Type.Array(
    Type.Object({
      attempt: Nullable(
        Type.Integer({
          description:
            'The attempt that wrote the line (0: the system, outside an attempt); null for entries written before attempts were kept.',
        }),
      ),
      stream: Type.String({ description: 'stdout, stderr or system' }),
      text: Type.String(),
    }),
    { description: 'The same lines as logTail, each with the attempt that wrote it.' },
  ),
  inputs: AnyObject(),
  status: DlqStatusSchema,
  createdAt: Type.String({ format: 'date-time' }),
  resolvedAt: Nullable(Type.String({ format: 'date-time' })),
  resolvedBy: Nullable(Type.String()),
  note: Nullable(Type.String()),
});
/** A node that failed for good, with its error, inputs and last log lines. */
export type DlqView = Static<typeof DlqSchema>;
export type DlqLogLine = DlqView['logLines'][number];

// --- usage -------------------------------------------------------------------------------------

const UsageGroupSchema = Type.Object({
  key: Type.String(),
  attempts: Type.Integer(),
  computeSeconds: Type.Number(),
  tokens: Tokens,
  estimatedUsd: Type.Number(),
  unpriced: unpricedField,
});
export type UsageGroup = Static<typeof UsageGroupSchema>;

export const UsageSchema = Type.Object({
  workflowId: Type.String(),
  since: Nullable(Type.String()),
  until: Nullable(Type.String()),
  groupBy: Nullable(Type.String()),
  total: UsageGroupSchema,
  groups: Type.Array(UsageGroupSchema),
});
/** A workflow's finished attempts summed, in total and per group. */
export type Usage = Static<typeof UsageSchema>;
