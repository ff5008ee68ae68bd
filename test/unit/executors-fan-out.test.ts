import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GraphNode } from '../../src/definition/model.ts';
import type { ExecResult } from '../../src/nodes/executor.ts';
import {
  MemoryCheckpoints,
  createExecFixture,
  runNode,
  failed,
  succeeded,
} from '../helpers/exec-context.ts';

const sh = (id: string, run: string, more: Record<string, unknown> = {}): GraphNode => ({
  id,
  type: 'command',
  run,
  ...more,
});

/**
 * An inline runner that counts runs in flight. Each run yields to the event loop before it
 * finishes, so an executor that starts more than its cap at once is seen doing so.
 */
function inFlightCounter(
  outcome: (extra: Record<string, unknown>) => ExecResult = () => ({
    status: 'succeeded',
    outputs: {},
  }),
) {
  const counter = { current: 0, max: 0, calls: [] as Record<string, unknown>[] };
  const runInline = async (_node: GraphNode, extra: Record<string, unknown>) => {
    counter.calls.push(extra);
    counter.current++;
    counter.max = Math.max(counter.max, counter.current);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    counter.current--;
    return outcome(extra);
  };
  return { counter, runInline };
}

describe('parallel executor', () => {
  it('runs every branch and collects outputs by branch id', async () => {
    const { result } = await runNode({
      id: 'fan',
      type: 'parallel',
      branches: [
        sh('a', 'echo "x=1" >> "$SWITCHYARD_OUTPUT"'),
        { id: 'b', type: 'noop' },
        sh('c', 'echo "who=${{ branch }}" >> "$SWITCHYARD_OUTPUT"'),
      ],
    });
    assert.deepEqual(succeeded(result), {
      branches: { a: { x: '1', exitCode: 0 }, b: {}, c: { who: 'c', exitCode: 0 } },
    });
    assert.equal(typeof result.usage?.runtimeSeconds, 'number');
  });

  it('lets other branches finish, then fails naming the failed ones', async () => {
    const { result, fixture } = await runNode({
      id: 'fan',
      type: 'parallel',
      branches: [
        sh('ok', 'echo done'),
        sh('bad', 'echo broken >&2; exit 4'),
        sh('worse', 'exit 5'),
      ],
    });
    const error = failed(result);
    assert.equal(error.code, 'ERR_BRANCH_FAILED');
    assert.equal(error.retryable, true);
    assert.match(error.message, /branches bad, worse failed/);
    assert.match(error.message, /code 4: broken/);
    assert.deepEqual(result.outputs, {
      branches: { ok: { exitCode: 0 } },
      failed: ['bad', 'worse'],
    });
    // As in the worker: a branch's lines go to the parallel node's log, prefixed with the branch id.
    assert.ok(fixture.lines.some((l) => l.nodeId === 'fan' && l.line === '[ok] done'));
  });

  it('is not retryable when one failed branch is not', async () => {
    const { result } = await runNode({
      id: 'fan',
      type: 'parallel',
      branches: [sh('exit', 'exit 1'), sh('image', 'true', { image: 'alpine' })],
    });
    const error = failed(result);
    assert.equal(error.code, 'ERR_BRANCH_FAILED');
    assert.equal(error.retryable, false);
  });

  it('runs at most `concurrency` branches at once', async () => {
    const { counter, runInline } = inFlightCounter();
    const branches = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, type: 'noop' }));
    const { result } = await runNode(
      { id: 'fan', type: 'parallel', branches, concurrency: 2 },
      { runInline },
    );
    succeeded(result);
    assert.equal(counter.max, 2);
    assert.deepEqual(
      counter.calls.map((c) => c.branch),
      ['a', 'b', 'c', 'd', 'e'],
    );

    const all = inFlightCounter();
    await runNode({ id: 'fan', type: 'parallel', branches }, { runInline: all.runInline });
    assert.equal(all.counter.max, 5);
  });

  it('sums usage and keeps tokens per model', async () => {
    const models = ['m1', 'm2', 'm1'];
    const { result } = await runNode(
      {
        id: 'fan',
        type: 'parallel',
        branches: models.map((_, i) => ({ id: `b${i}`, type: 'noop' })),
      },
      {
        runInline: (node) =>
          Promise.resolve({
            status: 'succeeded',
            outputs: {},
            usage: {
              model: models[Number(node.id.slice(1))]!,
              promptTokens: 10,
              completionTokens: 1,
            },
          }),
      },
    );
    assert.deepEqual(result.usage, {
      promptTokens: 30,
      completionTokens: 3,
      models: {
        m1: { promptTokens: 20, completionTokens: 2 },
        m2: { promptTokens: 10, completionTokens: 1 },
      },
    });
  });
});

