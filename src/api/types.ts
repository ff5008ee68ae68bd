/** The Fastify instance type the routes are written against (TypeBox type provider). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ArtifactService } from '../services/artifacts.ts';
import type { DlqService } from '../services/dlq.ts';
import type { ExecutionService } from '../services/executions.ts';
import type { PlatformEventService } from '../services/platform-events.ts';
import type { HookService } from '../services/hooks.ts';
import type { ScheduleService } from '../services/schedules.ts';
import type { SecretService } from '../services/secrets.ts';
import type { SessionService } from '../services/sessions.ts';
import type { ExecutionStream } from '../services/stream.ts';
import type { TokenService } from '../services/tokens.ts';
import type { ExecutionTokenService } from '../services/execution-tokens.ts';
import type { LlmGateway } from '../services/llm-gateway.ts';
import type { TriggerRuleService } from '../services/trigger-rules.ts';
import type { UsageService } from '../services/usage.ts';
import type { WorkflowService } from '../services/workflows.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What the HTTP layer may call; it never reaches the store directly. */
export interface Services {
  workflows: WorkflowService;
  tokens: TokenService;
  /** The web UI's sessions (`/api/v1/session`). */
  sessions: SessionService;
  /** Execution tokens: one per node attempt that runs a process. */
  executionTokens: ExecutionTokenService;
  /** The LLM gateway (`/api/v1/llm/v1/...`). */
  gateway: LlmGateway;
  executions: ExecutionService;
  /** The dead letter queue (`/api/v1/workflows/dlq`). */
  dlq: DlqService;
  /** A workflow's usage (`/api/v1/workflows/{id}/usage`). */
  usage: UsageService;
  artifacts: ArtifactService;
  /** Platform events: publish, match, list. */
  events: PlatformEventService;
  hooks: HookService;
  schedules: ScheduleService;
  /** Write-only secrets (`/api/v1/secrets`, `/api/v1/workflows/{id}/secrets`). */
  secrets: SecretService;
  /** Trigger rules (`/api/v1/triggers`) and their deliveries. */
  rules: TriggerRuleService;
  /** Wake-ups and reads behind the event and log streams. */
  streams: ExecutionStream;
  /** Throws when the database is unreachable. */
  ping(): Promise<void>;
}
