/**
 * What starting a run needs of a workflow version (its triggers' inputs, its concurrency block,
 * its variables), kept per version: a version's content never changes once written (only its
 * status does, which a run does not read), so `POST /run` reads it once per process instead of
 * once per run. Bounded; the oldest entry goes first.
 */
import type { Concurrency, Trigger } from '../definition/index.ts';
import type { Db } from '../store/db.ts';
import { getVersion } from '../store/versions.ts';
import { concurrencyOf } from './workflow-views.ts';

export interface RunVersion {
  triggers: Trigger[];
  concurrency?: Concurrency;
  /** The version's `vars`, as stored (JSON text). */
  variables: string;
}

export class RunVersions {
  private readonly kept = new Map<string, RunVersion>();

  constructor(private readonly max = 512) {}

  /** Undefined when the workflow has no such version. */
  async get(db: Db, workflowId: string, version: number): Promise<RunVersion | undefined> {
    const key = `${workflowId}\u0000${version}`;
    const hit = this.kept.get(key);
    if (hit !== undefined) return hit;
    const v = await getVersion(db, workflowId, version);
    if (!v) return undefined;
    const run: RunVersion = {
      triggers: JSON.parse(v.trigger_config) as Trigger[],
      ...concurrencyOf(v),
      variables: v.variables,
    };
    if (this.kept.size >= this.max) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(key, run);
    return run;
  }
}
