import { type Static, Type } from 'typebox';
import { InlineNodeSchema, nodeSchema } from '../definition/model.ts';
import type { GraphNode } from '../definition/model.ts';
import { cancelled, fail } from './errors.ts';
import {
  type ChildFailure,
  inputHash,
  runChild,
  runPool,
  summarizeFailures,
  sumUsage,
  usageOption,
} from './fan-out.ts';
import type { ExecContext, ExecResult } from './executor.ts';
import { defineNodeType } from './node-type.ts';

/** Runs inline branch nodes side by side. */
const ParallelNodeSchema = nodeSchema('parallel', {
  branches: Type.Array(InlineNodeSchema, { minItems: 1 }),
  concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
});

/* The `parallel` executor: runs inline branches side by side, at most `concurrency` at once. */
type ParallelConfig = Static<typeof ParallelNodeSchema>;

async function executeParallel(ctx: ExecContext<ParallelConfig>): Promise<ExecResult> {
  const node = ctx.node;
  const branches = node.branches as GraphNode[];
  if (!Array.isArray(branches) || branches.length === 0) {
    return fail('ERR_NODE_CONFIG', "'branches' must be a non-empty list");
  }
  const concurrency = node.concurrency ?? branches.length;
  const results = await runPool(branches.length, concurrency, ctx.signal, (i) => {
    const branch = branches[i]!;
    return runChild(
      ctx,
      i,
      inputHash(branch),
      () => ctx.runInline(branch, { branch: branch.id }),
      branch.id,
    );
  });

  const outputs: Record<string, unknown> = {};
  const failures: (ChildFailure & { id: string })[] = [];
  results.forEach((result, i) => {
    const id = branches[i]!.id;
    if (result?.status === 'succeeded') outputs[id] = result.outputs;
    else if (result?.status === 'failed') {
      failures.push({ id, label: `branch ${JSON.stringify(id)}`, error: result.error });
    }
  });
  const usage = sumUsage(results.map((r) => r?.usage));
  const notRun = results.some((r) => r === undefined);
  if (ctx.signal.aborted && (notRun || failures.length > 0)) {
    return cancelled(ctx.signal, { outputs: { branches: outputs }, ...usageOption(usage) });
  }
  if (failures.length > 0) {
    const summary = summarizeFailures(failures);
    const ids = failures.map((f) => f.id);
    return fail(
      'ERR_BRANCH_FAILED',
      `${ids.length === 1 ? 'branch' : 'branches'} ${ids.join(', ')} failed: ${summary.message}`,
      {
        retryable: summary.retryable,
        retryAfterMs: summary.retryAfterMs,
        outputs: { branches: outputs, failed: ids },
        ...usageOption(usage),
      },
    );
  }
  return { status: 'succeeded', outputs: { branches: outputs }, ...usageOption(usage) };
}

export const parallelNode = defineNodeType({
  type: 'parallel',
  schema: ParallelNodeSchema,
  description:
    'Runs its inline branches concurrently (at most `concurrency` at once); succeeds when all do.',
  outputs: [
    {
      name: 'branches',
      type: 'map',
      description: "each branch's outputs by branch id (`nodes.<id>.outputs.branches.<branch>`)",
    },
  ],
  lateFields: ['branches'],
  // executeParallel: each branch runs with its own id as `branch`.
  expressionNames: { inline: ['branch'] },
  execute: executeParallel,
});
