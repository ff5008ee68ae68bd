/**
 * The workflow definition model: TypeBox schemas (the one source for the precise checks in
 * `walk.ts`, for the key conversion between YAML snake_case and JSON camelCase, and for the
 * loose OpenAPI body schemas) and the TypeScript types of the canonical JSON form.
 *
 * Custom schema keywords, read only by `walk.ts` (never handed to Ajv):
 * - `x-format`: a check beyond JSON Schema (`duration`, `cel`, `cron`, `timezone`, ...).
 * - `x-node`: the value is a node whose schema is chosen by its `type` (`graph` or `inline`).
 * - `x-name`: what the object is, for messages ("command node", "schedule trigger").
 * - `x-aliases`: other accepted names of declared properties (`{ maxCatchup: 'catchupLimit' }`);
 *   the walk's copy carries the declared name.
 */
import { Type, type Static, type TSchema } from 'typebox';
import type { WorkflowType } from '../types.ts';

export type Format =
  'duration' | 'cel' | 'cron' | 'timezone' | 'cpu' | 'memory' | 'http-url' | 'timestamp-or-cel';

export const nodeIdPattern = '^[A-Za-z_][A-Za-z0-9_-]{0,63}$';
export const namePattern = '^[A-Za-z_][A-Za-z0-9_]*$';
/** RFC 9110 header field names. */
const headerNamePattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
const anyKeyPattern = '^.*$';

export const NonEmptyString = (options: Record<string, unknown> = {}) =>
  Type.String({ minLength: 1, ...options });
export const DurationString = () =>
  Type.String({ 'x-format': 'duration', description: 'e.g. 500ms, 2s, 15m, 1h30m, 1d' });
/** Bare CEL or one `${{ }}` wrapping the whole value. */
export const CelString = (description = 'a CEL expression') =>
  Type.String({ minLength: 1, 'x-format': 'cel', description });
export const NodeIdString = () => Type.String({ pattern: nodeIdPattern });
export const NodeIdList = (options: Record<string, unknown> = {}) =>
  Type.Array(NodeIdString(), options);
const StringMap = (keyPattern: string = anyKeyPattern) =>
  Type.Record(Type.String({ pattern: keyPattern }), Type.String());
export const EnvMap = () => StringMap(namePattern);
export const HeaderMap = () => StringMap(headerNamePattern);
export const FreeMap = () => Type.Record(Type.String({ pattern: anyKeyPattern }), Type.Unknown());
/** A node definition nested inside another node (parallel branches, map/loop templates). */
export const InlineNodeSchema = Type.Object(
  { id: NodeIdString(), type: NonEmptyString() },
  { additionalProperties: true, 'x-node': 'inline' },
);

// ---------------------------------------------------------------------------------------------
// Retry policy (DESIGN §4)

export const RetryPolicySchema = Type.Object(
  {
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 1 })),
    backoff: Type.Optional(Type.Union([Type.Literal('fixed'), Type.Literal('exponential')])),
    initialInterval: Type.Optional(DurationString()),
    maxInterval: Type.Optional(DurationString()),
    jitter: Type.Optional(Type.Union([Type.Boolean(), Type.Number({ minimum: 0, maximum: 1 })])),
  },
  { additionalProperties: false, 'x-name': 'retry policy' },
);
export type RetryPolicyInput = Static<typeof RetryPolicySchema>;

// ---------------------------------------------------------------------------------------------
// Nodes

/** Fields every node type accepts. */
const commonNodeFields = {
  id: NodeIdString(),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  needs: Type.Optional(NodeIdList()),
  if: Type.Optional(CelString('run the node only when this holds')),
  retry: Type.Optional(RetryPolicySchema),
  timeout: Type.Optional(DurationString()),
  continueOnError: Type.Optional(Type.Boolean()),
  artifacts: Type.Optional(Type.Array(NonEmptyString())),
  env: Type.Optional(EnvMap()),
};

/** The schema of one node type: the common fields plus the type's own, nothing else. */
export function nodeSchema<T extends string, F extends Record<string, TSchema>>(
  type: T,
  fields: F,
) {
  return Type.Object(
    { ...commonNodeFields, type: Type.Literal(type), ...fields },
    { additionalProperties: false, 'x-name': `${type} node` },
  );
}

export interface GraphNode {
  id: string;
  type: string;
  [key: string]: unknown;
}

export interface GraphEdge {
  from: string;
  to: string;
  when?: string;
}

const EdgeSchema = Type.Object(
  {
    from: NodeIdString(),
    to: NodeIdString(),
    when: Type.Optional(CelString('take the edge only when this holds')),
  },
  { additionalProperties: false, 'x-name': 'edge' },
);

