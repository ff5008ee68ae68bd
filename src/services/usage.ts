/**
 * Usage (DESIGN §4): a workflow's finished attempts summed (compute, tokens, estimated cost), in
 * total and per day, version, node or model.
 */
import { AppError } from '../errors.ts';
import type { ModelCost } from '../engine/types.ts';
import type { Database } from '../store/db.ts';
import { type NodeRunRow, usageRows } from '../store/node-runs.ts';
import { getWorkflow } from '../store/workflows.ts';
import type { Usage, UsageGroup } from '../wire/executions.ts';
import type { UsageGrouping } from '../wire/usage-groupings.ts';

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
      if (q.groupBy === 'model') {
        addByModel(groups, r);
        continue;
      }
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
  g.estimatedUsd = roundUsd(g.estimatedUsd + r.cost_usd);
  if (Number(r.unpriced) === 1) g.unpriced = true;
}

/** Where compute (and tokens recorded before the per-model breakdown) go when grouped by model. */
const computeKey = '(compute)';
const unknownModelKey = '(unknown model)';

/**
 * Grouped by model, an attempt's tokens and their USD go to each model it used (an agent's steps,
 * a map over llm nodes); its compute seconds and their USD go to the `(compute)` group, so the
 * groups add up to the total. `attempts` counts the attempts that used the model.
 */
function addByModel(groups: Map<string, UsageGroup>, r: NodeRunRow): void {
  const group = (key: string) => {
    let g = groups.get(key);
    if (!g) groups.set(key, (g = emptyGroup(key)));
    return g;
  };
  const models =
    r.models === null ? {} : (JSON.parse(r.models) as Record<string, ModelCost | undefined>);
  let tokenUsd = 0;
  let prompt = 0;
  let completion = 0;
  for (const [name, m] of Object.entries(models)) {
    if (m === undefined) continue;
    const g = group(name);
    g.attempts++;
    g.tokens.prompt += m.prompt;
    g.tokens.completion += m.completion;
    g.estimatedUsd = roundUsd(g.estimatedUsd + m.estimatedUsd);
    if (m.unpriced === true) g.unpriced = true;
    tokenUsd += m.estimatedUsd;
    prompt += m.prompt;
    completion += m.completion;
  }
  const restPrompt = Number(r.prompt_tokens) - prompt;
  const restCompletion = Number(r.completion_tokens) - completion;
  if (restPrompt > 0 || restCompletion > 0) {
    // Rows from before the breakdown: their tokens (and all their USD) have no model.
    const g = group(unknownModelKey);
    g.attempts++;
    g.tokens.prompt += Math.max(0, restPrompt);
    g.tokens.completion += Math.max(0, restCompletion);
    g.computeSeconds = Math.round((g.computeSeconds + r.compute_seconds) * 1000) / 1000;
    g.estimatedUsd = roundUsd(g.estimatedUsd + r.cost_usd - tokenUsd);
    if (Number(r.unpriced) === 1) g.unpriced = true;
    return;
  }
  if (r.compute_seconds > 0 || Object.keys(models).length === 0) {
    const g = group(computeKey);
    g.attempts++;
    g.computeSeconds = Math.round((g.computeSeconds + r.compute_seconds) * 1000) / 1000;
    g.estimatedUsd = roundUsd(g.estimatedUsd + Math.max(0, r.cost_usd - tokenUsd));
  }
}

function roundUsd(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
