/**
 * The reducer, driven to quiescence over the fixtures in test/fixtures/workflows/engine/ with
 * scripted node outcomes, a fake clock and injected control events (CONVENTIONS 12). The driver
 * checks the engine's invariants on every decision; these tests assert the final state a user
 * sees: execution and node statuses, attempts, DLQ entries, outputs, and the events emitted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type DriveResult,
  type DriverView,
  Driver,
  afterStarted,
  attempts,
  commandsOf,
  drive,
  eventsOf,
  executionIs,
  exitError,
  inject,
  nodeIs,
  nodeStatuses,
  quiescent,
  ranOrder,
  virtualSeconds,
  skipReasons,
} from '../helpers/engine-driver.ts';

const approve = (nodeId: string, comment?: string) =>
  ({
    type: 'approval',
    nodeId,
    decision: 'approve',
    actor: 'alice',
    ...(comment !== undefined && { comment }),
  }) as const;
const reject = (nodeId: string, comment?: string) =>
  ({
    type: 'approval',
    nodeId,
    decision: 'reject',
    actor: 'alice',
    ...(comment !== undefined && { comment }),
  }) as const;
const cancel = { type: 'cancel', actor: 'bob' } as const;

function executionStatusTrail(r: DriveResult): string[] {
  return eventsOf(r, 'execution.status').map((e) => e.data.status as string);
}

function nodeStatusTrail(r: DriveResult, nodeId: string): string[] {
  return eventsOf(r, 'node.status', nodeId).map((e) => e.data.status as string);
}

/** When (virtual seconds since creation) each attempt of a node started to run. */
function runTimes(r: DriveResult, nodeId: string): number[] {
  return r.ran.filter((x) => x.nodeId === nodeId).map((x) => virtualSeconds(r, x.at));
}

describe('engine reducer: sequencing', () => {
  it('runs a linear chain in order, each node once, passing outputs along', () => {
    const r = drive('linear', { script: { build: { outputs: { artifact: 'app.tar' } } } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      checkout: 'succeeded',
      build: 'succeeded',
      publish: 'succeeded',
    });
    assert.deepEqual(attempts(r), { checkout: 1, build: 1, publish: 1 });
    assert.deepEqual(ranOrder(r), ['checkout', 'build', 'publish']);
    assert.deepEqual(r.snapshot.nodes.build!.outputs, { artifact: 'app.tar' });
    assert.deepEqual(executionStatusTrail(r), ['running', 'succeeded']);
    assert.deepEqual(nodeStatusTrail(r, 'publish'), ['queued', 'running', 'succeeded']);
    assert.deepEqual(r.dlq, []);
    assert.equal(r.snapshot.execution.error, null);
    assert.ok(r.snapshot.execution.startedAt && r.snapshot.execution.endedAt);
    assert.deepEqual(r.tasks, [], 'no task is left behind');
  });

  it('runs both branches of a diamond side by side and joins when the slower one ends', () => {
    const r = drive('diamond', {
      script: { lint: { durationMs: 10_000 }, test: { durationMs: 30_000 } },
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      prepare: 'succeeded',
      lint: 'succeeded',
      test: 'succeeded',
      report: 'succeeded',
    });
    assert.deepEqual(ranOrder(r), ['prepare', 'lint', 'test', 'report']);
    assert.deepEqual(runTimes(r, 'lint'), [0]);
    assert.deepEqual(runTimes(r, 'test'), [0]);
    // The join waits for the slower branch, not the first one to end.
    assert.deepEqual(runTimes(r, 'report'), [30]);
  });

  it('fans out to every shard at once and fans in after the last one', () => {
    const r = drive('fan-out-fan-in', {
      script: {
        shard_1: { durationMs: 5_000 },
        shard_2: { durationMs: 1_000 },
        shard_3: { durationMs: 20_000 },
        shard_4: { durationMs: 3_000 },
      },
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.ok(Object.values(nodeStatuses(r)).every((s) => s === 'succeeded'));
    const shards = ['shard_1', 'shard_2', 'shard_3', 'shard_4'];
    // Every shard was running before the first one finished.
    const firstShardDone = r.events.findIndex(
      (e) =>
        e.type === 'node.status' && shards.includes(e.nodeId!) && e.data.status === 'succeeded',
    );
    for (const id of shards) {
      const running = r.events.findIndex(
        (e) => e.type === 'node.status' && e.nodeId === id && e.data.status === 'running',
      );
      assert.ok(running >= 0 && running < firstShardDone, `${id} ran in parallel`);
    }
    assert.equal(ranOrder(r).at(-1), 'merge');
    assert.deepEqual(runTimes(r, 'merge'), [20]);
    assert.equal(ranOrder(r).filter((id) => id === 'merge').length, 1);
  });
});

describe('engine reducer: branching', () => {
  it('condition true runs `then`, skips `else`, and the join still runs', () => {
    const r = drive('condition-branch', { params: { deploy: true } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      check: 'succeeded',
      deploy: 'succeeded',
      archive: 'skipped',
      deploy_smoke: 'succeeded',
      done: 'succeeded',
    });
    assert.deepEqual(r.snapshot.nodes.check!.outputs, { result: true });
    assert.deepEqual(ranOrder(r), ['build', 'deploy', 'deploy_smoke']);
  });

  it('condition false runs `else` and skips the whole `then` path', () => {
    const r = drive('condition-branch', { params: { deploy: false } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      check: 'succeeded',
      deploy: 'skipped',
      archive: 'succeeded',
      deploy_smoke: 'skipped',
      done: 'succeeded',
    });
    assert.deepEqual(r.snapshot.nodes.check!.outputs, { result: false });
    assert.deepEqual(ranOrder(r), ['build', 'archive']);
    assert.deepEqual(nodeStatusTrail(r, 'deploy_smoke'), ['skipped']);
  });

  it('an edge `when` on the source outputs picks the successor', () => {
    const stable = drive('edge-when', { script: { build: { outputs: { channel: 'stable' } } } });
    assert.equal(stable.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(stable), {
      build: 'succeeded',
      release: 'succeeded',
      nightly: 'skipped',
    });
    const beta = drive('edge-when', { script: { build: { outputs: { channel: 'beta' } } } });
    assert.equal(beta.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(beta), {
      build: 'succeeded',
      release: 'skipped',
      nightly: 'succeeded',
    });
  });

  it('a false node `if` skips the node and what only it leads to; a true one runs it', () => {
    const dry = drive('node-if', { params: { dry_run: true } });
    assert.equal(dry.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(dry), {
      test: 'succeeded',
      deploy: 'skipped',
      announce: 'skipped',
      cleanup: 'succeeded',
    });
    assert.deepEqual(skipReasons(dry), {
      deploy: 'branch_not_taken',
      announce: 'branch_not_taken',
    });
    assert.deepEqual(ranOrder(dry), ['test', 'cleanup']);
    const real = drive('node-if', { params: { dry_run: false } });
    assert.equal(real.snapshot.execution.status, 'succeeded');
    assert.deepEqual(ranOrder(real), ['test', 'deploy', 'cleanup', 'announce']);
  });

  it('an `if` that cannot be evaluated fails its node with ERR_EXPRESSION as one attempt', () => {
    const r = drive('node-if'); // no dry_run param
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), {
      test: 'succeeded',
      deploy: 'failed',
      announce: 'skipped',
      cleanup: 'skipped',
    });
    assert.deepEqual(skipReasons(r), {
      announce: 'upstream_failed',
      cleanup: 'upstream_failed',
    });
    const deploy = r.snapshot.nodes.deploy!;
    assert.equal(deploy.error?.code, 'ERR_EXPRESSION');
    assert.equal(deploy.attempt, 1);
    assert.equal(r.dlq.length, 1);
    assert.equal(r.dlq[0]!.nodeId, 'deploy');
    assert.equal(r.dlq[0]!.attempts, 1, 'the DLQ entry counts the failed evaluation');
    assert.equal(r.snapshot.execution.error?.code, 'ERR_EXPRESSION');
    assert.equal(r.snapshot.execution.error?.nodeId, 'deploy');
  });

  it('a switch runs the matching case, skips the other cases, and leaves plain successors alone', () => {
    const r = drive('switch-default', { params: { env: 'production' } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      route: 'succeeded',
      to_staging: 'skipped',
      to_production: 'succeeded',
      to_dev: 'skipped',
      audit: 'succeeded',
    });
    assert.deepEqual(r.snapshot.nodes.route!.outputs, {
      value: 'production',
      matched: 'production',
    });
  });

  it('a switch with no matching case takes `default`', () => {
    const r = drive('switch-default', { params: { env: 'qa' } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      route: 'succeeded',
      to_staging: 'skipped',
      to_production: 'skipped',
      to_dev: 'succeeded',
      audit: 'succeeded',
    });
    assert.deepEqual(r.snapshot.nodes.route!.outputs, { value: 'qa', matched: null });
  });
});

