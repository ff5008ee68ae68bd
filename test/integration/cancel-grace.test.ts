/**
 * Cancel honours the grace period on every runtime (DESIGN §6): a cancelled command gets SIGTERM,
 * `killGraceMs` to stop by itself, then SIGKILL, and the environment is torn down only after
 * that. Through the API, on the local runtime (bubblewrap and plain processes) and on Docker: a
 * TERM trap runs to its end (its log line and the file it writes in the workspace), a command
 * that ignores TERM is SIGKILLed after the grace period with nothing left running, and the
 * cancelled node is charged the compute it used.
 *
 * A missing part (bwrap, dockerd) skips its suite with a printed reason, except under CI
 * (CI=true; SWITCHYARD_REQUIRE_DOCKER=1 for Docker), where it fails instead.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  awaitEvent,
  awaitLogs,
  createWorkflow,
  executionUrl,
  getExecution,
  nodeOf,
  runWorkflow,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

/** Long enough for the trap below to finish its work, short enough to keep the tests quick. */
const killGraceMs = 1500;

const caps = await createLocalRuntime({ dataDir: tmpdir() }).capabilities();

function bwrapMissing(): string | false {
  if (caps.bwrap !== undefined) return false;
  const why = `missing ${caps.bwrapProblem ?? 'bwrap'}`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI requires bubblewrap`);
  process.stderr.write(`# skipping the bubblewrap cancel tests: ${why}\n`);
  return why;
}

/** Host processes whose command line holds `marker` (zombies excluded). */
function hostPidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmdline.includes(marker) && state !== 'Z') out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface Runtime {
  name: string;
  skip: () => Promise<string | false>;
  config: Record<string, unknown>;
  runtimeConfig: Record<string, unknown>;
  setup?: () => Promise<void>;
}

const runtimes: Runtime[] = [
  {
    name: 'local, bubblewrap',
    skip: () => Promise.resolve(bwrapMissing()),
    config: { runtime: 'local', localIsolation: 'bwrap' },
    runtimeConfig: {},
  },
  {
    name: 'local, plain processes',
    skip: () => Promise.resolve(false),
    config: { runtime: 'local', localIsolation: 'plain' },
    runtimeConfig: {},
  },
  {
    name: 'docker',
    skip: dockerAvailable,
    config: { runtime: 'docker', dockerSocket },
    runtimeConfig: { image: testImage },
    setup: async () => {
      const docker: Docker = testDocker();
      await ensureTestImage(docker);
    },
  },
];

for (const rt of runtimes) {
  describe(
    `cancel with a grace period (${rt.name})`,
    { skip: await rt.skip(), timeout: 120_000 },
    () => {
      let h: Harness;
      before(async () => {
        await rt.setup?.();
        h = await startHarness('sqlite', { config: { ...rt.config, killGraceMs } });
      });
      after(async () => {
        await h?.close();
      });

      /** Starts a one-node workflow running `run` and waits for its `ready` line. */
      async function startCommand(
        name: string,
        run: string,
      ): Promise<{ wfId: string; execId: string }> {
        const wf = await createWorkflow(h, {
          name,
          runtimeConfig: rt.runtimeConfig,
          graph: { nodes: [{ id: 'busy', type: 'command', run }] },
        });
        const exec = await runWorkflow(h, wf.id);
        await awaitLogs(h, exec.id, 'the ready line', (lines) =>
          lines.some((l) => l.nodeId === 'busy' && l.text === 'ready'),
        );
        return { wfId: wf.id, execId: exec.id };
      }

      /** Cancels through the API and waits until the stopped attempt was charged. */
      async function cancelAndAwaitCharge(wfId: string, execId: string): Promise<void> {
        const res = await h.call('POST', `${executionUrl(wfId, execId)}/cancel`, {});
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(nodeOf(res.json(), 'busy').status, 'cancelled');
        // Charged once the attempt's processes are gone, after the execution ended.
        await awaitEvent(h, execId, 'cost.updated', (d) => d.nodeId === 'busy', { pastEnd: true });
      }

      it('lets a TERM trap run to its end, then charges the node', async () => {
        // The trap takes a while before it writes: an environment torn down at once would kill it.
        const run = [
          "trap 'echo got TERM; sleep 0.5; echo trapped > trapped.txt; exit 0' TERM",
          'echo ready',
          'while true; do sleep 0.1; done',
        ].join('\n');
        const { wfId, execId } = await startCommand('cancel-trap', run);
        await cancelAndAwaitCharge(wfId, execId);

        const workspace = path.join(h.dataDir, 'workspaces', execId);
        assert.equal(readFileSync(path.join(workspace, 'trapped.txt'), 'utf8'), 'trapped\n');
        const lines = (await h.yard.streams.readLogs(execId, {}, 0, 500)).items;
        assert.ok(
          lines.some((l) => l.nodeId === 'busy' && l.text === 'got TERM'),
          JSON.stringify(lines.map((l) => l.text)),
        );
        const detail = await getExecution(h, wfId, execId);
        assert.equal(detail.status, 'cancelled');
        const node = nodeOf(detail, 'busy');
        assert.equal(node.status, 'cancelled');
        assert.equal(node.error?.code, 'ERR_CANCELLED');
        assert.ok(node.cost.computeSeconds > 0, JSON.stringify(node.cost));
        assert.ok(
          detail.cost.computeSeconds >= node.cost.computeSeconds,
          JSON.stringify(detail.cost),
        );
      });

      it('SIGKILLs a command that ignores TERM after the grace period, leaving nothing running', async () => {
        const marker = `ignores-term-${randomBytes(5).toString('hex')}`;
        // The comment marks the shell's command line on the host; its sleeps inherit the ignored TERM.
        const run = [
          `# ${marker}`,
          "trap '' TERM",
          'echo ready',
          'while true; do sleep 0.1; done',
        ].join('\n');
        const { wfId, execId } = await startCommand('cancel-ignores-term', run);
        assert.ok(hostPidsWith(marker).length > 0, 'the shell runs on this host');
        await cancelAndAwaitCharge(wfId, execId);

        await eventually(
          'the shell to be gone',
          () => (hostPidsWith(marker).length === 0 ? true : undefined),
          20_000,
        );
        const lines = (await h.yard.streams.readLogs(execId, {}, 0, 500)).items;
        assert.ok(
          lines.some((l) => l.stream === 'system' && l.text.includes('SIGKILL after')),
          JSON.stringify(lines.map((l) => l.text)),
        );
        const node = nodeOf(await getExecution(h, wfId, execId), 'busy');
        assert.equal(node.status, 'cancelled');
        // It ran through the whole grace period (the runtime is charged at 1 CPU).
        assert.ok(node.cost.computeSeconds >= killGraceMs / 1000, JSON.stringify(node.cost));
        assert.equal(existsSync(path.join(h.dataDir, 'workspaces', execId)), true);
      });
    },
  );
}
