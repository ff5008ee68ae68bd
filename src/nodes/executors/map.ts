/** The `map` executor: runs a node template once per item of a list, `concurrency` at a time. */
import type { Static } from 'typebox';
import type { GraphNode } from '../../definition/model.ts';
import type { NodeExecutor } from '../executor.ts';
import type { MapNodeSchema } from '../map.ts';
import { cancelled, fail } from './errors.ts';
import {
  type ChildFailure,
  evaluateField,
  runPool,
  summarizeFailures,
  sumUsage,
  usageOption,
} from './fan-out.ts';

type MapConfig = Static<typeof MapNodeSchema>;

export const defaultMapConcurrency = 4;
export const maxMapItems = 10_000;

export const mapExecutor: NodeExecutor = async (ctx) => {
  const node = ctx.node as unknown as MapConfig;
  const template = node.node as GraphNode;
  const evaluated = evaluateField(ctx, node.items);
  if ('error' in evaluated) {
    return fail('ERR_MAP_ITEMS', `'items' does not evaluate: ${evaluated.error}`);
  }
  const items = evaluated.value;
  if (!Array.isArray(items)) {
    return fail('ERR_MAP_ITEMS', `'items' must be a list, got ${describe(items)}`);
  }
  if (items.length > maxMapItems) {
    return fail('ERR_MAP_ITEMS', `'items' has ${items.length} items; at most ${maxMapItems}`);
  }
  const list = items as unknown[];
  const concurrency = node.concurrency ?? defaultMapConcurrency;
  const results = await runPool(list.length, concurrency, ctx.signal, (index) =>
    ctx.runInline(template, { item: list[index], index }),
  );

  const outputs = results.map((r) => (r?.status === 'succeeded' ? r.outputs : null));
  const failures: (ChildFailure & { index: number })[] = [];
  results.forEach((result, index) => {
    if (result?.status === 'failed') {
      failures.push({ index, label: `item ${index}`, error: result.error });
    }
  });
  const usage = sumUsage(results.map((r) => r?.usage));
  const notRun = results.some((r) => r === undefined);
  if (ctx.signal.aborted && (notRun || failures.length > 0)) {
    return cancelled(ctx.signal, { outputs: { results: outputs }, ...usageOption(usage) });
  }
  if (failures.length > 0) {
    const summary = summarizeFailures(failures);
    const indexes = failures.map((f) => f.index);
    const shown =
      indexes.length > 20 ? `${indexes.slice(0, 20).join(', ')}, …` : indexes.join(', ');
    return fail(
      'ERR_ITEM_FAILED',
      `${failures.length} of ${list.length} items failed (${indexes.length === 1 ? 'index' : 'indexes'} ${shown}): ${summary.message}`,
      {
        retryable: summary.retryable,
        retryAfterMs: summary.retryAfterMs,
        outputs: { results: outputs, failed: indexes },
        ...usageOption(usage),
      },
    );
  }
  return { status: 'succeeded', outputs: { results: outputs }, ...usageOption(usage) };
};

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Map) return 'a map';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
