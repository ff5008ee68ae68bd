import { type Static, Type } from 'typebox';
import { CelString, InlineNodeSchema, nodeSchema } from '../definition/model.ts';
import type { GraphNode } from '../definition/model.ts';
import { cancelled, fail } from './errors.ts';
import { evaluateField, inputHash, runChild, sumUsage, usageOption } from './fan-out.ts';
import type { ExecContext, ExecResult, NodeUsage } from './executor.ts';
import { defineNodeType } from './node-type.ts';

/** Repeats an inline node template until a condition holds, bounded. */
const LoopNodeSchema = nodeSchema('loop', {
  node: InlineNodeSchema,
  until: CelString('checked after each iteration'),
  maxIterations: Type.Integer({ minimum: 1, maximum: 10000 }),
});

/*
 * The `loop` executor: runs a node template again and again (`iteration` from 0, `previous` the
 * last outputs) until `until` holds, at most `maxIterations` times.
 */
type LoopConfig = Static<typeof LoopNodeSchema>;

async function executeLoop(ctx: ExecContext<LoopConfig>): Promise<ExecResult> {
  const node = ctx.node;
  const template = node.node as GraphNode;
  const max = node.maxIterations;
  if (!Number.isSafeInteger(max) || max < 1) {
    return fail('ERR_NODE_CONFIG', "'maxIterations' must be a positive integer");
  }
  let previous: Record<string, unknown> | null = null;
  const usages: (NodeUsage | undefined)[] = [];
  const done = (iterations: number) => ({
    outputs: { iterations, outputs: previous },
    ...usageOption(sumUsage(usages)),
  });

  for (let iteration = 0; iteration < max; iteration++) {
    if (ctx.signal.aborted) return cancelled(ctx.signal, done(iteration));
    // An iteration an earlier attempt finished with the same `previous` is not run again.
    const result: ExecResult = await runChild(
      ctx,
      iteration,
      inputHash(template, iteration, previous),
      () => ctx.runInline(template, { iteration, previous }),
    );
    usages.push(result.usage);
    if (result.status === 'failed') {
      if (ctx.signal.aborted) return cancelled(ctx.signal, done(iteration));
      return fail(
        'ERR_ITERATION_FAILED',
        `iteration ${iteration} failed: ${result.error.message} (${result.error.code})`,
        {
          retryable: result.error.retryable,
          retryAfterMs: result.error.retryAfterMs,
          exitCode: result.error.exitCode,
          ...done(iteration),
        },
      );
    }
    previous = result.outputs;
    const until = evaluateField(ctx, node.until, { iteration, outputs: result.outputs });
    if ('error' in until) {
      return fail(
        'ERR_LOOP_UNTIL',
        `'until' does not evaluate: ${until.error}`,
        done(iteration + 1),
      );
    }
    if (typeof until.value !== 'boolean') {
      return fail(
        'ERR_LOOP_UNTIL',
        `'until' must be a boolean, got ${until.value === null ? 'null' : typeof until.value}`,
        done(iteration + 1),
      );
    }
    if (until.value) return { status: 'succeeded', ...done(iteration + 1) };
  }
  return fail(
    'ERR_LOOP_LIMIT',
    `'until' did not hold after ${max} ${max === 1 ? 'iteration' : 'iterations'}`,
    done(max),
  );
}

export const loopNode = defineNodeType({
  type: 'loop',
  schema: LoopNodeSchema,
  description:
    'Runs its node template repeatedly until `until` holds or `max_iterations` is reached.',
  outputs: [
    { name: 'iterations', type: 'int', description: 'how many times the template ran' },
    { name: 'outputs', type: 'map | null', description: "the last run's outputs" },
  ],
  lateFields: ['until', 'node'],
  // executeLoop: each run gets iteration and the previous outputs; `until` the run's outputs.
  expressionNames: {
    inline: ['iteration', 'previous'],
    fields: { until: ['iteration', 'outputs'] },
  },
  execute: executeLoop,
});
