/** The workflow definition model: types, schemas, validation, YAML import/export. */
export { defaultDefinitionLimits } from './model.ts';
export type {
  DefinitionLimits,
  EventTrigger,
  Graph,
  GraphEdge,
  GraphNode,
  InputType,
  ManualInput,
  ManualTrigger,
  RetryPolicyInput,
  RuntimeConfig,
  Concurrency,
  ConcurrencyPolicy,
  ScheduleTrigger,
  Trigger,
  WorkflowDefinition,
} from './model.ts';
export { namedSchedules } from './schedules.ts';
export type { NamedSchedule } from './schedules.ts';
export { validateDefinitionParts } from './validate.ts';
export { matchesInputType } from './trigger-checks.ts';
export type { DefinitionParts, ValidatedParts } from './validate.ts';
export type { NodeCatalog } from './node-rules.ts';
export { parseWorkflowYaml, workflowToYaml } from './yaml.ts';
export { normalizeGraph } from './graph.ts';
export { parseDuration, isDuration } from './duration.ts';
export { findExpressionSpans, conditionSource, celError } from './expressions.ts';
