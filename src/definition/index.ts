/** The workflow definition model: types, schemas, validation, YAML import/export. */
export {
  defaultDefinitionLimits,
  GraphSchema,
  VariablesSchema,
  RuntimeConfigSchema,
  TriggerConfigSchema,
  ConcurrencySchema,
  concurrencyPolicies,
  inputTypes,
  networkModes,
  catchupPolicies,
  overlapPolicies,
} from './model.ts';
export type {
  DefinitionLimits,
  EventTrigger,
  Graph,
  GraphEdge,
  GraphNode,
  InputType,
  ManualInput,
  ManualTrigger,
  NetworkMode,
  RetryPolicyInput,
  RuntimeConfig,
  CatchupPolicy,
  Concurrency,
  ConcurrencyPolicy,
  OverlapPolicy,
  ScheduleTrigger,
  Trigger,
  Variables,
  WebhookTrigger,
  WorkflowDefinition,
} from './model.ts';
export { namedSchedules, minEveryMs } from './schedules.ts';
export type { NamedSchedule } from './schedules.ts';
export { validateDefinitionParts } from './validate.ts';
export { matchesInputType } from './trigger-checks.ts';
export type { DefinitionParts, ValidatedParts } from './validate.ts';
export type { NodeCatalog, NodeCheckContext, NodeRules, ServerSettings } from './node-rules.ts';
export { parseWorkflowYaml, workflowToYaml } from './yaml.ts';
export { normalizeGraph } from './graph.ts';
export { parseDuration, isDuration } from './duration.ts';
export { findExpressionSpans, conditionSource, celError } from './expressions.ts';
export type { ExpressionSpan } from './expressions.ts';
