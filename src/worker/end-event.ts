/**
 * Switchyard's own platform events: an execution that reaches a terminal status publishes
 * `execution.succeeded|failed|cancelled` so a workflow can run when another ends (DESIGN §7).
 * The row is written inside the decision that ends the execution, so the event exists exactly
 * when the end committed; matching it against listeners happens after the commit (the worker's
 * `onExecutionEnded` listeners), and a server that stopped in between leaves it pending for the
 * next start to match.
 */
import { isTerminalExecution } from '../engine/status.ts';
import type { ExecutionState } from '../engine/types.ts';
import { newId } from '../ids.ts';
import type { Db } from '../store/db.ts';
import { revokeExecutionTokens } from '../store/execution-tokens.ts';
import { type PlatformEventRow, insertPlatformEvent } from '../store/platform-events.ts';
import { getWorkflow } from '../store/workflows.ts';

/** Source of the events Switchyard emits itself. */
const switchyardSource = 'switchyard';

/**
 * Inserts the end event when this decision moved the execution from a live status to a terminal
 * one, and ends the execution's tokens; returns the event's row, or undefined when the decision
 * ended nothing.
 */
export async function recordEndEvent(
  trx: Db,
  before: ExecutionState,
  next: ExecutionState,
  now: Date,
): Promise<PlatformEventRow | undefined> {
  if (!endsExecution(before, next)) return undefined;
  const wf = await getWorkflow(trx, next.workflowId);
  const row = endEventRow(next, now, wf?.name ?? null);
  await insertPlatformEvent(trx, row);
  // The execution's tokens end with it (those of attempts a dead server left included).
  await revokeExecutionTokens(trx, next.id, row.created_at);
  return row;
}

/** Whether a decision moved the execution from a live status to a terminal one. */
export function endsExecution(before: ExecutionState, next: ExecutionState): boolean {
  return !isTerminalExecution(before.status) && isTerminalExecution(next.status);
}

/** The `execution.*` event of an execution that just ended. */
export function endEventRow(
  next: ExecutionState,
  now: Date,
  workflowName: string | null,
): PlatformEventRow {
  return {
    id: newId('evt', now.getTime()),
    type: `execution.${next.status}`,
    subject: next.id,
    data: JSON.stringify({
      workflowId: next.workflowId,
      workflowName,
      version: next.version,
      status: next.status,
      // Without its data: each link of a chain would otherwise nest the whole chain before it
      // (the event named by `trigger.eventId` still holds it).
      trigger: { ...next.trigger, data: undefined },
    }),
    source: switchyardSource,
    actor: switchyardSource,
    created_at: now.toISOString(),
    // One deeper than the event that started this run (0 for a run no event started).
    chain_depth: (next.trigger.chainDepth ?? 0) + 1,
    outcome: null,
    processed_at: null,
  };
}
