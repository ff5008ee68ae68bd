/**
 * Runtimes end to end through the HTTP API (DESIGN §6): real executions of command nodes in the
 * local sandbox (bubblewrap + per-execution cgroups, on both dialects) and in Docker containers
 * (a real dockerd and the offline-built busybox image). Covered: the workspace shared by an
 * execution's nodes and hidden from other executions, the environment in the execution detail,
 * memory and pids limits (ERR_NODE_OOM, fork bombs), cancel cleaning up processes, cgroups and
 * containers, a missing image (ERR_NODE_IMAGE, not retried) and artifacts collected both when a
 * node succeeds and when the environment is released.
 *
 * A missing part (bwrap, cgroups, dockerd, PostgreSQL) skips its suite with a printed reason,
 * except under CI (CI=true; SWITCHYARD_REQUIRE_DOCKER=1 for Docker), where it fails instead.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import type Docker from 'dockerode';
import { dockerLabels } from '../../src/runtime/docker/container-config.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  type ExecutionJson,
  createWorkflow,
  executionUrl,
  getExecution,
  listDlq,
  nodeOf,
  runAndWait,
  awaitEvent,
  awaitLogs,
  runWorkflow,
  waitForNode,
  waitForStatus,
} from '../helpers/executions.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import { eventually } from '../helpers/eventually.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** Generous: a loaded 2-core machine runs several suites at once. */
const deadlineMs = 30_000;

type EnvironmentJson = NonNullable<ExecutionJson['environment']>;

interface ArtifactJson {
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  nodeId: string | null;
}

// --- parts of the host ---------------------------------------------------------------------

const caps = await createLocalRuntime({ dataDir: tmpdir() }).capabilities();

/** A skip reason (printed) when bwrap or the cgroup controllers are missing; throws under CI. */
function localSandboxMissing(): string | false {
  const missing: string[] = [];
  if (caps.bwrap === undefined) missing.push(caps.bwrapProblem ?? 'bwrap');
  for (const controller of ['memory', 'pids'] as const) {
    if (caps.cgroups?.bases[controller] === undefined) {
      missing.push(
        `cgroup controller ${controller} (${caps.cgroupProblem ?? caps.cgroups?.problems.join('; ') ?? 'unavailable'})`,
      );
    }
  }
  if (missing.length === 0) return false;
  const why = `missing ${missing.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI requires bubblewrap and cgroups`);
  process.stderr.write(`# skipping local sandbox API tests: ${why}\n`);
  return why;
}

/** The execution's cgroup directories (`<owner>~<execId>~<instance>` under each controller's base). */
function cgroupDirsOf(executionId: string): string[] {
  const out: string[] = [];
  for (const base of new Set(Object.values(caps.cgroups?.bases ?? {}))) {
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) if (name.includes(executionId)) out.push(path.join(base, name));
  }
  return out;
}

/** Host pids of live (non-zombie) processes whose command line contains `marker`. */
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

/**
 * A `sleep` whose command line is unique. The script spells the duration as arithmetic, so only
 * the sleep itself carries the marker, never the node's shell (whose -c argument holds the script).
 */
function markedSleep(): { marker: string; run: string } {
  const n = Math.floor(Math.random() * 1e9);
  return { marker: `100.${n}`, run: `sleep $((99 + 1)).${n}` };
}

/** A fork bomb; every fork carries the script, whose comment marks it on the host. */
function forkBomb(): { marker: string; run: string } {
  const marker = `fork-bomb-${randomBytes(5).toString('hex')}`;
  return { marker, run: `# ${marker}\nbomb() { bomb | bomb; }; bomb` };
}

/** Waits for host state (processes, cgroups, containers) to hold, within the suite's deadline. */
function until(what: string, check: () => boolean | Promise<boolean>): Promise<true> {
  return eventually(what, async () => ((await check()) ? true : undefined), deadlineMs);
}

// --- API shortcuts ---------------------------------------------------------------------------

function finished(h: Harness, wfId: string, execId: string): Promise<ExecutionJson> {
  return waitForStatus(h, wfId, execId, ['succeeded', 'failed', 'cancelled'], deadlineMs);
}

/** The execution's stored state (`executions.state`), as the engine wrote it. */
async function storedState(h: Harness, execId: string): Promise<Record<string, unknown>> {
  const row = await h.yard.database.db
    .selectFrom('executions')
    .select('state')
    .where('id', '=', execId)
    .executeTakeFirstOrThrow();
  return JSON.parse(row.state) as Record<string, unknown>;
}

