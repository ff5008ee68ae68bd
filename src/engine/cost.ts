/**
 * Cost arithmetic and pricing, pure: what a node attempt used (its `NodeUsage`) becomes a
 * `Cost` with the configured prices; costs add up per node and per execution.
 */
import { QuantityError, parseCpu } from '../definition/quantity.ts';
import type { Cost, ModelCost, NodeUsage } from './types.ts';

/** The prices a deployment charges (from its configuration). */
export interface Pricing {
  /** USD per CPU-second of compute. */
  cpuSecondPriceUsd: number;
  /** USD per 1M tokens, per model. */
  modelPrices: Record<string, { prompt: number; completion: number }>;
}

export const zeroCost = (): Cost => ({
  estimatedUsd: 0,
  tokens: { prompt: 0, completion: 0 },
  computeSeconds: 0,
});

const usd = (n: number) => Math.round(n * 1e6) / 1e6;

export function addCost(a: Cost, b: Cost): Cost {
  return withModels(
    {
      estimatedUsd: usd(a.estimatedUsd + b.estimatedUsd),
      tokens: {
        prompt: a.tokens.prompt + b.tokens.prompt,
        completion: a.tokens.completion + b.tokens.completion,
      },
      computeSeconds: Math.round((a.computeSeconds + b.computeSeconds) * 1000) / 1000,
    },
    combine(a.models, b.models, 1),
    a.unpriced === true || b.unpriced === true,
  );
}

/** `a - b`, never below zero (the cost one attempt added to a node). */
export function subtractCost(a: Cost, b: Cost): Cost {
  const models = combine(a.models, b.models, -1);
  return withModels(
    {
      estimatedUsd: Math.max(0, usd(a.estimatedUsd - b.estimatedUsd)),
      tokens: {
        prompt: Math.max(0, a.tokens.prompt - b.tokens.prompt),
        completion: Math.max(0, a.tokens.completion - b.tokens.completion),
      },
      computeSeconds: Math.max(0, Math.round((a.computeSeconds - b.computeSeconds) * 1000) / 1000),
    },
    models,
    // The difference is unpriced when an unpriced model took tokens in it, or (costs from before
    // the per-model breakdown) when `a` was unpriced and tokens were added.
    models === undefined
      ? a.unpriced === true &&
          a.tokens.prompt + a.tokens.completion > b.tokens.prompt + b.tokens.completion
      : Object.values(models).some((m) => m.unpriced === true),
  );
}

function withModels(
  cost: Cost,
  models: Record<string, ModelCost> | undefined,
  unpriced: boolean,
): Cost {
  return {
    ...cost,
    ...(unpriced && { unpriced: true }),
    ...(models !== undefined && { models }),
  };
}

/** Per-model sums (`sign` 1) or differences (`sign` -1, models left without tokens dropped). */
function combine(
  a: Record<string, ModelCost> | undefined,
  b: Record<string, ModelCost> | undefined,
  sign: 1 | -1,
): Record<string, ModelCost> | undefined {
  if (a === undefined && (b === undefined || sign === -1)) return undefined;
  const out: Record<string, ModelCost> = {};
  for (const name of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])) {
    const x = a?.[name];
    const y = b?.[name];
    const m: ModelCost = {
      prompt: Math.max(0, (x?.prompt ?? 0) + sign * (y?.prompt ?? 0)),
      completion: Math.max(0, (x?.completion ?? 0) + sign * (y?.completion ?? 0)),
      estimatedUsd: Math.max(0, usd((x?.estimatedUsd ?? 0) + sign * (y?.estimatedUsd ?? 0))),
    };
    if (sign === -1 && m.prompt === 0 && m.completion === 0) continue;
    if (x?.unpriced === true || (sign === 1 && y?.unpriced === true)) m.unpriced = true;
    out[name] = m;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The CPUs compute is charged for: the runtime's `cpu` quantity ("2", ".5", "500m"); 1 when unset or unreadable. */
function cpuOf(value: unknown): number {
  try {
    return parseCpu(value) ?? 1;
  } catch (err) {
    if (err instanceof QuantityError) return 1;
    throw err;
  }
}

/**
 * The cost of one attempt: its run time times the execution's cpu at the CPU-second price, plus
 * its tokens at each model's price. A model without a price is never a silent $0: its tokens
 * are listed under `models` with `unpriced`, and the cost is `unpriced`.
 */
export function price(
  usage: NodeUsage | undefined,
  runtime: Record<string, unknown>,
  pricing: Pricing,
): Cost {
  if (!usage) return zeroCost();
  const cpu = cpuOf(runtime.cpu);
  const computeSeconds = Math.round((usage.runtimeSeconds ?? 0) * cpu * 1000) / 1000;
  const prompt = usage.promptTokens ?? 0;
  const completion = usage.completionTokens ?? 0;
  // Tokens are priced per model; fan-out nodes report a breakdown when they used several.
  const perModel =
    usage.models ??
    (usage.model !== undefined
      ? { [usage.model]: { promptTokens: prompt, completionTokens: completion } }
      : {});
  let tokenUsd = 0;
  const models: Record<string, ModelCost> = {};
  let unpriced = false;
  for (const [model, u] of Object.entries(perModel)) {
    if (u.promptTokens === 0 && u.completionTokens === 0) continue;
    const p = pricing.modelPrices[model];
    const m: ModelCost = {
      prompt: u.promptTokens,
      completion: u.completionTokens,
      estimatedUsd: p
        ? usd((u.promptTokens * p.prompt + u.completionTokens * p.completion) / 1e6)
        : 0,
    };
    if (p === undefined) {
      m.unpriced = true;
      unpriced = true;
    }
    tokenUsd += m.estimatedUsd;
    models[model] = m;
  }
  // Tokens reported without a model cannot be priced either.
  if (prompt + completion > 0 && Object.keys(perModel).length === 0) unpriced = true;
  return withModels(
    {
      computeSeconds,
      tokens: { prompt, completion },
      estimatedUsd: usd(computeSeconds * pricing.cpuSecondPriceUsd + tokenUsd),
    },
    Object.keys(models).length === 0 ? undefined : models,
    unpriced,
  );
}