/** The graph as accepted on input (`needs` allowed on nodes); see `Graph` for the canonical form. */
export const GraphInputSchema = Type.Object(
  {
    nodes: Type.Array(
      Type.Object({ id: NodeIdString(), type: NonEmptyString() }, { 'x-node': 'graph' }),
    ),
    edges: Type.Optional(Type.Array(EdgeSchema)),
    failFast: Type.Optional(Type.Boolean()),
    timeout: Type.Optional(DurationString()),
    retry: Type.Optional(RetryPolicySchema),
  },
  { additionalProperties: false, 'x-name': 'graph' },
);

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  failFast?: boolean;
  timeout?: string;
  retry?: RetryPolicyInput;
}

// ---------------------------------------------------------------------------------------------
// Variables, runtime config

export const VariablesPreciseSchema = Type.Record(
  Type.String({ pattern: namePattern }),
  Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
);
export type Variables = Record<string, string | number | boolean>;

/** `runtime_config.user`: a user, or `user:group`, by name or number (`1000:1000`, `nobody`). */
const containerUserPattern =
  '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$';

export const RuntimeConfigPreciseSchema = Type.Object(
  {
    mode: Type.Optional(
      Type.Union([
        Type.Literal('per_execution'),
        Type.Literal('per_workflow'),
        Type.Literal('shared'),
      ]),
    ),
    runtime: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('local'), Type.Literal('docker')]),
    ),
    image: Type.Optional(NonEmptyString()),
    cpu: Type.Optional(Type.Union([Type.String(), Type.Number()], { 'x-format': 'cpu' })),
    memory: Type.Optional(Type.Union([Type.String(), Type.Number()], { 'x-format': 'memory' })),
    pids: Type.Optional(Type.Integer({ minimum: 1 })),
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    retentionHours: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    idleTimeout: Type.Optional(DurationString()),
    network: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('outbound'), Type.Literal('host')]),
    ),
    artifacts: Type.Optional(Type.Array(NonEmptyString())),
    user: Type.Optional(Type.String({ pattern: containerUserPattern })),
    dockerSocket: Type.Optional(Type.Boolean()),
    permissions: Type.Optional(
      Type.Array(
        Type.Union([
          Type.Literal('workflows.read'),
          Type.Literal('workflows.create'),
          Type.Literal('workflows.edit'),
          Type.Literal('workflows.run'),
        ]),
        { uniqueItems: true },
      ),
    ),
  },
  { additionalProperties: false, 'x-name': 'runtime config' },
);

export type NetworkMode = 'none' | 'outbound' | 'host';

export interface RuntimeConfig {
  mode?: 'per_execution' | 'per_workflow' | 'shared';
  runtime?: 'auto' | 'local' | 'docker';
  image?: string;
  /** Cores ("2", "0.5", ".5") or millicores ("500m"), see quantity.ts; numbers become strings. */
  cpu?: string;
  /** Bytes with an optional unit ("512Mi", "1Gi", "500M"), see quantity.ts; numbers become strings. */
  memory?: string;
  pids?: number;
  replicas?: number;
  retentionHours?: number;
  idleTimeout?: string;
  /**
   * `none`: only the sandbox's own loopback; `outbound`: the outside, not the host or private
   * ranges; `host`: the host's network namespace (only with the server's `allowHostNetwork`).
   */
  network?: NetworkMode;
  artifacts?: string[];
  /** Docker runtime: the user (`name`, `uid`, `uid:gid`, ...) the container's commands run as; root by default. */
  user?: string;
  /** Docker runtime: mount the engine's socket at /var/run/docker.sock (the server may forbid it). */
  dockerSocket?: boolean;
  /**
   * What the execution token of each command may do beyond reading its own execution and calling
   * the LLM gateway; capped at the permissions of the token that started the execution, never an
   * `*.admin` one.
   */
  permissions?: ('workflows.read' | 'workflows.create' | 'workflows.edit' | 'workflows.run')[];
}

// ---------------------------------------------------------------------------------------------
// Triggers (DESIGN §7)

const inputTypes = ['string', 'number', 'integer', 'boolean', 'object', 'array'] as const;
export type InputType = (typeof inputTypes)[number];

const ManualInputSchema = Type.Object(
  {
    type: Type.Union(inputTypes.map((t) => Type.Literal(t))),
    required: Type.Optional(Type.Boolean()),
    default: Type.Optional(Type.Unknown()),
    enum: Type.Optional(Type.Array(Type.Unknown(), { minItems: 1 })),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false, 'x-name': 'input' },
);
export interface ManualInput {
  type: InputType;
  required?: boolean;
  default?: unknown;
  enum?: unknown[];
  description?: string;
}

