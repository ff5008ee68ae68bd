/** Workflows and their versions on the wire (DESIGN §3). */
import { type Static, Type } from 'typebox';
import {
  ConcurrencySchema,
  GraphSchema,
  RuntimeConfigSchema,
  TriggerConfigSchema,
  VariablesSchema,
} from '../definition/model.ts';
import { versionSources, versionStatuses, workflowStatuses, workflowTypes } from '../types.ts';
import { DescriptionSchema, NameSchema, WarningsSchema, literalUnion } from './common.ts';

const WorkflowTypeSchema = literalUnion(workflowTypes, {
  description: 'agent | ci | chat | automation',
});
export const WorkflowStatusSchema = literalUnion(workflowStatuses, {
  description: 'draft | published | archived',
});

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
  warnings: Type.Optional(WarningsSchema),
});
/** A workflow's read shape: the row with the graph, variables and triggers of one version. */
export type WorkflowView = Static<typeof WorkflowSchema>;

const versionMeta = {
  workflowId: Type.String(),
  version: Type.Integer(),
  status: literalUnion(versionStatuses),
  active: Type.Boolean(),
  source: literalUnion(versionSources),
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
export type VersionView = Static<typeof VersionSchema>;

export const VersionSummarySchema = Type.Object({ ...versionMeta, nodeCount: Type.Integer() });
export type VersionSummary = Static<typeof VersionSummarySchema>;

// Requests of the workflow routes (src/api/routes/workflows.ts).

export const CreateWorkflowBody = Type.Object(
  {
    name: NameSchema,
    description: Type.Optional(DescriptionSchema),
    type: Type.Optional(WorkflowTypeSchema),
    graph: Type.Optional(
      Type.Unknown({ description: 'Graph {nodes, edges}; see docs/workflow-yaml.md.' }),
    ),
    variables: Type.Optional(
      Type.Unknown({ description: 'Map of variable name to string, number or boolean.' }),
    ),
    runtimeConfig: Type.Optional(Type.Unknown({ description: 'Runtime config (camelCase).' })),
    triggerConfig: Type.Optional(Type.Unknown({ description: 'List of triggers.' })),
    concurrency: Type.Optional(
      Type.Unknown({
        description: 'Concurrency group {group, max?, policy?}; see docs/triggers.md.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const PatchWorkflowBody = Type.Object(
  {
    name: Type.Optional(NameSchema),
    description: Type.Optional(DescriptionSchema),
    runtimeConfig: Type.Optional(Type.Unknown()),
    graph: Type.Optional(Type.Unknown()),
    variables: Type.Optional(Type.Unknown()),
    triggerConfig: Type.Optional(Type.Unknown()),
    concurrency: Type.Optional(
      Type.Unknown({
        description: 'Concurrency group {group, max?, policy?}, or null to remove it.',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListWorkflowsQuery = Type.Object(
  {
    type: Type.Optional(WorkflowTypeSchema),
    status: Type.Optional(WorkflowStatusSchema),
    q: Type.Optional(
      Type.String({ maxLength: 128, description: 'Case-insensitive substring of the name.' }),
    ),
    createdBy: Type.Optional(Type.String({ maxLength: 128 })),
    includeArchived: Type.Optional(Type.Boolean({ default: false })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);

export type CreateInput = Static<typeof CreateWorkflowBody>;
export type PatchInput = Static<typeof PatchWorkflowBody>;
export type ListQuery = Static<typeof ListWorkflowsQuery>;
