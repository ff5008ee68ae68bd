/**
 * An execution's environment (DESIGN §6): the sandbox its nodes run in is acquired from the
 * runtime broker on first use (and recorded on the execution), workspace files are collected
 * as artifacts, and once the execution ended the environment is released.
 */
import type { ArtifactInfo, EnvironmentInfo, ExecutionState } from '../engine/types.ts';
import type { Sandbox } from '../runtime/types.ts';
import type { SecretMasker } from '../secrets/masker.ts';
import type { WorkerContext } from './context.ts';
import { executionMasker } from './secrets.ts';
import { removedAtRelease } from './workspace-retention.ts';

/** The execution's environment; the first acquisition is recorded on the execution. */
export async function sandboxOf(ctx: WorkerContext, e: ExecutionState): Promise<Sandbox> {
  const t0 = performance.now();
  const sandbox = await ctx.broker.sandboxFor({
    executionId: e.id,
    workflowId: e.workflowId,
    config: e.runtime,
  });
  ctx.metrics.sandboxAcquire.observe({ runtime: sandbox.runtime }, (performance.now() - t0) / 1000);
  if (!e.environment || e.environment.isolation !== sandbox.isolation) {
    // `runtime_config.user` is the docker runtime's: the local one runs commands as its own identity.
    const userIgnored = sandbox.runtime === 'local' && typeof e.runtime.user === 'string';
    const environment: EnvironmentInfo = {
      runtime: sandbox.runtime,
      isolation: sandbox.isolation,
      unenforced: [...sandbox.unenforced, ...(userIgnored ? ['user'] : [])],
      network: sandbox.network,
      ...(sandbox.user !== undefined && { user: sandbox.user }),
      ...(sandbox.readOnlyPaths !== undefined &&
        sandbox.readOnlyPaths.length > 0 && { readOnlyPaths: [...sandbox.readOnlyPaths] }),
    };
    e.environment = environment;
    await ctx.dispatch(e.id, { type: 'environment', environment }).catch(() => undefined);
  }
  return sandbox;
}

/** Collects files matching `globs` from the execution's workspace; never throws. */
export async function collectArtifacts(
  ctx: WorkerContext,
  e: ExecutionState,
  nodeId: string | null,
  globs: string[],
  masker: SecretMasker,
): Promise<ArtifactInfo[]> {
  try {
    const hostWorkspace = ctx.broker.hostWorkspaceOf({
      executionId: e.id,
      workflowId: e.workflowId,
      config: e.runtime,
    });
    const retention = Number(e.runtime.retentionHours ?? 24);
    // Collecting is safe to repeat (files are copied again, rows upserted), so it is retried
    // while the database is away instead of dropping what the node produced.
    const out = await ctx.keepCommitting(
      () =>
        ctx.artifacts.collect({
          executionId: e.id,
          workflowId: e.workflowId,
          nodeId,
          hostWorkspace,
          globs,
          maskPath: (p) => masker.mask(p),
          retentionHours: Number.isFinite(retention) && retention > 0 ? retention : 24,
        }),
      `the artifacts of ${e.id}${nodeId ? `/${nodeId}` : ''}`,
    );
    for (const s of out.skipped)
      if (nodeId)
        ctx.logs.append(e.id, nodeId, 0, 'system', `artifact ${s.path} not kept: ${s.reason}`);
    return out.collected;
  } catch (err) {
    ctx.log.error(
      { err, executionId: e.id },
      `collecting artifacts of ${e.id} failed: ${(err as Error).message}`,
    );
    return [];
  }
}

/**
 * After an execution ended: the workflow-level artifacts are collected, then the environment
 * is released (a per-execution sandbox is destroyed) once the attempts still running in it
 * (a cancel aborted them) have stopped their processes within `killGraceMs`. Last, a succeeded
 * execution's workspace is removed; a failed or cancelled one's stays for a retry until the
 * reaper removes it (workspace-retention.ts).
 */
export async function finishEnvironment(
  ctx: WorkerContext,
  executionId: string,
  e: ExecutionState,
): Promise<void> {
  // Detached at once: a retry that reopens the execution gets a fresh sandbox, never this one.
  const stopped = ctx.attemptsStopped(executionId);
  const released = ctx.broker.release(executionId, stopped).catch((err: unknown) => {
    ctx.log.error(
      { err, executionId },
      `releasing the environment of ${executionId} failed: ${(err as Error).message}`,
    );
  });
  // Files stay in the host workspace after the sandbox is gone, so collection can follow; it
  // waits for the stopped attempts, whose last writes (a TERM trap's) count too.
  await stopped;
  const globs = Array.isArray(e.runtime.artifacts) ? (e.runtime.artifacts as string[]) : [];
  if (e.environment && globs.length > 0) {
    const masker = await executionMasker(ctx, e).catch((err: unknown) => {
      ctx.log.error({ err, executionId }, `opening the secrets of ${executionId} failed`);
      return undefined;
    });
    // Unmasked paths are not collected at all.
    const artifacts = masker ? await collectArtifacts(ctx, e, null, globs, masker) : [];
    if (artifacts.length > 0)
      await ctx
        .dispatch(executionId, { type: 'artifacts.collected', artifacts })
        .catch(() => undefined);
  }
  await released;
  if (removedAtRelease(e.status))
    await ctx.broker.removeWorkspace(executionId).catch((err: unknown) => {
      ctx.log.error(
        { err, executionId },
        `removing the workspace of ${executionId} failed: ${(err as Error).message}`,
      );
    });
}