async function artifactList(h: Harness, wfId: string, execId: string): Promise<ArtifactJson[]> {
  const res = await h.call('GET', `${executionUrl(wfId, execId)}/artifacts`);
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ items: ArtifactJson[] }>().items;
}

/** The open DLQ entry of an execution (written in the same commit as the failure). */
async function dlqEntryOf(h: Harness, wfId: string, execId: string) {
  const entry = (await listDlq(h, `workflowId=${wfId}`)).find((e) => e.executionId === execId);
  assert.ok(entry, `a DLQ entry for ${execId}`);
  return entry;
}

const report = (pairs: Record<string, string>): string =>
  Object.entries(pairs)
    .map(([k, v]) => `echo "${k}=${v}" >> "$SWITCHYARD_OUTPUT"`)
    .join('\n');

/**
 * Writes files for both kinds of artifact: node-level `reports/**\/*.json` (collected when the
 * node succeeds) and workflow-level `final.txt` (collected when the environment is released).
 */
const artifactNodes = [
  {
    id: 'make',
    type: 'command',
    artifacts: ['reports/**/*.json'],
    run: [
      'mkdir -p reports/deep',
      `echo '{"a":1}' > reports/a.json`,
      `echo '{"b":2}' > reports/deep/b.json`,
      'echo notes > reports/notes.md',
      'echo final > final.txt',
    ].join('\n'),
  },
];

/** Asserts what `artifactNodes` left: listed, downloadable, announced as events. */
async function checkArtifacts(h: Harness, wfId: string, execId: string): Promise<void> {
  // final.txt is collected when the environment is released, just after the end.
  await awaitEvent(h, execId, 'artifact.created', (a) => a.path === 'final.txt', {
    pastEnd: true,
    timeoutMs: deadlineMs,
  });
  const items = await artifactList(h, wfId, execId);
  assert.deepEqual(items.map((a) => a.path).sort(), [
    'final.txt',
    'reports/a.json',
    'reports/deep/b.json',
  ]);
  assert.equal(items.find((a) => a.path === 'reports/a.json')?.nodeId, 'make');
  assert.equal(items.find((a) => a.path === 'final.txt')?.nodeId, null);
  assert.equal(items.find((a) => a.path === 'final.txt')?.size, 'final\n'.length);

  const url = `${executionUrl(wfId, execId)}/artifacts`;
  const final = await h.call('GET', `${url}/final.txt`);
  assert.equal(final.statusCode, 200, final.body);
  assert.equal(final.body, 'final\n');
  const nested = await h.call('GET', `${url}/reports/deep/b.json`);
  assert.equal(nested.statusCode, 200, nested.body);
  assert.equal(nested.body, '{"b":2}\n');
  assert.equal(nested.headers['content-length'], String('{"b":2}\n'.length));

  // The artifact row commits before the decision that announces it: wait for that one too.
  const events = await eventually(
    'final.txt among the artifact.created events',
    async () => {
      const rows = await h.yard.database.db
        .selectFrom('execution_events')
        .select(['type', 'node_id', 'data'])
        .where('execution_id', '=', execId)
        .where('type', '=', 'artifact.created')
        .execute();
      return rows.some((e) => e.data.includes('final.txt')) ? rows : undefined;
    },
    deadlineMs,
  );
  assert.deepEqual(
    events.map((e) => (JSON.parse(e.data) as { path: string }).path).sort(),
    ['final.txt', 'reports/a.json', 'reports/deep/b.json'],
    JSON.stringify(events),
  );
  assert.equal(events.find((e) => e.data.includes('a.json'))?.node_id, 'make');
}

// --- the local sandbox -------------------------------------------------------------------------

const localSkip = localSandboxMissing();
// Probed before any suite runs: a running suite can hold the event loop past the ping's timeout.
const dockerSkip = await dockerAvailable();

