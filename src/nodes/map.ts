import { type Static, Type } from 'typebox';
import { CelString, InlineNodeSchema, nodeSchema } from '../definition/model.ts';
import type { GraphNode } from '../definition/model.ts';
import { cancelled, fail } from './errors.ts';
import {
  type ChildFailure,
  evaluateField,
  inputHash,
  runChild,
  runPool,
  summarizeFailures,
  sumUsage,
  usageOption,
} from './fan-out.ts';
import type { ExecContext, ExecResult } from './executor.ts';
import { defineNodeType } from './node-type.ts';

/** Fans an inline node template out over a list. */
const MapNodeSchema = nodeSchema('map', {
  items: CelString('a list; each item is `item` in the template'),
  node: InlineNodeSchema,
  concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
});

/* The `map` executor: runs a node template once per item of a list, `concurrency` at a time. */
type MapConfig = Static<typeof MapNodeSchema>;

const defaultMapConcurrency = 4;
const maxMapItems = 10_000;

async function executeMap(ctx: ExecContext<MapConfig>): Promise<ExecResult> {
  const node = ctx.node;
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
    runChild(ctx, index, inputHash(template, list[index]), () =>
      ctx.runInline(template, { item: list[index], index }),
    ),
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
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Map) return 'a map';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export const mapNode = defineNodeType({
  type: 'map',
  schema: MapNodeSchema,
  description: 'Runs its node template once per item of a list; outputs are the list of results.',
  outputs: [
    {
      name: 'results',
      type: 'list',
      description: "each item's outputs, in item order (`nodes.<id>.outputs.results[0].<key>`)",
    },
  ],
  lateFields: ['items', 'node'],
  // executeMap: `items` is evaluated with the execution's names; each run gets item, index.
  expressionNames: { inline: ['item', 'index'], fields: { items: [] } },
  execute: executeMap,
});
