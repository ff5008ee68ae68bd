/** Request and response schemas shared by the routes; they also generate the OpenAPI document. */
import { type TSchema, Type } from 'typebox';
import {
  GraphSchema,
  RuntimeConfigSchema,
  TriggerConfigSchema,
  VariablesSchema,
} from '../definition/index.ts';
import { allPermissions, workflowStatuses, workflowTypes } from '../types.ts';

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

export const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });
