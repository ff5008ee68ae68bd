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
import { literalUnion } from './common.ts';

export const WorkflowTypeSchema = literalUnion(workflowTypes, {
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
