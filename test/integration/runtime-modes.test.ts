/**
 * Runtime modes (DESIGN §6): `per_workflow` and `shared` executions work in `/workspace/<execId>`
 * of a long-lived sandbox that outlives them; `per_execution` gets a fresh one each time.
 * Local runtime with bubblewrap (skips with a reason without it, fails under CI).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { tmpdir } from 'node:os';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { eventually } from '../helpers/eventually.ts';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const caps = await createLocalRuntime({ dataDir: tmpdir() }).capabilities();
const missing =
  caps.bwrap === undefined ? `bubblewrap unavailable: ${caps.bwrapProblem}` : undefined;
if (missing !== undefined && process.env.CI === 'true')
  throw new Error(`${missing}; CI requires it`);
if (missing !== undefined) process.stderr.write(`# skipping runtime modes: ${missing}\n`);

describe('runtime modes (local, bubblewrap)', { skip: missing ?? false }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('sqlite', { config: { localIsolation: 'bwrap', runtime: 'local' } });
  });
  after(async () => {
    await h?.close();
  });

  const graph = {
    nodes: [
      {
        id: 'where',
        type: 'command',
        run: 'echo "cwd=$(pwd)" >> "$SWITCHYARD_OUTPUT"; echo hi > mine.txt; ls .. | wc -l > count',
      },
    ],
  };

  for (const mode of ['per_workflow', 'shared'] as const) {
    it(`${mode}: each execution works in /workspace/<execId> of one long-lived sandbox`, async () => {
      const wf = await createWorkflow(h, {
        name: `mode-${mode}`,
        runtimeConfig: { mode, replicas: 1 },
        graph,
      });
      const a = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      const b = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(a.status, 'succeeded', JSON.stringify(a));
      assert.equal(b.status, 'succeeded', JSON.stringify(b));
      assert.equal(nodeOf(a, 'where').outputs?.cwd, `/workspace/${a.id}`);
      assert.equal(nodeOf(b, 'where').outputs?.cwd, `/workspace/${b.id}`);
      // Both directories lived side by side under the one sandbox's workspace, which survives
      // them; each goes once its execution succeeded (docs/runtimes.md).
      const key = mode === 'per_workflow' ? `wf-${wf.id}-0` : 'shared-local-0';
      const base = path.join(h.dataDir, 'workspaces', key);
      for (const run of [a, b])
        await eventually(`the workspace of ${run.id} to be removed`, () =>
          existsSync(path.join(base, run.id)) ? undefined : true,
        );
      assert.ok(existsSync(base));
      assert.equal(a.environment?.isolation.startsWith('bwrap'), true);
    });
  }

  it('per_execution: a fresh sandbox whose workspace is /workspace itself', async () => {
    const wf = await createWorkflow(h, { name: 'mode-per-execution', graph });
    const run = await runAndWait(h, wf.id, ['succeeded', 'failed']);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(nodeOf(run, 'where').outputs?.cwd, '/workspace');
    await eventually(`the workspace of ${run.id} to be removed once it succeeded`, () =>
      existsSync(path.join(h.dataDir, 'workspaces', run.id)) ? undefined : true,
    );
  });
});
