/**
 * What parallel, map and loop share: a bounded pool, checkpointed children, failure summaries,
 * usage sums, CEL fields.
 */
import { createHash } from 'node:crypto';
import { conditionSource } from '../definition/expressions.ts';
import type { ExecContext, ExecResult, NodeError, NodeUsage } from './executor.ts';
import { errorMessage, fail } from './errors.ts';

/**
 * Runs `task(i)` for every i in [0, count) with at most `concurrency` in flight, in index order,
 * and starts nothing new once `signal` is aborted. Results by index; undefined for tasks that
 * never started.
 */
export async function runPool(
  count: number,
  concurrency: number,
  signal: AbortSignal,
  task: (index: number) => Promise<ExecResult>,
): Promise<(ExecResult | undefined)[]> {
  const results: (ExecResult | undefined)[] = new Array<ExecResult | undefined>(count).fill(
    undefined,
  );
  let next = 0;
  const lane = async () => {
    while (next < count && !signal.aborted) {
      const index = next++;
      results[index] = await settle(() => task(index));
    }
  };
  const lanes = Math.max(1, Math.min(Math.floor(concurrency), count));
  await Promise.all(Array.from({ length: lanes }, lane));
  return results;
}

/** The result of an inline run; a throw (a bug somewhere below) becomes a failed result. */
async function settle(run: () => Promise<ExecResult>): Promise<ExecResult> {
  try {
    return await run();
  } catch (error) {
    return fail('ERR_NODE_INTERNAL', `inline run threw: ${errorMessage(error)}`);
  }
}

/**
 * Runs child `index` unless an earlier attempt of the node finished it with the same input: then
 * its stored outputs stand in for it, with no usage (it was charged to the attempt that ran it).
 * Otherwise the child's start and end are checkpointed around `run` (`ctx.items`).
 */
export async function runChild(
  ctx: ExecContext<unknown>,
  index: number,
  hash: string,
  run: () => Promise<ExecResult>,
  key?: string,
): Promise<ExecResult> {
  const stored = await ctx.items.done(index, hash);
  if (stored !== undefined) return { status: 'succeeded', outputs: stored };
  await ctx.items.started(index, hash, key);
  const result = await settle(run);
  await ctx.items.record(index, hash, result, key);
  return result;
}

/**
 * The fingerprint of a child's input: SHA-256 of its parts as JSON with object keys sorted, so
 * the same template and item give the same hash in every attempt.
 */
export function inputHash(...parts: unknown[]): string {
  return createHash('sha256').update(stableJson(parts)).digest('hex');
}

function stableJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value instanceof Map) return stableJson(Object.fromEntries(value));
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

export interface ChildFailure {
  /** How the child is named in messages: `branch "a"`, `item 3`. */
  label: string;
  error: NodeError;
}

/** Most child failures spelled out in one message. */
const maxListed = 5;

/** The message and retry flags of a fan-out that had failed children. */
export function summarizeFailures(
  failures: ChildFailure[],
): Pick<NodeError, 'message' | 'retryable' | 'retryAfterMs'> {
  const listed = failures
    .slice(0, maxListed)
    .map((f) => `${f.label}: ${f.error.message} (${f.error.code})`);
  if (failures.length > maxListed) listed.push(`and ${failures.length - maxListed} more`);
  const waits = failures.flatMap((f) =>
    f.error.retryAfterMs === undefined ? [] : [f.error.retryAfterMs],
  );
  return {
    message: listed.join('; '),
    retryable: failures.every((f) => f.error.retryable),
    retryAfterMs: waits.length === 0 ? undefined : Math.max(...waits),
  };
}

/** The sum of the children's usage: seconds and tokens add up, tokens stay split by model. */
export function sumUsage(usages: (NodeUsage | undefined)[]): NodeUsage | undefined {
  let seen = false;
  let runtimeSeconds: number | undefined;
  let promptTokens: number | undefined;
  let completionTokens: number | undefined;
  const models = new Map<string, { promptTokens: number; completionTokens: number }>();
  const addModel = (model: string, prompt: number, completion: number) => {
    const entry = models.get(model) ?? { promptTokens: 0, completionTokens: 0 };
    entry.promptTokens += prompt;
    entry.completionTokens += completion;
    models.set(model, entry);
  };
  for (const usage of usages) {
    if (usage === undefined) continue;
    seen = true;
    if (usage.runtimeSeconds !== undefined) {
      runtimeSeconds = (runtimeSeconds ?? 0) + usage.runtimeSeconds;
    }
    if (usage.promptTokens !== undefined) promptTokens = (promptTokens ?? 0) + usage.promptTokens;
    if (usage.completionTokens !== undefined) {
      completionTokens = (completionTokens ?? 0) + usage.completionTokens;
    }
    if (usage.models !== undefined) {
      for (const [model, t] of Object.entries(usage.models)) {
        addModel(model, t.promptTokens, t.completionTokens);
      }
    } else if (usage.model !== undefined) {
      addModel(usage.model, usage.promptTokens ?? 0, usage.completionTokens ?? 0);
    }
  }
  if (!seen) return undefined;
  const sum: NodeUsage = {};
  if (runtimeSeconds !== undefined) sum.runtimeSeconds = runtimeSeconds;
  if (promptTokens !== undefined) sum.promptTokens = promptTokens;
  if (completionTokens !== undefined) sum.completionTokens = completionTokens;
  if (models.size === 1) sum.model = [...models.keys()][0];
  if (models.size > 1) sum.models = Object.fromEntries(models);
  return sum;
}

/**
 * Evaluates a CEL field (`items`, `until`): bare CEL or one `${{ }}` around the whole value. A
 * value that is not a string (already evaluated by the engine) is returned as it is.
 */
export function evaluateField(
  ctx: ExecContext<unknown>,
  value: unknown,
  extra?: Record<string, unknown>,
): { value: unknown } | { error: string } {
  if (typeof value !== 'string') return { value };
  const source = conditionSource(value);
  if ('error' in source) return source;
  try {
    return { value: ctx.evaluate(source.expr, extra) };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

export function usageOption(usage: NodeUsage | undefined): { usage?: NodeUsage } {
  return usage === undefined ? {} : { usage };
}