for (const dialect of dialectNames) {
  const skip = localSkip || (await skipFor(dialect));
  describe(`runtime API: local sandbox (${dialect})`, { skip, timeout: 240_000 }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect, {
        config: { localIsolation: 'bwrap', runtime: 'local', killGraceMs: 500 },
        artifacts: { reapIntervalMs: 0 },
      });
    });
    after(async () => {
      if (!h) return;
      const ids = await h.yard.database.db.selectFrom('executions').select('id').execute();
      await h.close();
      // Leak check: every execution ended, so none may keep a cgroup (or a process in one).
      const left = ids.flatMap(({ id }) => cgroupDirsOf(id));
      assert.deepEqual(left, [], 'cgroups left behind');
    });

    it('passes a file between nodes in /workspace and shows the environment', async () => {
      const wf = await createWorkflow(h, {
        name: 'local-workspace',
        graph: {
          nodes: [
            {
              id: 'write',
              type: 'command',
              run: [
                'echo x > out.txt',
                'if touch /usr/sy-probe 2>/dev/null; then ro=no; else ro=yes; fi',
                report({ cwd: '$(pwd)', host: '$(hostname)', readOnlyRoot: '$ro' }),
              ].join('\n'),
            },
            {
              id: 'read',
              type: 'command',
              needs: ['write'],
              run: report({ got: '$(cat out.txt)', ws: '$SWITCHYARD_WORKSPACE' }),
            },
          ],
        },
      });
      const run = await runWorkflow(h, wf.id);
      const done = await finished(h, wf.id, run.id);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.deepEqual(nodeOf(done, 'write').outputs, {
        cwd: '/workspace',
        host: 'switchyard',
        readOnlyRoot: 'yes',
        exitCode: 0,
      });
      assert.deepEqual(nodeOf(done, 'read').outputs, { got: 'x', ws: '/workspace', exitCode: 0 });
      // The workspace is a host directory of the execution under the data directory (the next
      // test reads a kept one); a succeeded execution's is removed once its last task releases.
      await until(
        'the succeeded workspace to be removed',
        () => !existsSync(path.join(h.dataDir, 'workspaces', run.id)),
      );

      const environment = (await storedState(h, run.id)).environment as EnvironmentJson;
      assert.equal(environment.runtime, 'local');
      assert.match(environment.isolation, /^bwrap\+cgroup-v[12]$/);
      assert.deepEqual(environment.unenforced, []);
      assert.deepEqual(done.environment, environment, 'the detail shows the environment');
    });

    it("hides one execution's workspace from another", async () => {
      const first = await createWorkflow(h, {
        name: 'local-secret',
        // It fails, so its workspace is kept for a retry (a succeeded one's is removed at once).
        graph: {
          nodes: [{ id: 'keep', type: 'command', run: 'echo s3cret > secret.txt; exit 1' }],
        },
      });
      const a = await runAndWait(h, first.id, ['failed']);
      const secret = path.join(h.dataDir, 'workspaces', a.id, 'secret.txt');
      assert.equal(readFileSync(secret, 'utf8'), 's3cret\n', 'the file exists on the host');

      const second = await createWorkflow(h, {
        name: 'local-snoop',
        graph: {
          nodes: [
            {
              id: 'snoop',
              type: 'command',
              run: [
                `if cat ${secret} > /dev/null 2>&1; then byPath=read; else byPath=refused; fi`,
                `if ls ${path.dirname(path.dirname(secret))} > /dev/null 2>&1; then list=listed; else list=refused; fi`,
                `if [ -e ../${a.id} ] || [ -e secret.txt ]; then near=seen; else near=unseen; fi`,
                report({
                  byPath: '$byPath',
                  list: '$list',
                  near: '$near',
                  parent: "$(ls .. | tr '\\n' ' ')",
                }),
              ].join('\n'),
            },
          ],
        },
      });
      const b = await runAndWait(h, second.id, ['succeeded']);
      const outputs = nodeOf(b, 'snoop').outputs;
      assert.equal(outputs.byPath, 'refused', JSON.stringify(outputs));
      assert.equal(outputs.list, 'refused', JSON.stringify(outputs));
      assert.equal(outputs.near, 'unseen', JSON.stringify(outputs));
      // The data directory (and the workspaces under it) is hidden: nothing of the first run.
      assert.doesNotMatch(String(outputs.parent), new RegExp(a.id));
      assert.equal(readFileSync(secret, 'utf8'), 's3cret\n');
    });

    it('fails a memory hog over memory: 64Mi with ERR_NODE_OOM and a DLQ entry', async () => {
      const wf = await createWorkflow(h, {
        name: 'local-oom',
        runtimeConfig: { memory: '64Mi' },
        graph: { nodes: [{ id: 'hog', type: 'command', run: 'head -c 200m /dev/zero | tail' }] },
      });
      const run = await runWorkflow(h, wf.id);
      const done = await finished(h, wf.id, run.id);
      assert.equal(done.status, 'failed', JSON.stringify(done));
      const hog = nodeOf(done, 'hog');
      assert.equal(hog.error.code, 'ERR_NODE_OOM', JSON.stringify(hog.error));
      assert.equal(hog.attempt, 1);
      assert.equal(done.error.code, 'ERR_NODE_OOM');
      assert.ok(!done.environment?.unenforced.includes('memory'), JSON.stringify(done));
      const entry = await dlqEntryOf(h, wf.id, run.id);
      assert.equal(entry.nodeId, 'hog');
      assert.equal(entry.error.code, 'ERR_NODE_OOM');
      await until('the cgroups of the execution to be removed', () =>
        cgroupDirsOf(run.id).every((dir) => !existsSync(dir)),
      );
    });

    it('holds pids: 32 against a fork bomb; the server runs the next execution', async () => {
      const bomb = forkBomb();
      const wf = await createWorkflow(h, {
        name: 'local-fork-bomb',
        runtimeConfig: { pids: 32 },
        graph: { nodes: [{ id: 'bomb', type: 'command', timeout: '5s', run: bomb.run }] },
      });
      const run = await runWorkflow(h, wf.id);
      const done = await finished(h, wf.id, run.id);
      assert.equal(done.status, 'failed', JSON.stringify(done));
      const error = nodeOf(done, 'bomb').error;
      assert.ok(['ERR_NODE_TIMEOUT', 'ERR_NODE_EXIT'].includes(error.code), JSON.stringify(error));
      const entry = await dlqEntryOf(h, wf.id, run.id);
      assert.match(entry.logTail.join('\n'), /Cannot fork|Resource temporarily unavailable/);
      await until('nothing of the fork bomb to run', () => hostPidsWith(bomb.marker).length === 0);

      const next = await createWorkflow(h, {
        name: 'local-after-bomb',
        graph: { nodes: [{ id: 'fine', type: 'command', run: report({ ok: 'yes' }) }] },
      });
      const ok = await runAndWait(h, next.id, ['succeeded']);
      assert.equal(nodeOf(ok, 'fine').outputs.ok, 'yes');
    });

    it('cancels a sleeping node: no process left, the cgroups removed', async () => {
      const sleep = markedSleep();
      const wf = await createWorkflow(h, {
        name: 'local-cancel',
        graph: {
          nodes: [
            { id: 'sleepy', type: 'command', run: sleep.run },
            { id: 'later', type: 'command', needs: ['sleepy'], run: 'echo never' },
          ],
        },
      });
      const run = await runWorkflow(h, wf.id);
      await until('the sleep to run', () => hostPidsWith(sleep.marker).length > 0);
      assert.ok(cgroupDirsOf(run.id).length > 0, 'the execution has cgroups while it runs');

      const res = await h.call('POST', `${executionUrl(wf.id, run.id)}/cancel`, {});
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<ExecutionJson>();
      assert.equal(body.status, 'cancelled');
      assert.equal(nodeOf(body, 'sleepy').status, 'cancelled');
      assert.equal(nodeOf(body, 'later').status, 'cancelled');

      await until('the sleep to be gone', () => hostPidsWith(sleep.marker).length === 0);
      await until('the cgroups of the execution to be removed', () =>
        cgroupDirsOf(run.id).every((dir) => !existsSync(dir)),
      );
      const after = await getExecution(h, wf.id, run.id);
      assert.equal(nodeOf(after, 'sleepy').status, 'cancelled', 'the cancel sticks');
    });

    it('collects node and workflow artifacts from the workspace', async () => {
      const wf = await createWorkflow(h, {
        name: 'local-artifacts',
        runtimeConfig: { artifacts: ['final.txt'] },
        graph: { nodes: artifactNodes },
      });
      const done = await runAndWait(h, wf.id, ['succeeded']);
      await checkArtifacts(h, wf.id, done.id);
    });
  });
}

