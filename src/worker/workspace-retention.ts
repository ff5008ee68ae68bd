/**
 * How long an execution's workspace stays on disk (docs/runtimes.md "Workspace lifecycle"):
 *
 * - while the execution is active (pending, running, waiting): kept;
 * - succeeded: removed at release, right after the workflow-level artifacts are collected
 *   (nothing can reopen a succeeded execution);
 * - failed or cancelled: kept `runtime_config.retention_hours` (default 24) after it ended, so a
 *   retry finds the files its succeeded nodes wrote; then removed, and a retry needs `fresh`;
 * - deleted (no row): removed.
 *
 * One definition, used by the release, the reaper and the retry check.
 */
import { type ExecutionStatus, isActiveExecution } from '../engine/status.ts';
import type { ExecutionState } from '../engine/types.ts';
import { AppError } from '../errors.ts';

const defaultRetentionHours = 24;

/** What the rule needs of an execution row. */
export interface WorkspaceOwner {
  id: string;
  status: string;
  ended_at: string | null;
  /** The row's state JSON (its `runtime.retentionHours`). */
  state: string;
}

/** The execution's `retention_hours`, or the default when absent or invalid. */
function retentionHoursOf(runtime: Record<string, unknown> | undefined): number {
  const h = Number(runtime?.retentionHours ?? defaultRetentionHours);
  return Number.isFinite(h) && h > 0 ? h : defaultRetentionHours;
}

/** When a failed or cancelled execution's workspace expires (ms since the epoch). */
function workspaceExpiresAt(endedAt: string, runtime: Record<string, unknown>): number {
  return Date.parse(endedAt) + Math.round(retentionHoursOf(runtime) * 3_600_000);
}

/** Whether the workspace of this execution (undefined: deleted) stays on disk at `now`. */
export function keepsWorkspace(row: WorkspaceOwner | undefined, now: Date): boolean {
  if (row === undefined) return false;
  const status = row.status as ExecutionStatus;
  if (isActiveExecution(status)) return true;
  if (status === 'succeeded' || row.ended_at === null) return false;
  const runtime = (JSON.parse(row.state) as Pick<ExecutionState, 'runtime'>).runtime;
  return now.getTime() < workspaceExpiresAt(row.ended_at, runtime);
}

/** Whether the release removes the workspace at once (the execution ended for good). */
export function removedAtRelease(status: ExecutionStatus): boolean {
  return status === 'succeeded';
}

/**
 * A retry that keeps the workspace (not `fresh`) of an execution whose workspace expired is
 * refused: its re-run nodes would miss the files the succeeded nodes wrote. An execution that
 * never acquired an environment had no workspace to lose.
 */
export function checkWorkspaceForRetry(row: WorkspaceOwner, now: Date): void {
  const state = JSON.parse(row.state) as Pick<ExecutionState, 'environment'>;
  if (state.environment === undefined || keepsWorkspace(row, now)) return;
  throw new AppError('ERR_WORKSPACE_EXPIRED', {
    message: `Execution ${row.id} ended at ${row.ended_at ?? '?'} and its workspace was removed after its retention_hours; retry with {"fresh": true} to run every node again in a new workspace.`,
    context: { executionId: row.id, status: row.status, endedAt: row.ended_at },
  });
}