const ManualTriggerSchema = Type.Object(
  {
    type: Type.Literal('manual'),
    inputs: Type.Optional(Type.Record(Type.String({ pattern: namePattern }), ManualInputSchema)),
  },
  { additionalProperties: false, 'x-name': 'manual trigger' },
);
const catchupPolicies = ['skip', 'latest', 'all'] as const;
export type CatchupPolicy = (typeof catchupPolicies)[number];
/** Temporal's overlap policies, for a tick that comes while this schedule's previous run is active. */
const overlapPolicies = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'allow_all'] as const;
type OverlapPolicy = (typeof overlapPolicies)[number];
const scheduleIdPattern = '^[a-z0-9][a-z0-9_-]*$';

const ScheduleTriggerSchema = Type.Object(
  {
    type: Type.Literal('schedule'),
    id: Type.Optional(Type.String({ pattern: scheduleIdPattern, maxLength: 64 })),
    cron: Type.Optional(Type.String({ 'x-format': 'cron' })),
    every: Type.Optional(DurationString()),
    timezone: Type.Optional(Type.String({ 'x-format': 'timezone' })),
    jitter: Type.Optional(DurationString()),
    catchup: Type.Optional(Type.Union(catchupPolicies.map((p) => Type.Literal(p)))),
    catchupLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    overlap: Type.Optional(Type.Union(overlapPolicies.map((p) => Type.Literal(p)))),
  },
  {
    additionalProperties: false,
    'x-name': 'schedule trigger',
    // YAML's documented `max_catchup` is another name for `catchup_limit`.
    'x-aliases': { maxCatchup: 'catchupLimit' },
  },
);
const EventTriggerSchema = Type.Object(
  {
    type: Type.Literal('event'),
    /** The event type, or a glob over it (`pr.*`). */
    event: NonEmptyString(),
    /** Globs over `data.branch`; the event must carry a branch that matches one. */
    branches: Type.Optional(Type.Array(NonEmptyString())),
    /** Globs over `data.paths`; any one changed path matching one glob is enough. */
    paths: Type.Optional(Type.Array(NonEmptyString())),
    /** Globs over `data.repository` (`owner/name`, as GitHub hooks report it). */
    repositories: Type.Optional(Type.Array(NonEmptyString())),
    /** CEL over `event` and `trigger`; the run starts only when it is true. */
    if: Type.Optional(CelString('start a run only when this holds')),
  },
  { additionalProperties: false, 'x-name': 'event trigger' },
);
const WebhookTriggerSchema = Type.Object(
  {
    type: Type.Literal('webhook'),
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 64 }),
  },
  { additionalProperties: false, 'x-name': 'webhook trigger' },
);
export const TriggerPreciseSchema = Type.Union([
  ManualTriggerSchema,
  ScheduleTriggerSchema,
  EventTriggerSchema,
  WebhookTriggerSchema,
]);
export const TriggerListPreciseSchema = Type.Array(TriggerPreciseSchema);

export interface ManualTrigger {
  type: 'manual';
  inputs?: Record<string, ManualInput>;
}
export interface ScheduleTrigger {
  type: 'schedule';
  /** Names the schedule for pause/resume and in idempotency keys; default `schedule-<n>`. */
  id?: string;
  /** Exactly one of `cron` and `every`. */
  cron?: string;
  every?: string;
  timezone?: string;
  jitter?: string;
  catchup?: CatchupPolicy;
  catchupLimit?: number;
  overlap?: OverlapPolicy;
}
export interface EventTrigger {
  type: 'event';
  event: string;
  branches?: string[];
  paths?: string[];
  repositories?: string[];
  if?: string;
}
interface WebhookTrigger {
  type: 'webhook';
  name: string;
}
export type Trigger = ManualTrigger | ScheduleTrigger | EventTrigger | WebhookTrigger;

// ---------------------------------------------------------------------------------------------
// Concurrency (DESIGN §7): GitHub Actions' `concurrency` with `cancel-in-progress`

/**
 * What a new run does when its group already has `max` active runs: wait its turn (`queue`),
 * not start at all (`skip`), or cancel the running ones and start (`cancel_running`).
 */
const concurrencyPolicies = ['queue', 'skip', 'cancel_running'] as const;
export type ConcurrencyPolicy = (typeof concurrencyPolicies)[number];

export const ConcurrencyPreciseSchema = Type.Object(
  {
    /** A `${{ }}` template over `params`, `trigger` and `vars`; the key is global (any workflow). */
    group: Type.String({ minLength: 1, maxLength: 200 }),
    max: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    policy: Type.Optional(Type.Union(concurrencyPolicies.map((p) => Type.Literal(p)))),
  },
  { additionalProperties: false, 'x-name': 'concurrency' },
);

