/** Request and response schemas shared by the routes; they also generate the OpenAPI document. */
import type { FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import {
  ConcurrencySchema,
  GraphSchema,
  RuntimeConfigSchema,
  TriggerConfigSchema,
  VariablesSchema,
} from '../definition/index.ts';
import { allPermissions, workflowStatuses, workflowTypes } from '../types.ts';
import { nodeStatusReasons } from '../engine/status.ts';

export const literalUnion = <T extends string[]>(
  values: readonly [...T],
  opts: { description?: string } = {},
) => Type.Enum<T>(values, opts);

export const ErrorBodySchema = Type.Object(
  {
    error: Type.String({ description: 'Human-readable message.' }),
    code: Type.String({ description: 'Stable code from the error catalog (docs/api.md).' }),
    details: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
    context: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { $id: 'ErrorBody' },
);

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [s, { ...ErrorBodySchema, $id: undefined, description: `Error (${s})` }]),
  );

/**
 * preValidation hook for routes whose JSON body is optional: a request without a body validates
 * (and reaches the handler) as `{}`, since the schema compiler cannot accept `undefined`.
 */
export function emptyBodyIsEmptyObject(req: FastifyRequest): Promise<void> {
  if (req.body === undefined) req.body = {};
  return Promise.resolve();
}

export const WorkflowIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const VersionParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
});

export const NameSchema = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
});
export const DescriptionSchema = Type.String({ maxLength: 4096 });
export const WorkflowTypeSchema = literalUnion(workflowTypes, {
  description: 'agent | ci | chat | automation',
});
export const WorkflowStatusSchema = literalUnion(workflowStatuses, {
  description: 'draft | published | archived',
});
export const PermissionSchema = literalUnion(allPermissions);

export const WorkflowSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  type: WorkflowTypeSchema,
  status: WorkflowStatusSchema,
  version: Type.Integer({ description: 'Newest version number.' }),
  activeVersion: Type.Union([Type.Integer(), Type.Null()], {
    description: 'The published version triggers run; null until published.',
  }),
  graph: GraphSchema,
  variables: VariablesSchema,
  runtimeConfig: RuntimeConfigSchema,
  triggerConfig: TriggerConfigSchema,
  concurrency: Type.Optional(ConcurrencySchema),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const versionMeta = {
  workflowId: Type.String(),
  version: Type.Integer(),
  status: literalUnion(['draft', 'published', 'archived']),
  active: Type.Boolean(),
  source: literalUnion(['create', 'patch', 'restore', 'import']),
  restoredFrom: Type.Union([Type.Integer(), Type.Null()]),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  publishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
};

export const VersionSchema = Type.Object({
  ...versionMeta,
  graph: GraphSchema,
  variables: VariablesSchema,
  triggerConfig: TriggerConfigSchema,
  concurrency: Type.Optional(ConcurrencySchema),
});

export const VersionSummarySchema = Type.Object({ ...versionMeta, nodeCount: Type.Integer() });

export const TokenSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  permissions: Type.Array(PermissionSchema),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** The query of a cursor-paginated list (`?limit=&cursor=`), for routes to spread in. */
export const pageQueryFields = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
};

export const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

// --- executions ------------------------------------------------------------------------------

export const ExecutionIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  execId: Type.String({ minLength: 1, maxLength: 64 }),
});
export const ExecutionStatusSchema = literalUnion([
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
]);
const AnyObject = Type.Object({}, { additionalProperties: true });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const CostSchema = Type.Object({
  estimatedUsd: Type.Number(),
  tokens: Type.Object({ prompt: Type.Integer(), completion: Type.Integer() }),
  computeSeconds: Type.Number(),
});

