/** Compiled plans per (workflow, version): versions are immutable, so plans are cached for good. */
import type { Graph } from '../definition/index.ts';
import { type NodeBehaviours, type Plan, compilePlan } from '../engine/plan.ts';
import type { Db } from '../store/db.ts';
import { secretNamesIn } from '../secrets/references.ts';
import { getVersion } from '../store/versions.ts';

export interface VersionPlan {
  plan: Plan;
  graph: Graph;
  variables: Record<string, unknown>;
  /** Names of the secrets the version's graph names anywhere: every node's masker masks them. */
  secrets: readonly string[];
}

export class PlanCache {
  private readonly plans = new Map<string, VersionPlan>();

  constructor(private readonly types: NodeBehaviours) {}

  async get(
    db: Db,
    workflowId: string,
    version: number,
    workflowType: string,
    idleTimeout?: string,
  ): Promise<VersionPlan> {
    const key = `${workflowId}:${version}:${workflowType}:${idleTimeout ?? ''}`;
    let vp = this.plans.get(key);
    if (!vp) {
      const row = await getVersion(db, workflowId, version);
      if (!row) throw new Error(`workflow ${workflowId} has no version ${version}`);
      const graph = JSON.parse(row.graph) as Graph;
      vp = {
        plan: compilePlan(
          graph,
          { workflowType, ...(idleTimeout !== undefined && { idleTimeout }) },
          this.types,
        ),
        graph,
        variables: JSON.parse(row.variables) as Record<string, unknown>,
        secrets: secretNamesIn(row.graph),
      };
      if (this.plans.size > 5000) this.plans.clear();
      this.plans.set(key, vp);
    }
    return vp;
  }
}