export interface Concurrency {
  group: string;
  /** Active runs the group may hold at once; default 1. */
  max?: number;
  /** Default `queue`. */
  policy?: ConcurrencyPolicy;
}

/** Loose OpenAPI shape; the precise check happens in validateDefinitionParts. */
export const ConcurrencySchema = Type.Object(
  {
    group: Type.String({
      description: 'Group key template, e.g. `deploy-${{ params.env }}`; shared across workflows.',
    }),
    max: Type.Optional(Type.Integer({ description: 'Active runs allowed at once (default 1).' })),
    policy: Type.Optional(Type.String({ description: 'queue (default), skip or cancel_running.' })),
  },
  { additionalProperties: true },
);

// ---------------------------------------------------------------------------------------------
// The whole definition

export interface WorkflowDefinition {
  name: string;
  description: string;
  type: WorkflowType;
  variables: Variables;
  runtimeConfig: RuntimeConfig;
  triggerConfig: Trigger[];
  graph: Graph;
  /** Absent when the workflow sets none. */
  concurrency?: Concurrency;
}

export interface DefinitionLimits {
  /** Most nodes in one graph, inline nodes included (ERR_GRAPH_TOO_LARGE beyond). */
  maxNodes: number;
  /** Deepest nesting of a YAML document, and of the JSON parts. */
  maxYamlDepth: number;
  /** Most alias expansions in a YAML document (guards against alias bombs). */
  maxYamlAliases: number;
  /**
   * The server's `allowHostNetwork`: false refuses `runtime_config.network: host` when a workflow
   * is saved. Undefined (a check without a server, like `yard workflows validate`) does not judge.
   */
  allowHostNetwork?: boolean;
  /**
   * Names of the server's configured LLM providers (`llmProviders`): an `llm` node naming another
   * is refused when a workflow is saved. Undefined (no server) does not judge.
   */
  llmProviders?: readonly string[];
  /** Per provider that lists them, the models a node may name (`llmProviders.<name>.models`). */
  llmModels?: Readonly<Record<string, readonly string[]>>;
  /** The provider a node without `provider:` uses (`default: true`, or the only one). */
  defaultLlmProvider?: string;
  /** Models `modelPrices` prices: another model's tokens are a save-time warning. */
  pricedModels?: readonly string[];
}

export const defaultDefinitionLimits: DefinitionLimits = {
  maxNodes: 1000,
  maxYamlDepth: 64,
  maxYamlAliases: 100,
};

// ---------------------------------------------------------------------------------------------
// Loose schemas for OpenAPI request/response bodies: standard keywords only; the precise check
// happens in validateDefinitionParts.

export const GraphSchema = Type.Object(
  {
    nodes: Type.Array(
      Type.Object({ id: Type.String(), type: Type.String() }, { additionalProperties: true }),
    ),
    edges: Type.Optional(
      Type.Array(
        Type.Object({ from: Type.String(), to: Type.String(), when: Type.Optional(Type.String()) }),
      ),
    ),
    failFast: Type.Optional(Type.Boolean()),
    timeout: Type.Optional(Type.String()),
    retry: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: true, description: 'Nodes and edges; see docs/workflow-yaml.md' },
);
export const VariablesSchema = Type.Record(
  Type.String(),
  Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
);
export const RuntimeConfigSchema = Type.Object(
  {
    mode: Type.Optional(Type.String()),
    runtime: Type.Optional(Type.String()),
    image: Type.Optional(Type.String()),
    cpu: Type.Optional(Type.String()),
    memory: Type.Optional(Type.String()),
    pids: Type.Optional(Type.Integer()),
    replicas: Type.Optional(Type.Integer()),
    retentionHours: Type.Optional(Type.Number()),
    idleTimeout: Type.Optional(Type.String()),
    network: Type.Optional(Type.String()),
    artifacts: Type.Optional(Type.Array(Type.String())),
    user: Type.Optional(
      Type.String({
        description: 'Docker runtime: the user commands run as (`1000:1000`, `nobody`).',
      }),
    ),
    dockerSocket: Type.Optional(
      Type.Boolean({
        description:
          "Docker runtime: mount the engine's socket in the container (root on the host; forbidden unless the server allows it).",
      }),
    ),
    permissions: Type.Optional(
      Type.Array(Type.String(), {
        description:
          "What each command's execution token may do beyond reading its own execution and calling the LLM gateway (no `*.admin`); capped at the starting token's permissions.",
      }),
    ),
  },
  { additionalProperties: true },
);
export const TriggerConfigSchema = Type.Array(
  Type.Object({ type: Type.String() }, { additionalProperties: true }),
);