export const TriggerInfoSchema = Type.Object({
  type: Type.String(),
  eventType: Type.Optional(Type.String()),
  subject: Type.Optional(Type.String()),
  actor: Type.Optional(Type.String()),
  eventId: Type.Optional(Type.String({ description: 'The platform event that started the run.' })),
  data: Type.Optional(
    Type.Object({}, { additionalProperties: true, description: "That event's data." }),
  ),
  chainDepth: Type.Optional(
    Type.Integer({ description: 'How many execution.* events led to this run.' }),
  ),
  scheduledAt: Type.Optional(Type.String({ format: 'date-time' })),
});

export const NodeErrorSchema = Type.Object(
  {
    message: Type.String(),
    code: Type.String(),
    exitCode: Type.Optional(Type.Integer()),
    retryable: Type.Optional(Type.Boolean()),
    retryAfterMs: Type.Optional(Type.Number()),
  },
  { additionalProperties: true },
);

export const NodeViewSchema = Type.Object({
  nodeId: Type.String(),
  type: Type.String(),
  status: literalUnion([
    'pending',
    'queued',
    'running',
    'waiting',
    'succeeded',
    'failed',
    'skipped',
    'cancelled',
  ]),
  statusReason: Type.Optional(
    literalUnion([...nodeStatusReasons], {
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
  attempts: Type.Array(
    Type.Object({
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
    }),
    {
      description:
        'Each attempt that ran, oldest first, with its own times (a re-run after a takeover has none of its own).',
    },
  ),
  error: Nullable(NodeErrorSchema),
  outputs: Nullable(AnyObject),
  cost: CostSchema,
  waitingFor: Type.Optional(
    Type.Object({
      kind: Type.String(),
      message: Nullable(Type.String()),
      requestedAt: Type.String(),
    }),
  ),
  childExecutionId: Type.Optional(Type.String()),
});

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

export const ExecutionSchema = Type.Object({
  ...executionSummaryFields,
  params: AnyObject,
  createdBy: Type.String(),
  nodes: Type.Array(NodeViewSchema),
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
  environment: Type.Optional(
    Type.Object(
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
    ),
  ),
});

export const RunAcceptedSchema = Type.Object({
  id: Type.String(),
  workflowId: Type.String(),
  version: Type.Integer(),
  status: ExecutionStatusSchema,
});

export const DlqSchema = Type.Object({
  id: Type.String(),
  executionId: Type.String(),
  workflowId: Type.String(),
  version: Type.Integer(),
  nodeId: Type.String(),
  attempts: Type.Integer(),
  error: NodeErrorSchema,
  logTail: Type.Array(Type.String()),
  inputs: AnyObject,
  status: literalUnion(['open', 'retried', 'resolved']),
  createdAt: Type.String({ format: 'date-time' }),
  resolvedAt: Nullable(Type.String({ format: 'date-time' })),
  resolvedBy: Nullable(Type.String()),
  note: Nullable(Type.String()),
});

const UsageGroupSchema = Type.Object({
  key: Type.String(),
  attempts: Type.Integer(),
  computeSeconds: Type.Number(),
  tokens: Type.Object({ prompt: Type.Integer(), completion: Type.Integer() }),
  estimatedUsd: Type.Number(),
});

export const UsageSchema = Type.Object({
  workflowId: Type.String(),
  since: Nullable(Type.String()),
  until: Nullable(Type.String()),
  groupBy: Nullable(Type.String()),
  total: UsageGroupSchema,
  groups: Type.Array(UsageGroupSchema),
});

// --- artifacts -------------------------------------------------------------------------------

export const ArtifactSchema = Type.Object({
  id: Type.String(),
  path: Type.String({ description: "Relative to the workspace, '/'-separated." }),
  size: Type.Integer({ description: 'Bytes.' }),
  sha256: Type.String({ description: 'Hex SHA-256 of the content; the download ETag.' }),
  contentType: Type.String(),
  nodeId: Nullable(Type.String({ description: 'Null when collected at environment release.' })),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  expired: Type.Boolean({ description: 'Retention ended: downloads answer 410.' }),
  url: Type.String({ description: 'Download URL.' }),
});
