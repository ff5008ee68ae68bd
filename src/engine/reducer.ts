/**
 * The engine: `decide(plan, snapshot, event, ctx) → {next, commands}`. Pure — no I/O, no clock,
 * no random ids (all in `ctx`). The worker loads a snapshot, decides, persists `next` and the
 * commands in one transaction, then performs the commands.
 *
 * This file routes each event to its part (DESIGN §4), then advances and settles:
 * - `readiness.ts` — which pending nodes start or are skipped, and how each type starts;
 * - `failure.ts` — finished attempts, retry scheduling, failures, fail_fast, cancelling and
 *   charging cancelled attempts;
 * - `reopen.ts` — execution and DLQ retries;
 * - `settle.ts` — the execution's start, its status from its nodes', its end;
 * - `chat.ts` — chat turns and input nodes; `approval.ts` — approvals;
 * - `agent-steps.ts` — the progress an agent attempt reports;
 * - `draft.ts` — the working copy and its primitives; `cost.ts` — pricing.
 */
import { onAgentSteps } from './agent-steps.ts';
import { onApproval } from './approval.ts';
import { onFollowup, onReplyDelta } from './chat.ts';
import { Draft, announceArtifacts, succeed } from './draft.ts';
import { onChildFinished, onNodeCharged, onNodeFinished, stopAll } from './failure.ts';
import type { Plan } from './plan.ts';
import { advance, onNodeStarted, onNodeTakenOver } from './readiness.ts';
import { onDlqRetry, onRetry } from './reopen.ts';
import { finish, onStart, settle } from './settle.ts';
import { isTerminalExecution } from './status.ts';
import {
  type DecideContext,
  type Decision,
  type EngineEvent,
  type Snapshot,
  assertNever,
} from './types.ts';

export function decide(
  plan: Plan,
  snapshot: Snapshot,
  event: EngineEvent,
  ctx: DecideContext,
): Decision {
  const d = new Draft(plan, snapshot, ctx);
  const terminal = isTerminalExecution(d.execution.status);
  switch (event.type) {
    case 'start':
      if (d.execution.status !== 'pending') break;
      onStart(d);
      break;
    case 'node.started':
      if (!terminal) onNodeStarted(d, event.nodeId, event.attempt);
      break;
    case 'node.taken_over':
      if (!terminal) onNodeTakenOver(d, event.nodeId, event.attempt);
      break;
    case 'node.finished':
      if (!terminal) onNodeFinished(d, event);
      break;
    case 'node.charged':
      onNodeCharged(d, event);
      break;
    case 'node.delta':
      if (!terminal) onReplyDelta(d, event);
      break;
    case 'agent.steps':
      if (!terminal) onAgentSteps(d, event);
      break;
    case 'timer.fired': {
      const st = d.nodes[event.nodeId];
      if (!terminal && st && st.status === 'running' && st.attempt === event.attempt)
        succeed(d, event.nodeId, { firedAt: d.nowIso });
      break;
    }
    case 'approval':
      if (!terminal) onApproval(d, event);
      break;
    case 'followup':
      if (!terminal) onFollowup(d, event);
      break;
    case 'cancel':
      if (!terminal) {
        stopAll(d, {
          code: 'ERR_CANCELLED',
          message: `cancelled by ${event.actor}${event.reason ? `: ${event.reason}` : ''}`,
          retryable: false,
        });
        d.setExecution('cancelled', {
          code: 'ERR_CANCELLED',
          message: `Cancelled by ${event.actor}.`,
        });
        finish(d);
      }
      break;
    case 'deadline':
      if (!terminal) {
        const error = {
          code: 'ERR_EXECUTION_TIMEOUT',
          message: 'The execution ran past its timeout.',
          retryable: false,
        };
        stopAll(d, error);
        d.setExecution('failed', { code: error.code, message: error.message });
        finish(d);
      }
      break;
    case 'idle':
      if (!terminal && plan.isChat && d.execution.awaitingTurn && d.execution.turn === event.turn) {
        d.execution.awaitingTurn = false;
        d.setExecution('succeeded', null);
        finish(d);
      }
      break;
    case 'retry':
      if (d.execution.status === 'failed' || d.execution.status === 'cancelled')
        onRetry(d, event.nodes);
      break;
    case 'dlq.retry':
      onDlqRetry(d, event.nodeId);
      break;
    case 'child.finished':
      if (!terminal) onChildFinished(d, event);
      break;
    case 'environment':
      d.execution.environment = event.environment;
      break;
    case 'artifacts.collected':
      // Also after the end: the workflow's artifacts are collected when the environment is released.
      announceArtifacts(d, event.artifacts);
      break;
    default:
      assertNever(event);
  }
  if (!isTerminalExecution(d.execution.status)) {
    advance(d);
    settle(d);
  }
  return { next: { execution: d.execution, nodes: d.nodes }, commands: d.commands };
}
