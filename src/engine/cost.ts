/**
 * Cost arithmetic and pricing, pure: what a node attempt used (its `NodeUsage`) becomes a
 * `Cost` with the configured prices; costs add up per node and per execution.
 */
import { QuantityError, parseCpu } from '../definition/quantity.ts';
import type { Cost, NodeUsage } from './types.ts';

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

export function addCost(a: Cost, b: Cost): Cost {
  return {
    estimatedUsd: Math.round((a.estimatedUsd + b.estimatedUsd) * 1e6) / 1e6,
    tokens: {
      prompt: a.tokens.prompt + b.tokens.prompt,
      completion: a.tokens.completion + b.tokens.completion,
    },
    computeSeconds: Math.round((a.computeSeconds + b.computeSeconds) * 1000) / 1000,
  };
}

/** `a - b`, never below zero (the cost one attempt added to a node). */
export function subtractCost(a: Cost, b: Cost): Cost {
  return {
    estimatedUsd: Math.max(0, Math.round((a.estimatedUsd - b.estimatedUsd) * 1e6) / 1e6),
    tokens: {
      prompt: Math.max(0, a.tokens.prompt - b.tokens.prompt),
      completion: Math.max(0, a.tokens.completion - b.tokens.completion),
    },
    computeSeconds: Math.max(0, Math.round((a.computeSeconds - b.computeSeconds) * 1000) / 1000),
  };
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
 * its tokens at each model's price.
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
  for (const [model, u] of Object.entries(perModel)) {
    const p = pricing.modelPrices[model];
    if (p) tokenUsd += (u.promptTokens * p.prompt + u.completionTokens * p.completion) / 1e6;
  }
  const usd = computeSeconds * pricing.cpuSecondPriceUsd + tokenUsd;
  return {
    computeSeconds,
    tokens: { prompt, completion },
    estimatedUsd: Math.round(usd * 1e6) / 1e6,
  };
}
