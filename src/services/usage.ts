/** Usage (DESIGN §4): a workflow's finished attempts summed (compute, tokens, estimated cost). */
import { AppError } from '../errors.ts';
import type { Database } from '../store/db.ts';
import { type NodeRunRow, usageRows } from '../store/node-runs.ts';
import { getWorkflow } from '../store/workflows.ts';
import type { Usage, UsageGroup, UsageGrouping } from '../wire/executions.ts';

export class UsageService {
  constructor(private readonly database: Database) {}

  async get(
    workflowId: string,
    q: { since?: string; until?: string; groupBy?: UsageGrouping },
  ): Promise<Usage> {
    const wf = await getWorkflow(this.database.db, workflowId);
    if (!wf)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${workflowId}.`,
        context: { workflowId },
      });
    const since = q.since !== undefined ? new Date(q.since).toISOString() : undefined;
    const until = q.until !== undefined ? new Date(q.until).toISOString() : undefined;
    const rows = await usageRows(this.database.db, workflowId, since, until);
    const total = emptyGroup('total');
    const groups = new Map<string, UsageGroup>();
    for (const r of rows) {
      addRun(total, r);
      if (q.groupBy === undefined) continue;
      const key =
        q.groupBy === 'day'
          ? r.ended_at.slice(0, 10)
          : q.groupBy === 'version'
            ? String(r.version)
            : r.node_id;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = emptyGroup(key)));
      addRun(g, r);
    }
    return {
      workflowId,
      since: since ?? null,
      until: until ?? null,
      groupBy: q.groupBy ?? null,
      total,
      groups: [...groups.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    };
  }
}

function emptyGroup(key: string): UsageGroup {
  return {
    key,
    attempts: 0,
    computeSeconds: 0,
    tokens: { prompt: 0, completion: 0 },
    estimatedUsd: 0,
  };
}

function addRun(g: UsageGroup, r: NodeRunRow): void {
  g.attempts++;
  g.computeSeconds = Math.round((g.computeSeconds + r.compute_seconds) * 1000) / 1000;
  g.tokens.prompt += Number(r.prompt_tokens);
  g.tokens.completion += Number(r.completion_tokens);
  g.estimatedUsd = Math.round((g.estimatedUsd + r.cost_usd) * 1e6) / 1e6;
}