describe('map executor', () => {
  it('runs the template once per item with item and index', async () => {
    const { result } = await runNode(
      {
        id: 'each',
        type: 'map',
        items: '${{ vars.numbers }}',
        node: sh('double', 'echo "v=$(( ${{ item }} * 2 ))@${{ index }}" >> "$SWITCHYARD_OUTPUT"'),
      },
      { scope: { vars: { numbers: [1, 2, 3] } } },
    );
    assert.deepEqual(succeeded(result), {
      results: [
        { v: '2@0', exitCode: 0 },
        { v: '4@1', exitCode: 0 },
        { v: '6@2', exitCode: 0 },
      ],
    });
  });

  it('succeeds with no results for an empty list', async () => {
    const { result } = await runNode({
      id: 'each',
      type: 'map',
      items: '[]',
      node: sh('x', 'exit 1'),
    });
    assert.deepEqual(succeeded(result), { results: [] });
  });

  it('refuses items that are not a list, do not evaluate, or are too many', async () => {
    const cases: [string, RegExp][] = [
      ['{"a": 1}', /must be a list, got a/],
      ['"text"', /must be a list, got a string/],
      ['vars.nope', /does not evaluate/],
      ['vars.big', /10001 items; at most 10000/],
    ];
    for (const [items, message] of cases) {
      const { result } = await runNode(
        { id: 'each', type: 'map', items, node: { id: 'x', type: 'noop' } },
        { scope: { vars: { big: Array.from({ length: 10_001 }, (_, i) => i) } } },
      );
      const error = failed(result);
      assert.equal(error.code, 'ERR_MAP_ITEMS', items);
      assert.equal(error.retryable, false);
      assert.match(error.message, message);
    }
  });

  it('fails naming the failed indexes after running every item', async () => {
    const { result } = await runNode({
      id: 'each',
      type: 'map',
      items: '[0, 1, 2, 3]',
      node: sh('check', 'test ${{ item }} -ne 1 && test ${{ item }} -ne 3'),
    });
    const error = failed(result);
    assert.equal(error.code, 'ERR_ITEM_FAILED');
    assert.match(error.message, /2 of 4 items failed \(indexes 1, 3\)/);
    assert.deepEqual(result.outputs, {
      results: [{ exitCode: 0 }, null, { exitCode: 0 }, null],
      failed: [1, 3],
    });
  });

  it('runs 4 items at once by default and `concurrency` when set', async () => {
    const items = JSON.stringify(Array.from({ length: 10 }, (_, i) => i));
    const byDefault = inFlightCounter();
    await runNode(
      { id: 'each', type: 'map', items, node: { id: 'x', type: 'noop' } },
      { runInline: byDefault.runInline },
    );
    assert.equal(byDefault.counter.max, 4);
    assert.deepEqual(
      byDefault.counter.calls.map((c) => c.index),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );

    const two = inFlightCounter();
    await runNode(
      { id: 'each', type: 'map', items, node: { id: 'x', type: 'noop' }, concurrency: 2 },
      { runInline: two.runInline },
    );
    assert.equal(two.counter.max, 2);
  });

  it('starts no new items once cancelled', async () => {
    let calls = 0;
    const fixture = await createExecFixture(
      {
        id: 'each',
        type: 'map',
        items: '[1, 2, 3, 4, 5]',
        node: { id: 'x', type: 'noop' },
        concurrency: 1,
      },
      {
        runInline: () => {
          calls++;
          fixture.controller.abort('cancelled');
          return Promise.resolve({ status: 'succeeded', outputs: { ok: true } });
        },
      },
    );
    try {
      const result = await fixture.run();
      assert.equal(calls, 1);
      assert.equal(failed(result).code, 'ERR_CANCELLED');
      assert.deepEqual(result.outputs, { results: [{ ok: true }, null, null, null, null] });
    } finally {
      await fixture.dispose();
    }
  });
});