// --- Docker ------------------------------------------------------------------------------------

describe('runtime API: docker (sqlite)', { skip: dockerSkip, timeout: 300_000 }, () => {
  let h: Harness;
  let docker: Docker;
  /** Executions these tests started: their containers must all be gone at the end. */
  const executions: string[] = [];

  before(async () => {
    docker = testDocker();
    await ensureTestImage(docker);
    h = await startHarness('sqlite', {
      config: { runtime: 'docker', dockerSocket, killGraceMs: 500 },
      artifacts: { reapIntervalMs: 0 },
    });
  });

  after(async () => {
    await h?.close();
    if (!docker) return;
    // Leak check: no container of these executions may outlive them; removed either way.
    const left = (await docker.listContainers({ all: true })).filter((c) =>
      executions.includes(c.Labels[dockerLabels.execution] ?? ''),
    );
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true, v: true });
    assert.deepEqual(
      left.map((c) => c.Names[0]),
      [],
      'containers left behind',
    );
  });

  const image = { image: testImage };

  async function start(wfId: string): Promise<string> {
    const run = await runWorkflow(h, wfId);
    executions.push(run.id);
    return run.id;
  }

  /** The container's inspect data, or undefined when there is none. */
  async function containerInfo(execId: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await docker.getContainer(`sy-${execId}`).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  const containerGone = (execId: string) =>
    until(`container sy-${execId} to be removed`, async () => !(await containerInfo(execId)));

  it('runs the nodes in the execution’s container and removes it afterwards', async () => {
    const wf = await createWorkflow(h, {
      name: 'docker-workspace',
      runtimeConfig: image,
      graph: {
        nodes: [
          {
            id: 'inside',
            type: 'command',
            env: { GREETING: 'hello from the node' },
            run: [
              'echo x > out.txt',
              report({
                cwd: '$(pwd)',
                host: '$(hostname)',
                init: "$(tr '\\0' ' ' < /proc/1/cmdline)",
                greeting: '$GREETING',
                exec: '$SWITCHYARD_EXECUTION_ID',
              }),
            ].join('\n'),
          },
          {
            id: 'read',
            type: 'command',
            needs: ['inside'],
            // Holds the execution open until the test has looked at the container.
            run: ['while [ ! -e go ]; do sleep 0.1; done', report({ got: '$(cat out.txt)' })].join(
              '\n',
            ),
          },
        ],
      },
    });
    const execId = await start(wf.id);
    const running: ExecutionJson = await waitForNode(
      h,
      wf.id,
      execId,
      'read',
      ['running'],
      deadlineMs,
    );
    const info = await containerInfo(execId);
    assert.ok(info, 'the container exists while the execution runs');
    assert.equal(info.State.Running, true);
    assert.equal(info.Config.Image, testImage);
    assert.equal(info.Config.Labels[dockerLabels.execution], execId);
    assert.equal(info.Config.Labels[dockerLabels.workflow], wf.id);
    assert.equal(info.HostConfig.NetworkMode, 'none');
    assert.ok(info.Mounts.some((m) => m.Destination === '/workspace'));

    const inside = nodeOf(running, 'inside').outputs;
    assert.equal(inside.cwd, '/workspace');
    assert.equal(inside.greeting, 'hello from the node');
    assert.equal(inside.exec, execId);
    assert.equal(inside.host, info.Config.Hostname, 'the node ran in the container');
    assert.match(String(inside.init), /sleep infinity/, 'pid 1 is the container’s init');
    assert.deepEqual(running.environment, {
      runtime: 'docker',
      isolation: 'docker',
      unenforced: [],
      user: 'root',
      network: 'none',
    });

    writeFileSync(path.join(h.dataDir, 'workspaces', execId, 'go'), '');
    const done = await finished(h, wf.id, execId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(nodeOf(done, 'read').outputs.got, 'x');
    await containerGone(execId);
  });

  it('fails a memory hog over memory: 64Mi with ERR_NODE_OOM', async () => {
    const wf = await createWorkflow(h, {
      name: 'docker-oom',
      runtimeConfig: { ...image, memory: '64Mi' },
      graph: {
        nodes: [
          // dd holds one 256 MiB block in memory.
          { id: 'hog', type: 'command', run: 'dd if=/dev/zero of=/dev/null bs=256M count=1' },
        ],
      },
    });
    const execId = await start(wf.id);
    const done = await finished(h, wf.id, execId);
    assert.equal(done.status, 'failed', JSON.stringify(done));
    assert.equal(nodeOf(done, 'hog').error.code, 'ERR_NODE_OOM', JSON.stringify(done));
    const entry = await dlqEntryOf(h, wf.id, execId);
    assert.equal(entry.error.code, 'ERR_NODE_OOM');
    await containerGone(execId);
  });

  it('holds pids: 32 against a fork bomb; the next execution runs', async () => {
    const bomb = forkBomb();
    const wf = await createWorkflow(h, {
      name: 'docker-fork-bomb',
      runtimeConfig: { ...image, pids: 32 },
      graph: {
        nodes: [
          {
            id: 'gate',
            type: 'command',
            run: 'echo ready; while [ ! -e go ]; do sleep 0.1; done',
          },
          { id: 'bomb', type: 'command', needs: ['gate'], timeout: '5s', run: bomb.run },
        ],
      },
    });
    const execId = await start(wf.id);
    // The gate runs in the container, so the container exists once the gate has spoken.
    await awaitLogs(
      h,
      execId,
      'the gate',
      (lines) => lines.some((l) => l.text === 'ready'),
      deadlineMs,
    );
    const info = await containerInfo(execId);
    assert.ok(info, `container sy-${execId}`);
    assert.equal(info.HostConfig.PidsLimit, 32);
    writeFileSync(path.join(h.dataDir, 'workspaces', execId, 'go'), '');

    const done = await finished(h, wf.id, execId);
    assert.equal(done.status, 'failed', JSON.stringify(done));
    const error = nodeOf(done, 'bomb').error;
    assert.ok(['ERR_NODE_TIMEOUT', 'ERR_NODE_EXIT'].includes(error.code), JSON.stringify(error));
    const entry = await dlqEntryOf(h, wf.id, execId);
    assert.match(entry.logTail.join('\n'), /can't fork|Resource temporarily unavailable/);
    await containerGone(execId);
    await until('nothing of the fork bomb to run', () => hostPidsWith(bomb.marker).length === 0);

    const next = await createWorkflow(h, {
      name: 'docker-after-bomb',
      runtimeConfig: image,
      graph: { nodes: [{ id: 'fine', type: 'command', run: report({ ok: 'yes' }) }] },
    });
    const nextId = await start(next.id);
    const ok = await finished(h, next.id, nextId);
    assert.equal(ok.status, 'succeeded', JSON.stringify(ok));
    await containerGone(nextId);
  });

  it('cancel stops the node and removes the container', async () => {
    const sleep = markedSleep();
    const wf = await createWorkflow(h, {
      name: 'docker-cancel',
      runtimeConfig: image,
      graph: { nodes: [{ id: 'sleepy', type: 'command', run: sleep.run }] },
    });
    const execId = await start(wf.id);
    // The engine runs on this host: the container's processes are in our /proc.
    await until('the sleep to run', () => hostPidsWith(sleep.marker).length > 0);
    assert.equal((await containerInfo(execId))?.State.Running, true);

    const res = await h.call('POST', `${executionUrl(wf.id, execId)}/cancel`, {});
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<ExecutionJson>().status, 'cancelled');
    assert.equal(nodeOf(res.json<ExecutionJson>(), 'sleepy').status, 'cancelled');
    await containerGone(execId);
    await until('the sleep to be gone', () => hostPidsWith(sleep.marker).length === 0);
  });

  it('fails at once with ERR_NODE_IMAGE for a missing image, without retries', async () => {
    const wf = await createWorkflow(h, {
      name: 'docker-missing-image',
      runtimeConfig: { image: 'nope:missing' },
      graph: {
        nodes: [
          {
            id: 'step',
            type: 'command',
            retry: { maxAttempts: 3, initialInterval: '100ms' },
            run: 'echo never',
          },
        ],
      },
    });
    const execId = await start(wf.id);
    const done = await finished(h, wf.id, execId);
    assert.equal(done.status, 'failed', JSON.stringify(done));
    const step = nodeOf(done, 'step');
    assert.equal(step.error.code, 'ERR_NODE_IMAGE', JSON.stringify(step.error));
    assert.match(step.error.message, /nope:missing/);
    assert.equal(step.attempt, 1, 'a missing image is not retried');
    assert.equal(done.error.code, 'ERR_NODE_IMAGE');
    assert.equal(await containerInfo(execId), undefined);
  });

  it('collects node and workflow artifacts from the container’s workspace', async () => {
    const wf = await createWorkflow(h, {
      name: 'docker-artifacts',
      runtimeConfig: { ...image, artifacts: ['final.txt'] },
      graph: { nodes: artifactNodes },
    });
    const execId = await start(wf.id);
    const done = await finished(h, wf.id, execId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.environment?.runtime, 'docker');
    await checkArtifacts(h, wf.id, execId);
    await containerGone(execId);
  });
});
