/**
 * The services return exactly the wire types (`Static<>` of the schemas the routes answer with):
 * the `Equal` checks below are compile-time, so a field a service returns that the schema lacks
 * (or the other way round) fails `npm run typecheck`. At run time: the schemas' enums are the
 * status lists they are built from.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Static, TSchema } from 'typebox';
import {
  activeExecutionStatuses,
  dlqStatuses,
  executionStatuses,
  nodeStatusReasons,
  nodeStatuses,
  terminalExecutionStatuses,
} from '../../src/engine/status.ts';
import type { ArtifactService } from '../../src/services/artifacts.ts';
import type { DlqService } from '../../src/services/dlq.ts';
import type { HookService } from '../../src/services/hooks.ts';
import type { PlatformEventService } from '../../src/services/platform-events.ts';
import type { ScheduleService, ScheduleViewSchema } from '../../src/services/schedules.ts';
import type { SecretService } from '../../src/services/secrets.ts';
import type { TriggerRuleService } from '../../src/services/trigger-rules.ts';
import type { RuleDeliverySchema, RuleSchema } from '../../src/triggers/rule-model.ts';
import type { PlatformEventSchema } from '../../src/wire/events.ts';
import type { DeliverySchema, HookSchema } from '../../src/wire/hooks.ts';
import type { SecretListItemSchema, SecretSchema } from '../../src/wire/secrets.ts';
import type { ExecutionService } from '../../src/services/executions.ts';
import type { TokenService } from '../../src/services/tokens.ts';
import type { UsageService } from '../../src/services/usage.ts';
import type { WorkflowService } from '../../src/services/workflows.ts';
import { versionSources, versionStatuses, workflowStatuses } from '../../src/types.ts';
import type { ArtifactSchema } from '../../src/wire/artifacts.ts';
import type { pageOf } from '../../src/wire/common.ts';
import {
  type DlqSchema,
  DlqStatusSchema,
  type ExecutionSchema,
  ExecutionStatusSchema,
  type ExecutionSummarySchema,
  NodeStatusSchema,
  NodeViewSchema,
  type RunAcceptedSchema,
  type UsageSchema,
} from '../../src/wire/executions.ts';
import type { CreatedTokenSchema, TokenSchema } from '../../src/wire/tokens.ts';
import {
  VersionSchema,
  type VersionSummarySchema,
  type WorkflowSchema,
  WorkflowStatusSchema,
} from '../../src/wire/workflows.ts';

/** True only when A and B are the same type (an extra optional field on either side breaks it). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only for `true`. */
type Assert<T extends true> = T;
type Returns<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;

/** `Static<>` of `pageOf(S)`, the list routes' response schema. */
type PageOf<S extends TSchema> = Static<ReturnType<typeof pageOf<S>>>;

type Execution = Static<typeof ExecutionSchema>;
type Workflow = Static<typeof WorkflowSchema>;
type Version = Static<typeof VersionSchema>;
type Dlq = Static<typeof DlqSchema>;