describe('loop executor', () => {
  it('repeats until `until` holds, passing iteration and previous', async () => {
    const { result } = await runNode({
      id: 'again',
      type: 'loop',
      maxIterations: 10,
      until: '${{ outputs.n == "2" }}',
      node: sh('step', 'echo "n=${{ iteration }}" >> "$SWITCHYARD_OUTPUT"'),
    });
    assert.deepEqual(succeeded(result), { iterations: 3, outputs: { n: '2', exitCode: 0 } });

    const seen = inFlightCounter((extra) => ({
      status: 'succeeded',
      outputs: { count: (extra.iteration as number) + 1 },
    }));
    const counted = await runNode(
      {
        id: 'again',
        type: 'loop',
        maxIterations: 5,
        until: 'outputs.count >= 3',
        node: { id: 'x', type: 'noop' },
      },
      { runInline: seen.runInline },
    );
    assert.deepEqual(succeeded(counted.result), { iterations: 3, outputs: { count: 3 } });
    assert.deepEqual(seen.counter.calls, [
      { iteration: 0, previous: null },
      { iteration: 1, previous: { count: 1 } },
      { iteration: 2, previous: { count: 2 } },
    ]);
  });

  it('fails with ERR_LOOP_LIMIT after maxIterations', async () => {
    const { result } = await runNode({
      id: 'again',
      type: 'loop',
      maxIterations: 3,
      until: 'false',
      node: { id: 'x', type: 'noop' },
    });
    const error = failed(result);
    assert.equal(error.code, 'ERR_LOOP_LIMIT');
    assert.equal(error.retryable, false);
    assert.deepEqual(result.outputs, { iterations: 3, outputs: {} });
  });

  it('fails when an iteration fails, and on an `until` that is not a boolean', async () => {
    const { result } = await runNode({
      id: 'again',
      type: 'loop',
      maxIterations: 5,
      until: 'false',
      node: sh('step', 'test ${{ iteration }} -lt 1'),
    });
    const error = failed(result);
    assert.equal(error.code, 'ERR_ITERATION_FAILED');
    assert.match(error.message, /iteration 1 failed/);
    assert.equal(error.exitCode, 1);
    assert.deepEqual(result.outputs, { iterations: 1, outputs: { exitCode: 0 } });

    const notBool = await runNode({
      id: 'again',
      type: 'loop',
      maxIterations: 5,
      until: '1 + 1',
      node: { id: 'x', type: 'noop' },
    });
    const untilError = failed(notBool.result);
    assert.equal(untilError.code, 'ERR_LOOP_UNTIL');
    assert.equal(untilError.retryable, false);
  });

  it('stops between iterations once cancelled', async () => {
    let calls = 0;
    const fixture = await createExecFixture(
      {
        id: 'again',
        type: 'loop',
        maxIterations: 5,
        until: 'false',
        node: { id: 'x', type: 'noop' },
      },
      {
        runInline: () => {
          calls++;
          fixture.controller.abort('shutdown');
          return Promise.resolve({ status: 'succeeded', outputs: {} });
        },
      },
    );
    try {
      const error = failed(await fixture.run());
      assert.equal(calls, 1);
      assert.equal(error.code, 'ERR_CANCELLED');
      assert.match(error.message, /shutdown/);
    } finally {
      await fixture.dispose();
    }
  });
});