describe('engine reducer: retries and the DLQ', () => {
  it('retries a failing node with the policy backoff until it succeeds', () => {
    const r = drive('retry-backoff', { script: { test: ['fail', 'fail', 'succeed'] } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      checkout: 'succeeded',
      test: 'succeeded',
      publish: 'succeeded',
    });
    assert.deepEqual(attempts(r), { checkout: 1, test: 3, publish: 1 });
    assert.deepEqual(
      eventsOf(r, 'node.retry_scheduled').map((e) => ({
        attempt: e.data.attempt,
        nextAttempt: e.data.nextAttempt,
        delayMs: e.data.delayMs,
        code: (e.data.error as { code: string }).code,
      })),
      [
        { attempt: 1, nextAttempt: 2, delayMs: 2000, code: 'ERR_NODE_EXIT' },
        { attempt: 2, nextAttempt: 3, delayMs: 4000, code: 'ERR_NODE_EXIT' },
      ],
    );
    // Exponential from 2s on the fake clock: attempt 2 at +2s, attempt 3 at +2s+4s.
    assert.deepEqual(runTimes(r, 'test'), [0, 2, 6]);
    assert.deepEqual(runTimes(r, 'publish'), [6]);
    assert.deepEqual(nodeStatusTrail(r, 'test'), [
      'queued',
      'running',
      'queued',
      'running',
      'queued',
      'running',
      'succeeded',
    ]);
    assert.deepEqual(r.dlq, []);
    assert.equal(r.snapshot.nodes.test!.error, null);
  });

  it("honours a failure's Retry-After over a shorter policy backoff", () => {
    const r = drive('retry-backoff', {
      script: { test: [{ error: { ...exitError(), retryAfterMs: 30_000 } }, 'succeed'] },
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(runTimes(r, 'test'), [0, 30]);
    assert.deepEqual(
      eventsOf(r, 'node.retry_scheduled').map((e) => e.data.delayMs),
      [30_000],
    );
  });

  it('fails the node after its last attempt and writes exactly one DLQ entry', () => {
    const r = drive('retry-exhausted', { script: { fetch: 'fail' } });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), { fetch: 'failed', publish: 'skipped' });
    assert.deepEqual(attempts(r), { fetch: 2, publish: 0 });
    // The workflow-level default policy: two attempts, fixed 5s.
    assert.deepEqual(runTimes(r, 'fetch'), [0, 5]);
    assert.deepEqual(
      eventsOf(r, 'node.retry_scheduled').map((e) => e.data.delayMs),
      [5000],
    );
    assert.equal(r.dlq.length, 1);
    const entry = r.dlq[0]!;
    assert.equal(entry.nodeId, 'fetch');
    assert.equal(entry.attempts, 2);
    assert.deepEqual(entry.error, {
      code: 'ERR_NODE_EXIT',
      message: 'exit status 1',
      exitCode: 1,
      retryable: true,
    });
    assert.deepEqual(entry.inputs.params, {});
    assert.equal((entry.inputs.config as { run: string }).run, './fetch.sh');
    assert.deepEqual(r.snapshot.execution.error, {
      code: 'ERR_NODE_EXIT',
      message: 'Node fetch failed: exit status 1',
      nodeId: 'fetch',
    });
    const failed = eventsOf(r, 'node.status', 'fetch').at(-1)!;
    assert.equal(failed.data.status, 'failed');
    assert.equal((failed.data.error as { code: string }).code, 'ERR_NODE_EXIT');
  });

  it('a non-retryable error skips the remaining attempts', () => {
    const r = drive('retry-exhausted', { script: { fetch: 'fatal' } });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(attempts(r), { fetch: 1, publish: 0 });
    assert.deepEqual(eventsOf(r, 'node.retry_scheduled'), []);
    assert.equal(r.dlq.length, 1);
    assert.equal(r.dlq[0]!.attempts, 1);
  });

  it('continue_on_error: the failed node is tolerated, downstream runs, execution succeeds', () => {
    const r = drive('continue-on-error', { script: { lint: 'fail' } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      lint: 'failed',
      package: 'succeeded',
      docs: 'succeeded',
    });
    assert.equal(r.snapshot.nodes.lint!.tolerated, true);
    assert.equal(r.dlq.length, 1, 'the failure is still recorded in the DLQ');
    assert.equal(r.dlq[0]!.nodeId, 'lint');
    assert.equal(r.snapshot.execution.error, null);
  });

  it('dlq.retry on a failed execution re-opens it and it can succeed', () => {
    const r = drive('dlq-retry', {
      script: { upload: ['fail', { outputs: { url: 's3://bucket/x' } }] },
      inject: [
        inject('dlq.retry upload', executionIs('failed'), {
          type: 'dlq.retry',
          nodeId: 'upload',
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      fetch: 'succeeded',
      upload: 'succeeded',
      notify: 'succeeded',
    });
    assert.deepEqual(attempts(r), { fetch: 1, upload: 2, notify: 1 });
    assert.deepEqual(ranOrder(r), ['fetch', 'upload', 'upload', 'notify']);
    assert.deepEqual(r.snapshot.nodes.upload!.outputs, { url: 's3://bucket/x' });
    assert.deepEqual(executionStatusTrail(r), ['running', 'failed', 'running', 'succeeded']);
    assert.equal(r.dlq.length, 1);
    assert.equal(r.snapshot.execution.error, null);
    assert.equal(r.snapshot.execution.endedAt, r.decisions.at(-1)!.at);
  });

  it('dlq.retry of a tolerated failure after the execution succeeded re-runs that node only', () => {
    const r = drive('continue-on-error', {
      script: { lint: ['fail', { outputs: { warnings: 0 } }] },
      inject: [
        inject('dlq.retry lint', executionIs('succeeded'), {
          type: 'dlq.retry',
          nodeId: 'lint',
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      lint: 'succeeded',
      package: 'succeeded',
      docs: 'succeeded',
    });
    assert.deepEqual(attempts(r), { build: 1, lint: 2, package: 1, docs: 1 });
    assert.deepEqual(ranOrder(r), ['build', 'lint', 'docs', 'package', 'lint']);
    assert.deepEqual(r.snapshot.nodes.lint!.outputs, { warnings: 0 });
    assert.deepEqual(executionStatusTrail(r), ['running', 'succeeded', 'running', 'succeeded']);
  });

  it('dlq.retry of a tolerated failure while its successor still runs leaves the successor alone', () => {
    const r = drive('continue-on-error', {
      script: { lint: ['fail', 'succeed'], package: { durationMs: 60_000 } },
      inject: [
        inject('dlq.retry lint', afterStarted('package'), {
          type: 'dlq.retry',
          nodeId: 'lint',
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      lint: 'succeeded',
      package: 'succeeded',
      docs: 'succeeded',
    });
    assert.deepEqual(attempts(r), { build: 1, lint: 2, package: 1, docs: 1 });
    assert.equal(ranOrder(r).filter((id) => id === 'package').length, 1);
  });

  it('a second dlq.retry for a node already re-queued changes nothing', () => {
    const retry = { type: 'dlq.retry', nodeId: 'upload', actor: 'ops' } as const;
    const r = drive('dlq-retry', {
      script: { upload: ['fail', 'succeed'] },
      inject: [
        inject('first dlq.retry', executionIs('failed'), retry),
        inject('second dlq.retry', nodeIs('upload', 'queued'), retry),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { fetch: 1, upload: 2, notify: 1 });
    const second = r.decisions.find(
      (d, i) =>
        d.event.type === 'dlq.retry' &&
        r.decisions.findIndex((x) => x.event.type === 'dlq.retry') < i,
    )!;
    assert.deepEqual(second.commands, []);
    assert.deepEqual(second.after, second.before);
  });

  it('a loop is one node to the engine: hitting its bound fails it without retries', () => {
    // The bound itself (max_iterations) is tested in test/unit/executors-fan-out.test.ts; here
    // the loop executor's ERR_LOOP_LIMIT outcome is scripted.
    const r = drive('loop-bound', {
      script: {
        poll: {
          error: {
            code: 'ERR_LOOP_LIMIT',
            message: "'until' did not hold after 3 iterations",
            retryable: false,
          },
          outputs: { iterations: 3 },
        },
      },
    });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), { poll: 'failed', after: 'skipped' });
    assert.deepEqual(attempts(r), { poll: 1, after: 0 });
    assert.deepEqual(r.snapshot.nodes.poll!.outputs, { iterations: 3 });
    assert.equal(r.dlq.length, 1);
    assert.equal(r.dlq[0]!.error.code, 'ERR_LOOP_LIMIT');
    assert.equal(r.snapshot.execution.error?.code, 'ERR_LOOP_LIMIT');
  });
});

describe('engine reducer: takeovers', () => {
  it('a node taken over after its worker died runs again as the next attempt', () => {
    const driver = new Driver('linear', { script: { build: ['hang', 'succeed'] } }).run();
    assert.equal(driver.result().snapshot.nodes.build!.status, 'running');
    const r = driver.crash('build').run().result();
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { checkout: 1, build: 2, publish: 1 });
    assert.deepEqual(ranOrder(r), ['checkout', 'build', 'build', 'publish']);
    assert.deepEqual(
      eventsOf(r, 'node.status', 'build').map((e) => [e.data.status, e.data.attempt]),
      [
        ['queued', 1],
        ['running', 1],
        ['queued', 2],
        ['running', 2],
        ['succeeded', 2],
      ],
    );
    assert.equal(eventsOf(r, 'node.status', 'build')[2]!.data.takenOver, 1);
    assert.deepEqual(r.dlq, []);
  });

  it('a re-run does not use up the retry budget: max_attempts counts failures only', () => {
    // One attempt allowed (the default): the re-run after the takeover still gets its try.
    const once = new Driver('linear', { script: { build: ['hang', 'fatal'] } })
      .run()
      .crash('build')
      .run()
      .result();
    assert.equal(once.snapshot.execution.status, 'failed');
    assert.equal(once.snapshot.nodes.build!.attempt, 2);
    // The DLQ entry counts the node's attempts, the re-run included (CLARIFICATIONS).
    assert.deepEqual(
      once.dlq.map((e) => [e.nodeId, e.attempts]),
      [['build', 2]],
    );
    // Two attempts allowed: after the takeover, one failure still leaves a retry.
    const twice = new Driver('retry-exhausted', { script: { fetch: ['hang', 'fail', 'succeed'] } })
      .run()
      .crash('fetch')
      .run()
      .result();
    assert.equal(twice.snapshot.execution.status, 'succeeded');
    assert.equal(twice.snapshot.nodes.fetch!.attempt, 3);
    assert.deepEqual(
      eventsOf(twice, 'node.retry_scheduled').map((e) => [e.data.attempt, e.data.nextAttempt]),
      [[2, 3]],
    );
  });

  it('a stale takeover (the attempt already ended) changes nothing', () => {
    const r = drive('linear', {
      inject: [
        inject('late takeover', executionIs('succeeded'), {
          type: 'node.taken_over',
          nodeId: 'build',
          attempt: 1,
        }),
      ],
    });
    assert.deepEqual(attempts(r), { checkout: 1, build: 1, publish: 1 });
  });
});

describe('engine reducer: failure policy', () => {
  it('fail_fast kills and cancels the running sibling and skips what never started', () => {
    const r = drive('fail-fast', { script: { unit: 'fail', e2e: 'hang' } });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), {
      setup: 'succeeded',
      unit: 'failed',
      e2e: 'cancelled',
      after_unit: 'skipped',
      after_e2e: 'skipped',
    });
    assert.deepEqual(skipReasons(r), {
      after_unit: 'upstream_failed',
      after_e2e: 'upstream_failed',
    });
    assert.deepEqual(commandsOf(r, 'kill'), [{ type: 'kill', nodeId: 'e2e' }]);
    assert.equal(r.snapshot.nodes.e2e!.error?.code, 'ERR_CANCELLED');
    assert.match(r.snapshot.nodes.e2e!.error.message, /fail_fast after unit failed/);
    assert.equal(r.snapshot.nodes.after_e2e!.error, null, 'a node that never ran has no error');
    assert.equal(r.snapshot.execution.error?.nodeId, 'unit');
    assert.deepEqual(
      r.dlq.map((e) => e.nodeId),
      ['unit'],
      'cancelled nodes are not dead letters',
    );
    assert.deepEqual(ranOrder(r), ['setup', 'unit', 'e2e']);
  });

  it('without fail_fast the running sibling finishes, nothing new starts, then the execution fails', () => {
    const r = drive('no-fail-fast', { script: { unit: 'fail', e2e: { durationMs: 60_000 } } });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), {
      setup: 'succeeded',
      unit: 'failed',
      e2e: 'succeeded',
      after_unit: 'skipped',
      after_e2e: 'skipped',
    });
    assert.deepEqual(commandsOf(r, 'kill'), []);
    assert.deepEqual(ranOrder(r), ['setup', 'unit', 'e2e']);
    // The execution stays running until e2e ends, 60s later on the fake clock.
    assert.equal(virtualSeconds(r, r.snapshot.execution.endedAt!), 60);
    assert.deepEqual(executionStatusTrail(r), ['running', 'failed']);
    assert.deepEqual(skipReasons(r), {
      after_unit: 'upstream_failed',
      after_e2e: 'upstream_failed',
    });
    // They end skipped when the failure is final (unit), not when the execution ends.
    const skipped = eventsOf(r, 'node.status', 'after_e2e').at(-1)!;
    assert.equal(skipped.data.statusReason, 'upstream_failed');
    assert.equal(virtualSeconds(r, skipped.at), 0);
    assert.equal(r.snapshot.execution.error?.nodeId, 'unit');
    assert.equal(r.dlq.length, 1);
  });
});

describe('engine reducer: humans', () => {
  it('an approved gate lets the execution go on', () => {
    const r = drive('approval', {
      params: { ref: 'v1.2' },
      inject: [inject('approve', executionIs('waiting'), approve('gate', 'lgtm'))],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      gate: 'succeeded',
      deploy: 'succeeded',
    });
    const requested = eventsOf(r, 'approval.requested');
    assert.equal(requested.length, 1);
    assert.deepEqual(requested[0]!.data, {
      nodeId: 'gate',
      message: 'Deploy v1.2 to staging?',
      approvers: ['alice'],
    });
    const out = r.snapshot.nodes.gate!.outputs!;
    assert.equal(out.decision, 'approve');
    assert.equal(out.comment, 'lgtm');
    assert.equal(out.actor, 'alice');
    assert.equal(r.snapshot.nodes.gate!.prompt, null);
    assert.deepEqual(executionStatusTrail(r), ['running', 'waiting', 'running', 'succeeded']);
  });

  it('while the gate waits the execution is waiting and nothing else runs', () => {
    const driver = new Driver('approval', { params: { ref: 'v1' } }).run();
    const r = driver.result();
    assert.equal(r.snapshot.execution.status, 'waiting');
    assert.deepEqual(nodeStatuses(r), { build: 'succeeded', gate: 'waiting', deploy: 'pending' });
    assert.deepEqual(r.snapshot.nodes.gate!.prompt?.message, 'Deploy v1 to staging?');
    assert.deepEqual(r.tasks, []);
  });

  it('a rejected gate fails its node and the execution', () => {
    const r = drive('approval', {
      params: { ref: 'v1.2' },
      inject: [inject('reject', executionIs('waiting'), reject('gate', 'not today'))],
    });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), { build: 'succeeded', gate: 'failed', deploy: 'skipped' });
    assert.equal(r.snapshot.nodes.gate!.error?.code, 'ERR_APPROVAL_REJECTED');
    assert.match(r.snapshot.nodes.gate!.error.message, /not today/);
    assert.equal(r.snapshot.nodes.gate!.outputs?.decision, 'reject');
    assert.equal(r.snapshot.execution.error?.code, 'ERR_APPROVAL_REJECTED');
    assert.equal(r.snapshot.execution.error?.nodeId, 'gate');
    assert.deepEqual(ranOrder(r), ['build']);
  });

  it('a rejection with on_reject runs the route, skips the rest, and the execution succeeds', () => {
    const r = drive('approval-on-reject', {
      inject: [inject('reject', executionIs('waiting'), reject('gate'))],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      gate: 'failed',
      deploy: 'skipped',
      notify: 'skipped',
      rollback: 'succeeded',
    });
    assert.equal(r.snapshot.nodes.gate!.tolerated, true);
    assert.deepEqual(ranOrder(r), ['build', 'rollback']);
    assert.deepEqual(r.dlq, []);
  });

  it('an approval with on_reject that is approved skips the rejection route', () => {
    const r = drive('approval-on-reject', {
      inject: [inject('approve', executionIs('waiting'), approve('gate'))],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      build: 'succeeded',
      gate: 'succeeded',
      deploy: 'succeeded',
      notify: 'succeeded',
      rollback: 'skipped',
    });
    assert.deepEqual(ranOrder(r), ['build', 'deploy', 'notify']);
  });

  it('an input node takes a follow-up; its outputs carry the message', () => {
    const r = drive('input-followup', {
      script: { draft: { outputs: { title: 'Release 7' } } },
      inject: [
        inject('followup', executionIs('waiting'), {
          type: 'followup',
          message: 'mention the fix',
          data: { priority: 'high' },
          actor: 'carol',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), { draft: 'succeeded', ask: 'succeeded', apply: 'succeeded' });
    assert.deepEqual(eventsOf(r, 'input.requested')[0]!.data, {
      nodeId: 'ask',
      message: 'Any notes on Release 7?',
    });
    const out = r.snapshot.nodes.ask!.outputs!;
    assert.equal(out.message, 'mention the fix');
    assert.deepEqual(out.data, { priority: 'high' });
    assert.equal(out.actor, 'carol');
    assert.deepEqual(
      r.snapshot.execution.conversation.map((c) => [c.role, c.content]),
      [['user', 'mention the fix']],
    );
  });

  it('an approval event for a node that is not waiting changes nothing', () => {
    const r = drive('approval', {
      params: { ref: 'v1' },
      inject: [
        inject('early approve', executionIs('running'), approve('gate')),
        inject('approve', executionIs('waiting'), approve('gate')),
      ],
    });
    const early = r.decisions.find((d) => d.event.type === 'approval')!;
    assert.equal(early.before.nodes.gate!.status, 'pending');
    assert.deepEqual(early.after, early.before);
    assert.equal(r.snapshot.execution.status, 'succeeded');
  });
});

describe('engine reducer: chat', () => {
  it('runs a turn, waits, runs the next turn on a follow-up, and ends when idle', () => {
    const r = drive('chat', {
      params: { message: 'hello' },
      script: {
        reply: [
          { outputs: { text: 'Hi there' } },
          // Turn 2 takes 7 minutes, so turn 1's idle timer (10 min) fires during its wait.
          { outputs: { text: 'More detail' }, durationMs: 7 * 60_000 },
        ],
      },
      inject: [
        inject('turn 2', executionIs('waiting'), {
          type: 'followup',
          message: 'tell me more',
          actor: 'dave',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), { context: 'succeeded', reply: 'succeeded' });
    assert.deepEqual(attempts(r), { context: 2, reply: 2 });
    assert.equal(r.snapshot.execution.turn, 2);
    assert.deepEqual(
      r.snapshot.execution.conversation.map((c) => [c.role, c.content, c.turn]),
      [
        ['user', 'hello', 1],
        ['assistant', 'Hi there', 1],
        ['user', 'tell me more', 2],
        ['assistant', 'More detail', 2],
      ],
    );
    assert.deepEqual(ranOrder(r), ['context', 'reply', 'context', 'reply']);
    assert.deepEqual(executionStatusTrail(r), [
      'running',
      'waiting',
      'running',
      'waiting',
      'succeeded',
    ]);
    // Turn 2 ended at 7 min; its idle timeout (10 min) ends the chat at 17 min. Turn 1's idle
    // task at 10 min found a newer turn and did nothing.
    assert.equal(virtualSeconds(r, r.snapshot.execution.endedAt!), 17 * 60);
    const idle = r.decisions.filter((d) => d.event.type === 'idle');
    assert.equal(idle.length, 2);
    assert.deepEqual(idle[0]!.commands, []);
    assert.equal(eventsOf(r, 'input.requested').filter((e) => e.data.chat === true).length, 2);
  });

  it("streams a running attempt's reply as chat.delta; a delta of another attempt or after the turn is dropped", () => {
    const delta = (attempt: number, text: string) =>
      ({ type: 'node.delta', nodeId: 'reply', attempt, text }) as const;
    const r = drive('chat', {
      params: { message: 'hello' },
      script: { reply: [{ outputs: { text: 'Hi there' } }] },
      inject: [
        inject('delta', afterStarted('reply'), delta(1, 'Hi ')),
        inject('stale delta', nodeIs('reply', 'running'), delta(7, 'nope')),
        inject('late delta', executionIs('waiting'), delta(1, 'too late')),
      ],
    });
    assert.deepEqual(
      eventsOf(r, 'chat.delta').map((e) => e.data),
      [{ turn: 1, nodeId: 'reply', attempt: 1, text: 'Hi ' }],
    );
    assert.equal(r.snapshot.execution.conversation.at(1)?.content, 'Hi there');
  });

  it('a chat without a follow-up ends after the idle timeout', () => {
    const r = drive('chat', { params: { message: 'hi' } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.equal(r.snapshot.execution.turn, 1);
    assert.equal(virtualSeconds(r, r.snapshot.execution.endedAt!), 10 * 60);
  });
});

describe('engine reducer: nested workflows', () => {
  it('a workflow node waits for its child and takes its outputs', () => {
    const r = drive('nested-parent', {
      script: { plan: { outputs: { ref: 'v2' } } },
      children: {
        'child-build': {
          script: {
            compile: { outputs: { bin: 'app' } },
            package: { outputs: { tarball: 'app.tgz' }, durationMs: 120_000 },
          },
        },
      },
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      plan: 'succeeded',
      child: 'succeeded',
      after: 'succeeded',
    });
    const started = commandsOf(r, 'startChild');
    assert.equal(started.length, 1);
    assert.deepEqual(started[0]!.params, { ref: 'v2' });
    assert.equal(started[0]!.workflow, 'child-build');
    const childId = r.snapshot.nodes.child!.childExecutionId!;
    const child = r.children.get(childId)!.result();
    assert.equal(child.snapshot.execution.status, 'succeeded');
    assert.deepEqual(child.snapshot.execution.parent, {
      executionId: 'exec_main',
      nodeId: 'child',
    });
    assert.deepEqual(r.snapshot.nodes.child!.outputs, {
      executionId: childId,
      status: 'succeeded',
      outputs: { compile: { bin: 'app' }, package: { tarball: 'app.tgz' } },
    });
    // The parent's node ends when the child does (2 min on the fake clock), then `after` runs.
    assert.deepEqual(runTimes(r, 'after'), [120]);
  });

  it("a child's failure fails the workflow node with ERR_CHILD_FAILED", () => {
    const r = drive('nested-parent', {
      script: { plan: { outputs: { ref: 'v2' } } },
      children: { 'child-build': { script: { compile: 'fatal' } } },
    });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), { plan: 'succeeded', child: 'failed', after: 'skipped' });
    const childId = r.snapshot.nodes.child!.childExecutionId!;
    const child = r.children.get(childId)!.result();
    assert.equal(child.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(child), { compile: 'failed', package: 'skipped' });
    assert.equal(r.snapshot.nodes.child!.error?.code, 'ERR_CHILD_FAILED');
    assert.match(r.snapshot.nodes.child!.error.message, /exit status 1/);
    assert.equal(r.snapshot.execution.error?.code, 'ERR_CHILD_FAILED');
    assert.deepEqual(
      r.dlq.map((e) => e.nodeId),
      ['child'],
    );
    assert.deepEqual(
      child.dlq.map((e) => e.nodeId),
      ['compile'],
    );
  });

  it('a child workflow that cannot be found fails the node', () => {
    const r = drive('nested-missing');
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), { child: 'failed' });
    assert.equal(r.snapshot.nodes.child!.error?.code, 'ERR_CHILD_FAILED');
    assert.match(r.snapshot.nodes.child!.error.message, /no-such-workflow/);
  });

  it('wait: false succeeds at once and ignores the child finishing later', () => {
    const r = drive('nested-no-wait', {
      children: { 'child-build': { script: { package: { durationMs: 300_000 } } } },
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), { kick: 'succeeded', after: 'succeeded' });
    const childId = commandsOf(r, 'startChild')[0]!.childExecutionId;
    assert.deepEqual(r.snapshot.nodes.kick!.outputs, { executionId: childId });
    assert.deepEqual(runTimes(r, 'after'), [0]);
    assert.equal(r.children.get(childId)!.snapshot.execution.status, 'succeeded');
    const late = r.decisions.find((d) => d.event.type === 'child.finished')!;
    assert.deepEqual(late.commands, [], "the child's report changes nothing");
  });

  it('cancelling the parent cancels a running child', () => {
    const r = drive('nested-parent', {
      script: { plan: { outputs: { ref: 'v2' } } },
      children: { 'child-build': { script: { compile: 'hang' } } },
      inject: [inject('cancel', quiescent, cancel)],
    });
    assert.equal(r.snapshot.execution.status, 'cancelled');
    assert.deepEqual(nodeStatuses(r), {
      plan: 'succeeded',
      child: 'cancelled',
      after: 'cancelled',
    });
    const childId = commandsOf(r, 'startChild')[0]!.childExecutionId;
    assert.deepEqual(commandsOf(r, 'cancelChild'), [
      { type: 'cancelChild', childExecutionId: childId },
    ]);
    const child = r.children.get(childId)!.result();
    assert.equal(child.snapshot.execution.status, 'cancelled');
    assert.deepEqual(nodeStatuses(child), { compile: 'cancelled', package: 'cancelled' });
  });
});

describe('engine reducer: timers', () => {
  it('a wait node with a duration fires on the fake clock', () => {
    const r = drive('wait-duration', { script: { deploy: { durationMs: 60_000 } } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      deploy: 'succeeded',
      soak: 'succeeded',
      verify: 'succeeded',
    });
    // deploy ends at 1 min; 1h30m later the timer fires and verify runs.
    assert.deepEqual(runTimes(r, 'verify'), [60 + 90 * 60]);
    assert.equal(
      virtualSeconds(r, r.snapshot.nodes.soak!.outputs!.firedAt as string),
      60 + 90 * 60,
    );
    assert.deepEqual(ranOrder(r), ['deploy', 'verify'], 'a timer is not an executor run');
  });

  it('a wait node `until` a fixed time or a CEL time fires then', () => {
    const r = drive('wait-until', { params: { resume_at: '2030-01-01T07:30:00Z' } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.equal(r.snapshot.nodes.at_six!.endedAt, '2030-01-01T06:00:00.000Z');
    assert.equal(r.snapshot.nodes.at_param!.endedAt, '2030-01-01T07:30:00.000Z');
    assert.equal(r.ran[0]!.at, '2030-01-01T07:30:00.000Z');
  });

  it('a wait `until` a time already past fires at once', () => {
    const r = drive('wait-until', { params: { resume_at: '2029-12-31T00:00:00Z' } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.equal(r.snapshot.nodes.at_param!.endedAt, '2030-01-01T06:00:00.000Z');
  });

  it('the execution timeout fails the execution and kills running work', () => {
    const r = drive('execution-timeout', { script: { crawl: 'hang' } });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), {
      setup: 'succeeded',
      crawl: 'cancelled',
      index: 'cancelled',
    });
    assert.equal(r.snapshot.execution.error?.code, 'ERR_EXECUTION_TIMEOUT');
    assert.equal(r.snapshot.nodes.crawl!.error?.code, 'ERR_EXECUTION_TIMEOUT');
    assert.deepEqual(commandsOf(r, 'kill'), [{ type: 'kill', nodeId: 'crawl' }]);
    assert.equal(virtualSeconds(r, r.snapshot.execution.endedAt!), 30 * 60);
    assert.deepEqual(r.dlq, []);
  });

  it('an execution that ends before its timeout leaves no deadline behind', () => {
    const r = drive('execution-timeout', { script: { crawl: { durationMs: 60_000 } } });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(r.tasks, []);
    assert.equal(r.decisions.filter((d) => d.event.type === 'deadline').length, 0);
  });
});

describe('engine reducer: cancel', () => {
  const cancelled = (r: DriveResult) => {
    assert.equal(r.snapshot.execution.status, 'cancelled');
    assert.equal(r.snapshot.execution.error?.code, 'ERR_CANCELLED');
    assert.deepEqual(r.tasks, [], 'queued work is dropped');
    assert.deepEqual(r.dlq, []);
  };

  it('before the execution starts', () => {
    const r = drive('cancel-stages', {
      inject: [inject('cancel', executionIs('pending'), cancel)],
    });
    cancelled(r);
    assert.deepEqual(nodeStatuses(r), {
      work: 'cancelled',
      gate: 'cancelled',
      pause: 'cancelled',
      finish: 'cancelled',
    });
    assert.deepEqual(r.ran, []);
    assert.deepEqual(executionStatusTrail(r), ['cancelled']);
    assert.equal(r.snapshot.nodes.work!.error, null);
  });

  it('while a node is queued', () => {
    const r = drive('cancel-stages', {
      inject: [inject('cancel', nodeIs('work', 'queued'), cancel)],
    });
    cancelled(r);
    assert.deepEqual(nodeStatuses(r), {
      work: 'cancelled',
      gate: 'cancelled',
      pause: 'cancelled',
      finish: 'cancelled',
    });
    assert.deepEqual(r.ran, [], 'the queued run never starts');
    assert.deepEqual(commandsOf(r, 'kill'), [{ type: 'kill', nodeId: 'work' }]);
  });

  it('while a node runs: it is killed and its late result ignored', () => {
    const r = drive('cancel-stages', {
      script: { work: { outputs: { late: true } } },
      inject: [inject('cancel', afterStarted('work'), cancel)],
    });
    cancelled(r);
    assert.deepEqual(nodeStatuses(r), {
      work: 'cancelled',
      gate: 'cancelled',
      pause: 'cancelled',
      finish: 'cancelled',
    });
    assert.deepEqual(commandsOf(r, 'kill'), [{ type: 'kill', nodeId: 'work' }]);
    assert.equal(r.snapshot.nodes.work!.error?.code, 'ERR_CANCELLED');
    assert.equal(r.snapshot.nodes.work!.outputs, null);
    const late = r.decisions.filter((d) => d.event.type === 'node.finished');
    assert.equal(late.length, 1);
    assert.deepEqual(late[0]!.commands, []);
  });

  it('charges the cancelled attempt what it used, after the end, and never a running one', () => {
    const used = { estimatedUsd: 0.001, tokens: { prompt: 0, completion: 0 }, computeSeconds: 2 };
    const charge = (attempt: number) =>
      ({ type: 'node.charged', nodeId: 'work', attempt, cost: used }) as const;
    const r = drive('cancel-stages', {
      script: { work: { durationMs: 60_000 } },
      inject: [
        // While it runs, a charge is not for it (only a cancelled attempt is charged).
        inject('charge while running', afterStarted('work'), charge(1)),
        inject('cancel', (v) => v.snapshot.nodes.work?.status === 'running', cancel),
        inject('charge another attempt', executionIs('cancelled'), charge(2)),
        inject('charge the cancelled attempt', executionIs('cancelled'), charge(1)),
      ],
    });
    cancelled(r);
    assert.equal(r.snapshot.nodes.work!.status, 'cancelled');
    assert.equal(r.snapshot.nodes.work!.cost.computeSeconds, 2);
    assert.equal(r.snapshot.execution.cost.computeSeconds, 2);
    assert.deepEqual(
      eventsOf(r, 'cost.updated', 'work').map(
        (e) => (e.data.node as { computeSeconds: number }).computeSeconds,
      ),
      [2],
    );
  });

  it('while waiting on an approval', () => {
    const r = drive('cancel-stages', {
      inject: [inject('cancel', executionIs('waiting'), cancel)],
    });
    cancelled(r);
    assert.deepEqual(nodeStatuses(r), {
      work: 'succeeded',
      gate: 'cancelled',
      pause: 'cancelled',
      finish: 'cancelled',
    });
    assert.equal(r.snapshot.nodes.gate!.prompt, null);
  });

  it('while a timer is pending: the timer never fires', () => {
    const r = drive('cancel-stages', {
      inject: [
        inject('approve', executionIs('waiting'), approve('gate')),
        inject('cancel', nodeIs('pause', 'running'), cancel),
      ],
    });
    cancelled(r);
    assert.deepEqual(nodeStatuses(r), {
      work: 'succeeded',
      gate: 'succeeded',
      pause: 'cancelled',
      finish: 'cancelled',
    });
    assert.equal(r.decisions.filter((d) => d.event.type === 'timer.fired').length, 0);
    assert.equal(virtualSeconds(r, r.now.toISOString()), 0, 'the clock never reached the timer');
  });

  it('after the execution ended: a no-op', () => {
    const r = drive('cancel-stages', {
      inject: [
        inject('approve', executionIs('waiting'), approve('gate')),
        inject('cancel', executionIs('succeeded'), cancel),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.ok(Object.values(nodeStatuses(r)).every((s) => s === 'succeeded'));
    const last = r.decisions.at(-1)!;
    assert.equal(last.event.type, 'cancel');
    assert.deepEqual(last.commands, []);
    assert.deepEqual(last.after, last.before);
  });

  it('twice: the second cancel changes nothing', () => {
    const r = drive('cancel-stages', {
      inject: [
        inject('cancel', executionIs('waiting'), cancel),
        inject('cancel again', executionIs('cancelled'), cancel),
      ],
    });
    cancelled(r);
    const last = r.decisions.at(-1)!;
    assert.deepEqual(last.commands, []);
    assert.deepEqual(last.after, last.before);
  });
});

describe('engine reducer: execution retry', () => {
  it('keeps succeeded nodes, re-runs the failed path with a fresh budget, attempts continue', () => {
    const r = drive('execution-retry', {
      script: {
        fetch: { outputs: { rows: 10 } },
        // Two attempts per budget: the first run fails both, the retry fails once then succeeds.
        transform: ['fail', 'fail', 'fail', { outputs: { rows: 9 } }],
      },
      inject: [inject('retry', executionIs('failed'), { type: 'retry', actor: 'ops' })],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.equal(r.snapshot.execution.version, 1);
    assert.equal(r.snapshot.execution.id, 'exec_main');
    assert.deepEqual(nodeStatuses(r), {
      fetch: 'succeeded',
      transform: 'succeeded',
      load: 'succeeded',
      stats: 'succeeded',
    });
    assert.deepEqual(attempts(r), { fetch: 1, transform: 4, load: 1, stats: 1 });
    assert.deepEqual(ranOrder(r), [
      'fetch',
      'transform',
      'stats',
      'transform',
      'transform',
      'transform',
      'load',
    ]);
    assert.deepEqual(r.snapshot.nodes.fetch!.outputs, { rows: 10 }, 'outputs are kept');
    assert.deepEqual(nodeStatusTrail(r, 'fetch'), ['queued', 'running', 'succeeded']);
    assert.deepEqual(
      r.dlq.map((e) => [e.nodeId, e.attempts]),
      [['transform', 2]],
    );
    assert.deepEqual(
      eventsOf(r, 'node.retry_scheduled').map((e) => e.data.nextAttempt),
      [2, 4],
    );
    assert.deepEqual(executionStatusTrail(r), ['running', 'failed', 'running', 'succeeded']);
    assert.equal(r.snapshot.execution.error, null);
  });

  it('an execution retry reopens the nodes a failure left skipped, and they run', () => {
    const r = drive('no-fail-fast', {
      script: { unit: ['fatal', 'succeed'] },
      inject: [inject('retry', executionIs('failed'), { type: 'retry', actor: 'ops' })],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(skipReasons(r), {});
    assert.deepEqual(attempts(r), { setup: 1, unit: 2, e2e: 1, after_unit: 1, after_e2e: 1 });
    assert.deepEqual(nodeStatusTrail(r, 'after_e2e'), [
      'skipped',
      'pending',
      'queued',
      'running',
      'succeeded',
    ]);
  });

  it('a retry of chosen nodes also reopens a node a failure left skipped elsewhere', () => {
    const r = drive('no-fail-fast', {
      script: { unit: ['fatal', 'succeed'], e2e: { durationMs: 60_000 } },
      inject: [
        inject('retry unit', executionIs('failed'), {
          type: 'retry',
          nodes: ['unit'],
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { setup: 1, unit: 2, e2e: 1, after_unit: 1, after_e2e: 1 });
  });

  it("a retry that fails again writes a DLQ entry counting the node's attempts so far", () => {
    const r = drive('execution-retry', {
      script: { transform: 'fail' },
      inject: [inject('retry', executionIs('failed'), { type: 'retry', actor: 'ops' })],
    });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(attempts(r), { fetch: 1, transform: 4, load: 0, stats: 1 });
    assert.deepEqual(
      r.dlq.map((e) => [e.nodeId, e.attempts]),
      [
        ['transform', 2],
        ['transform', 4],
      ],
    );
  });

  it('retry with `nodes` re-runs those nodes and all their descendants', () => {
    const r = drive('execution-retry', {
      script: { transform: ['fatal', 'succeed'] },
      inject: [
        inject('retry fetch', executionIs('failed'), {
          type: 'retry',
          nodes: ['fetch'],
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { fetch: 2, transform: 2, load: 1, stats: 2 });
    assert.deepEqual(ranOrder(r), [
      'fetch',
      'transform',
      'stats',
      'fetch',
      'transform',
      'stats',
      'load',
    ]);
    assert.deepEqual(nodeStatusTrail(r, 'stats'), [
      'queued',
      'running',
      'succeeded',
      'pending',
      'queued',
      'running',
      'succeeded',
    ]);
  });

  it('retry with `nodes` runs them while another failed node stays failed', () => {
    const r = drive('two-failures', {
      script: { left: ['fail', 'succeed'], right: 'fail' },
      inject: [
        inject('retry left', executionIs('failed'), {
          type: 'retry',
          nodes: ['left'],
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'failed', 'right still fails the execution');
    assert.deepEqual(nodeStatuses(r), {
      left: 'succeeded',
      right: 'failed',
      after_left: 'succeeded',
      after_right: 'skipped',
    });
    assert.deepEqual(attempts(r), { left: 2, right: 1, after_left: 1, after_right: 0 });
    assert.equal(r.snapshot.execution.error?.nodeId, 'right');
    assert.deepEqual(executionStatusTrail(r), ['running', 'failed', 'running', 'failed']);
  });

  it('dlq.retry of one node runs it while another failed node stays failed', () => {
    const r = drive('two-failures', {
      script: { left: ['fail', 'succeed'], right: 'fail' },
      inject: [
        inject('dlq.retry left', executionIs('failed'), {
          type: 'dlq.retry',
          nodeId: 'left',
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(nodeStatuses(r), {
      left: 'succeeded',
      right: 'failed',
      after_left: 'succeeded',
      after_right: 'skipped',
    });
    assert.deepEqual(
      r.dlq.map((e) => e.nodeId),
      ['left', 'right'],
    );
  });

  it('a retried node that fails again with another failure left fails the execution once', () => {
    const r = drive('two-failures', {
      script: { left: 'fatal', right: 'fatal' },
      inject: [
        inject('retry right', executionIs('failed'), {
          type: 'retry',
          nodes: ['right'],
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'failed');
    assert.deepEqual(attempts(r), { left: 1, right: 2, after_left: 0, after_right: 0 });
    // The error names the failure of this run, not the one left from before.
    assert.equal(r.snapshot.execution.error?.nodeId, 'right');
    assert.deepEqual(executionStatusTrail(r), ['running', 'failed', 'running', 'failed']);
  });

  it('a full retry after a partial one re-runs every failed node', () => {
    const r = drive('two-failures', {
      script: { left: ['fail', 'succeed'], right: ['fail', 'succeed'] },
      inject: [
        inject('retry left', executionIs('failed'), {
          type: 'retry',
          nodes: ['left'],
          actor: 'ops',
        }),
        inject('retry all', executionIs('failed'), { type: 'retry', actor: 'ops' }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { left: 2, right: 2, after_left: 1, after_right: 1 });
  });

  it('retry with `nodes` leaves the other nodes as they were', () => {
    const r = drive('execution-retry', {
      script: { transform: ['fatal', 'succeed'] },
      inject: [
        inject('retry transform', executionIs('failed'), {
          type: 'retry',
          nodes: ['transform'],
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { fetch: 1, transform: 2, load: 1, stats: 1 });
  });

  it('a cancelled execution can be retried: cancelled and unreached nodes run', () => {
    const r = drive('execution-retry', {
      script: { transform: { durationMs: 60_000 }, stats: { outputs: { n: 1 } } },
      inject: [
        inject('cancel', nodeIs('stats', 'succeeded'), cancel),
        inject('retry', executionIs('cancelled'), { type: 'retry', actor: 'ops' }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { fetch: 1, transform: 2, load: 1, stats: 1 });
    assert.deepEqual(executionStatusTrail(r), ['running', 'cancelled', 'running', 'succeeded']);
  });

  it('an execution cancelled before it started runs normally when retried', () => {
    const r = drive('execution-timeout', {
      inject: [
        inject('cancel', executionIs('pending'), cancel),
        inject('retry', executionIs('cancelled'), { type: 'retry', actor: 'ops' }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(ranOrder(r), ['setup', 'crawl', 'index']);
    assert.ok(r.snapshot.execution.startedAt, 'a retried execution has a start time');
  });

  it('retry on an execution that is not failed or cancelled changes nothing', () => {
    const r = drive('linear', {
      inject: [inject('retry', executionIs('succeeded'), { type: 'retry', actor: 'ops' })],
    });
    const last = r.decisions.at(-1)!;
    assert.equal(last.event.type, 'retry');
    assert.deepEqual(last.commands, []);
    assert.deepEqual(last.after, last.before);
  });

  it('retry with `nodes` after fail_fast also re-runs the siblings fail_fast cancelled', () => {
    const r = drive('fail-fast', {
      script: { unit: ['fail', 'succeed'], e2e: ['hang', 'succeed'] },
      inject: [
        inject('retry unit', executionIs('failed'), {
          type: 'retry',
          nodes: ['unit'],
          actor: 'ops',
        }),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(nodeStatuses(r), {
      setup: 'succeeded',
      unit: 'succeeded',
      e2e: 'succeeded',
      after_unit: 'succeeded',
      after_e2e: 'succeeded',
    });
    assert.deepEqual(attempts(r), { setup: 1, unit: 2, e2e: 2, after_unit: 1, after_e2e: 1 });
  });

  it('retry after fail_fast re-runs the failed and the cancelled nodes', () => {
    const r = drive('fail-fast', {
      script: { unit: ['fail', 'succeed'], e2e: ['hang', 'succeed'] },
      inject: [inject('retry', executionIs('failed'), { type: 'retry', actor: 'ops' })],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(attempts(r), { setup: 1, unit: 2, e2e: 2, after_unit: 1, after_e2e: 1 });
  });
});

describe('engine reducer: agent steps', () => {
  it("records a running attempt's steps as agent.step events and counts them; a stale attempt's are dropped", () => {
    const step = (n: number, tools: string[]) => ({
      step: n,
      toolCalls: tools.map((name, i) => ({
        id: `call_${n}_${i}`,
        name,
        args: '',
        ok: true,
        durationMs: 5,
      })),
      usage: { prompt: 10, completion: 5 },
      finishReason: tools.length > 0 ? 'tool_calls' : 'stop',
    });
    const steps = (attempt: number, list: ReturnType<typeof step>[]) =>
      ({ type: 'agent.steps', nodeId: 'test', attempt, steps: list }) as const;
    const startedAttempt = (attempt: number) => (v: DriverView) =>
      v.last?.type === 'node.started' &&
      v.last.nodeId === 'test' &&
      v.snapshot.nodes.test?.attempt === attempt;
    const r = drive('retry-backoff', {
      script: { test: ['fail', 'succeed'] },
      inject: [
        inject(
          'two steps of attempt 1',
          startedAttempt(1),
          steps(1, [step(1, ['shell', 'read_file']), step(2, ['shell'])]),
        ),
        inject('a step of attempt 1 while 2 runs', startedAttempt(2), steps(1, [step(3, [])])),
        inject(
          'a step of attempt 2',
          (v) => v.last?.type === 'agent.steps' && v.snapshot.nodes.test?.attempt === 2,
          steps(2, [step(1, [])]),
        ),
      ],
    });
    assert.equal(r.snapshot.execution.status, 'succeeded');
    assert.deepEqual(
      eventsOf(r, 'agent.step', 'test').map((e) => [
        e.data.attempt,
        e.data.step,
        (e.data.toolCalls as { name: string }[]).map((c) => c.name),
      ]),
      [
        [1, 1, ['shell', 'read_file']],
        [1, 2, ['shell']],
        [2, 1, []],
      ],
    );
    assert.deepEqual(r.snapshot.nodes.test?.agent, { attempt: 2, steps: 1, toolCalls: 0 });
  });
});