// Each line: what the service method returns = what its route's response schema describes.
export type WireChecks = [
  // executions (src/api/routes/executions.ts)
  Assert<Equal<Returns<ExecutionService['run']>['accepted'], Static<typeof RunAcceptedSchema>>>,
  Assert<Equal<Returns<ExecutionService['list']>, PageOf<typeof ExecutionSummarySchema>>>,
  Assert<Equal<Returns<ExecutionService['get']>, Execution>>,
  Assert<Equal<Returns<ExecutionService['cancel']>, Execution>>,
  Assert<Equal<Returns<ExecutionService['retry']>, Execution>>,
  Assert<Equal<Returns<ExecutionService['resume']>, Execution>>,
  Assert<Equal<Returns<ExecutionService['followup']>, Execution>>,
  Assert<Equal<Returns<ExecutionService['get']>['nodes'][number], Static<typeof NodeViewSchema>>>,
  Assert<Equal<Returns<UsageService['get']>, Static<typeof UsageSchema>>>,
  // the dead letter queue (src/api/routes/dlq.ts)
  Assert<Equal<Returns<DlqService['list']>, PageOf<typeof DlqSchema>>>,
  Assert<Equal<Returns<DlqService['get']>, Dlq>>,
  Assert<Equal<Returns<DlqService['retry']>, Dlq>>,
  Assert<Equal<Returns<DlqService['resolve']>, Dlq>>,
  // workflows and versions (src/api/routes/workflows.ts, versions.ts)
  Assert<Equal<Returns<WorkflowService['list']>, PageOf<typeof WorkflowSchema>>>,
  Assert<Equal<Returns<WorkflowService['get']>, Workflow>>,
  Assert<Equal<Returns<WorkflowService['create']>, Workflow>>,
  Assert<Equal<Returns<WorkflowService['patch']>, Workflow>>,
  Assert<Equal<Returns<WorkflowService['publish']>, Workflow>>,
  Assert<Equal<Returns<WorkflowService['promote']>, Workflow>>,
  Assert<Equal<Returns<WorkflowService['importYaml']>, Workflow>>,
  Assert<
    Equal<
      Returns<WorkflowService['listVersions']>['items'][number],
      Static<typeof VersionSummarySchema>
    >
  >,
  Assert<Equal<Returns<WorkflowService['getVersion']>, Version>>,
  Assert<Equal<Returns<WorkflowService['restore']>, Version>>,
  // tokens and artifacts (src/api/routes/tokens.ts, artifacts.ts)
  Assert<Equal<Returns<TokenService['create']>, Static<typeof CreatedTokenSchema>>>,
  Assert<Equal<Returns<TokenService['list']>[number], Static<typeof TokenSchema>>>,
  Assert<Equal<Returns<ArtifactService['listUnder']>[number], Static<typeof ArtifactSchema>>>,
  // triggers (src/api/routes/hooks.ts, events.ts, schedules.ts, trigger-rules.ts)
  Assert<Equal<Returns<HookService['list']>[number], Static<typeof HookSchema>>>,
  Assert<Equal<Returns<HookService['deliveries']>, PageOf<typeof DeliverySchema>>>,
  Assert<Equal<Returns<PlatformEventService['publish']>, Static<typeof PlatformEventSchema>>>,
  Assert<Equal<Returns<PlatformEventService['get']>, Static<typeof PlatformEventSchema>>>,
  Assert<Equal<Returns<PlatformEventService['list']>, PageOf<typeof PlatformEventSchema>>>,
  Assert<Equal<Returns<ScheduleService['list']>[number], Static<typeof ScheduleViewSchema>>>,
  Assert<Equal<Returns<TriggerRuleService['get']>, Static<typeof RuleSchema>>>,
  Assert<Equal<Returns<TriggerRuleService['deliveries']>, PageOf<typeof RuleDeliverySchema>>>,
  // secrets (src/api/routes/secrets.ts)
  Assert<Equal<Returns<SecretService['set']>['secret'], Static<typeof SecretSchema>>>,
  Assert<Equal<Returns<SecretService['list']>[number], Static<typeof SecretListItemSchema>>>,
];

describe('wire schemas', () => {
  it('build their status enums from the status lists', () => {
    assert.deepEqual(ExecutionStatusSchema.enum, executionStatuses);
    assert.deepEqual(NodeStatusSchema.enum, nodeStatuses);
    assert.deepEqual(DlqStatusSchema.enum, dlqStatuses);
    assert.deepEqual(WorkflowStatusSchema.enum, workflowStatuses);
    assert.deepEqual(VersionSchema.properties.status.enum, versionStatuses);
    assert.deepEqual(VersionSchema.properties.source.enum, versionSources);
    assert.deepEqual(NodeViewSchema.properties.statusReason.enum, nodeStatusReasons);
    // Active and terminal split the execution statuses.
    assert.deepEqual(
      [...activeExecutionStatuses, ...terminalExecutionStatuses].sort(),
      [...executionStatuses].sort(),
    );
  });
});