describe('fan-out resume across attempts', () => {
  /** An inline runner that fails the runs `failing` picks, counts runs, and reports 1 s of usage. */
  function scripted(failing: (extra: Record<string, unknown>) => boolean) {
    const calls: Record<string, unknown>[] = [];
    const runInline = (node: GraphNode, extra: Record<string, unknown>): Promise<ExecResult> => {
      calls.push(extra);
      if (failing(extra))
        return Promise.resolve({
          status: 'failed',
          error: { code: 'ERR_X', message: 'no', retryable: true },
          usage: { runtimeSeconds: 1 },
        });
      const value = 'item' in extra ? extra.item : (extra.branch ?? extra.iteration);
      return Promise.resolve({
        status: 'succeeded',
        outputs: { value, node: node.id },
        usage: { runtimeSeconds: 1 },
      });
    };
    return { calls, runInline };
  }

  it('map: a second attempt runs only the items that did not succeed, results in order', async () => {
    const items = new MemoryCheckpoints();
    const node = {
      id: 'each',
      type: 'map',
      items: '[10, 20, 30, 40]',
      node: { id: 'x', type: 'noop' },
    };
    const first = scripted((extra) => extra.index === 2);
    const a1 = await runNode(node, { items, runInline: first.runInline });
    assert.equal(failed(a1.result).code, 'ERR_ITEM_FAILED');
    assert.equal(first.calls.length, 4);
    assert.deepEqual(
      [...items.rows.entries()].map(([i, r]) => [i, r.result?.status]),
      [
        [0, 'succeeded'],
        [1, 'succeeded'],
        [2, 'failed'],
        [3, 'succeeded'],
      ],
    );

    const second = scripted(() => false);
    const a2 = await runNode(node, { items, runInline: second.runInline });
    assert.deepEqual(
      second.calls.map((c) => c.index),
      [2],
    );
    assert.deepEqual(succeeded(a2.result), {
      results: [10, 20, 30, 40].map((value) => ({ value, node: 'x' })),
    });
    // Reused items were charged to the attempt that ran them.
    assert.equal(a2.result.usage?.runtimeSeconds, 1);
  });

  it('map: an item whose input changed runs again', async () => {
    const items = new MemoryCheckpoints();
    const run = (list: string) =>
      runNode(
        { id: 'each', type: 'map', items: list, node: { id: 'x', type: 'noop' } },
        { items, runInline: counter.runInline },
      );
    const counter = scripted(() => false);
    await run('[1, 2]');
    await run('[1, 3]');
    assert.deepEqual(
      counter.calls.map((c) => c.item),
      [1, 2, 3],
    );
  });

  it('parallel: a second attempt runs only the failed branch, keyed by branch id', async () => {
    const items = new MemoryCheckpoints();
    const node = {
      id: 'fan',
      type: 'parallel',
      branches: ['a', 'b', 'c'].map((id) => ({ id, type: 'noop' })),
    };
    const first = scripted((extra) => extra.branch === 'b');
    failed((await runNode(node, { items, runInline: first.runInline })).result);
    assert.equal(items.rows.get(1)?.key, 'b');
    const second = scripted(() => false);
    const { result } = await runNode(node, { items, runInline: second.runInline });
    assert.deepEqual(
      second.calls.map((c) => c.branch),
      ['b'],
    );
    assert.deepEqual(Object.keys((succeeded(result).branches as object) ?? {}), ['a', 'b', 'c']);
  });

  it('loop: a second attempt resumes after the last succeeded iteration', async () => {
    const items = new MemoryCheckpoints();
    const node = {
      id: 'again',
      type: 'loop',
      maxIterations: 5,
      until: 'iteration == 3',
      node: { id: 'x', type: 'noop' },
    };
    const first = scripted((extra) => extra.iteration === 2);
    assert.equal(
      failed((await runNode(node, { items, runInline: first.runInline })).result).code,
      'ERR_ITERATION_FAILED',
    );
    const second = scripted(() => false);
    const { result } = await runNode(node, { items, runInline: second.runInline });
    assert.deepEqual(second.calls, [
      { iteration: 2, previous: { value: 1, node: 'x' } },
      { iteration: 3, previous: { value: 2, node: 'x' } },
    ]);
    assert.deepEqual(succeeded(result), { iterations: 4, outputs: { value: 3, node: 'x' } });
  });
});
