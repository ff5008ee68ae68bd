/**
 * The docker runtime against a real dockerd (scripts/dockerd.sh) and an image built offline from
 * busybox-static. Skips with a printed reason when no engine answers, except in CI.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from '../helpers/suite.ts';
import type Docker from 'dockerode';
import { createDockerRuntime, dockerLabels, SandboxError } from '../../src/runtime/docker.ts';
import type {
  Sandbox,
  SandboxProcess,
  SandboxSpec,
  SpawnOptions,
} from '../../src/runtime/types.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';

const skip = await dockerAvailable();
/** Ids of this run, so reaping and the leak check never touch another suite's containers. */
const runId = randomBytes(4).toString('hex');
let seq = 0;
const sidecarImage = 'switchyard-test:sidecar';

describe('docker runtime', { skip, timeout: 120_000 }, () => {
  let docker: Docker;
  const runtime = createDockerRuntime({ socketPath: dockerSocket });
  const execRuntime = createDockerRuntime({ socketPath: dockerSocket, hostProcessControl: false });
  const sandboxes: Sandbox[] = [];
  const dirs: string[] = [];

  before(async () => {
    docker = testDocker();
    await ensureTestImage(docker);
    // A second tag of the test image stands in for a node-level sidecar image.
    await docker.getImage(testImage).tag({ repo: 'switchyard-test', tag: 'sidecar' });
  });

  after(async () => {
    for (const s of sandboxes) await s.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    // Leak check: nothing of this run may survive its tests.
    const left = await ourContainers();
    assert.deepEqual(left, [], `containers left behind: ${left.join(', ')}`);
  });

  async function ourContainers(): Promise<string[]> {
    const list = await docker.listContainers({
      all: true,
      filters: { label: [`${dockerLabels.managed}=1`] },
    });
    return list
      .filter((c) => c.Labels[dockerLabels.execution]?.startsWith(`exec_t${runId}`))
      .map((c) => c.Names[0] ?? c.Id);
  }

  function spec(overrides: Partial<SandboxSpec> = {}): SandboxSpec {
    const hostWorkspace = mkdtempSync(path.join(tmpdir(), 'switchyard-ws-'));
    dirs.push(hostWorkspace);
    return {
      executionId: `exec_t${runId}${++seq}`,
      workflowId: 'wf_dockertest',
      image: testImage,
      limits: {},
      network: 'none',
      hostWorkspace,
      ...overrides,
    };
  }

  const executionOf = new Map<Sandbox, string>();

  async function sandbox(
    control: 'host' | 'exec' | Partial<SandboxSpec> = 'host',
    overrides: Partial<SandboxSpec> = {},
  ): Promise<Sandbox> {
    if (typeof control !== 'string') return sandbox('host', control);
    const sp = spec(overrides);
    const s = await (control === 'host' ? runtime : execRuntime).create(sp);
    sandboxes.push(s);
    executionOf.set(s, sp.executionId);
    return s;
  }

  /** The sandbox's container, by the name the runtime gives it. */
  function containerOf(s: Sandbox): Docker.Container {
    return docker.getContainer(`sy-${executionOf.get(s)}`);
  }

  interface Ran {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
    proc: SandboxProcess;
  }

  async function run(s: Sandbox, script: string, opts: Partial<SpawnOptions> = {}): Promise<Ran> {
    const proc = await s.spawn(['sh', '-c', script], { cwd: '/workspace', env: {}, ...opts });
    const [stdout, stderr] = await Promise.all([text(proc.stdout), text(proc.stderr)]);
    const end = await proc.exited;
    return { ...end, stdout, stderr, proc };
  }

  function text(r: NodeJS.ReadableStream): Promise<string> {
    return new Promise((resolve, reject) => {
      let out = '';
      r.on('data', (c: Buffer) => (out += c.toString()));
      r.on('end', () => resolve(out));
      r.on('error', reject);
    });
  }

  /** Resolves once `line` appears on the process's stdout (the process says it is ready). */
  function said(proc: SandboxProcess, line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let out = '';
      const onData = (c: Buffer) => {
        out += c.toString();
        if (out.includes(line)) {
          proc.stdout.off('data', onData);
          resolve();
        }
      };
      proc.stdout.on('data', onData);
      proc.stdout.once('end', () => reject(new Error(`stdout ended before ${line}: ${out}`)));
    });
  }

  test('runs commands in its container with env and cwd, streams split', async () => {
    const s = await sandbox();
    assert.equal(s.runtime, 'docker');
    assert.equal(s.isolation, 'docker');
    assert.equal(s.workspace, '/workspace');
    assert.deepEqual(s.unenforced, []);
    const r = await run(s, 'echo "greeting=$GREETING"; pwd; echo oops >&2; exit 3', {
      cwd: '/tmp',
      env: { GREETING: 'hello world' },
    });
    assert.equal(r.code, 3);
    assert.equal(r.signal, null);
    assert.equal(r.stdout, 'greeting=hello world\n/tmp\n');
    assert.equal(r.stderr, 'oops\n');
    assert.equal(await r.proc.oomKilled(), false);
    assert.equal(await r.proc.leftovers(), false);
    // It ran in the container: the image's busybox, not the host's userland.
    const inside = await run(s, 'readlink /bin/sh; hostname');
    assert.equal(inside.stdout.split('\n')[0], 'busybox');
    const info = await containerOf(s).inspect();
    assert.equal(inside.stdout.split('\n')[1], info.Config.Hostname);
  });

  test('files pass between spawns through /workspace, which is the host workspace', async () => {
    const s = await sandbox();
    const w = await run(s, 'mkdir -p out && echo first > out/a.txt');
    assert.equal(w.code, 0, w.stderr);
    const r = await run(s, 'cat a.txt && echo second >> a.txt', { cwd: '/workspace/out' });
    assert.equal(r.stdout, 'first\n');
    assert.equal(readFileSync(path.join(s.hostWorkspace, 'out/a.txt'), 'utf8'), 'first\nsecond\n');
    writeFileSync(path.join(s.hostWorkspace, 'from-host.txt'), 'host\n');
    assert.equal((await run(s, 'cat /workspace/from-host.txt')).stdout, 'host\n');
  });

  // Process control from the host (/proc, cgroup) and through helper execs in the container.
  for (const control of ['host', 'exec'] as const) {
    test(`${control}: a memory hog over 64Mi is OOM-killed and says so; the sandbox lives on`, async () => {
      const s = await sandbox(control, { limits: { memoryBytes: 64 * 1024 * 1024 } });
      const hostConfig = (await containerOf(s).inspect()).HostConfig;
      assert.equal(hostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(hostConfig.MemorySwap, 64 * 1024 * 1024);
      // dd holds one 256 MiB block in memory.
      const hog = await run(s, 'dd if=/dev/zero of=/dev/null bs=256M count=1');
      assert.equal(hog.code, 137);
      assert.equal(await hog.proc.oomKilled(), true);
      // A process that merely exits 137 was not OOM-killed, even after one was.
      const fake = await run(s, 'exit 137');
      assert.equal(fake.code, 137);
      assert.equal(await fake.proc.oomKilled(), false);
      const fine = await run(s, 'dd if=/dev/zero of=/dev/null bs=1M count=8 2>/dev/null; echo ok');
      assert.equal(fine.stdout, 'ok\n');
      assert.equal(await fine.proc.oomKilled(), false);
    });

    test(`${control}: the pids limit stops a fork bomb, and terminate clears what it left`, async () => {
      const s = await sandbox(control, { limits: { pids: 24 } });
      const container = containerOf(s);
      assert.equal((await container.inspect()).HostConfig.PidsLimit, 24);
      // Bounded: at most 200 forks, each child sleeps; the shell gives up at the first refusal.
      const bomb = await run(
        s,
        'i=0; while [ $i -lt 200 ]; do sleep 600 & i=$((i+1)); done; echo forked $i',
      );
      assert.match(bomb.stderr, /can't fork|Resource temporarily unavailable/);
      assert.doesNotMatch(bomb.stdout, /forked 200/);
      assert.equal(await bomb.proc.leftovers(), true);
      await bomb.proc.terminate(1000);
      assert.equal(await bomb.proc.leftovers(), false);
      const after = await run(
        s,
        'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; ps -o args | grep -c "^sleep 600" || true',
      );
      assert.deepEqual(after.stdout.trim().split('\n'), ['24', '0']);
    });

    test(`${control}: terminate stops a sleep 1000 tree: TERM first, KILL for what ignores it`, async () => {
      const s = await sandbox(control);
      const p = await s.spawn(['sh', '-c', 'sleep 1000 & sleep 1000 & echo ready; wait'], {
        cwd: '/workspace',
        env: {},
      });
      p.stderr.resume();
      await said(p, 'ready');
      await p.terminate(2000);
      assert.deepEqual(await p.exited, { code: null, signal: 'SIGTERM' });
      assert.equal(await p.leftovers(), false);

      const stubborn = await s.spawn(
        ['sh', '-c', "trap '' TERM; sleep 1000 & echo ready; wait; wait"],
        { cwd: '/workspace', env: {} },
      );
      stubborn.stderr.resume();
      await said(stubborn, 'ready');
      await stubborn.terminate(300);
      assert.deepEqual(await stubborn.exited, { code: null, signal: 'SIGKILL' });
      assert.equal(await stubborn.leftovers(), false);
      const ps = await run(s, 'ps -o args | grep -c "^sleep 1000" || true');
      assert.equal(ps.stdout.trim(), '0');
    });
  }

  test('a terminate during a saturated pids limit still stops the group', async () => {
    const s = await sandbox({ limits: { pids: 16 } });
    const bomb = await s.spawn(
      ['sh', '-c', 'echo started; while :; do sleep 600 & done 2>/dev/null'],
      { cwd: '/workspace', env: {} },
    );
    const out = text(bomb.stdout);
    bomb.stderr.resume();
    await said(bomb, 'started');
    await bomb.terminate(500);
    await bomb.exited;
    await out;
    assert.equal(await bomb.leftovers(), false);
  });

  test('the cpu limit is in the container HostConfig and throttles a busy loop', async () => {
    const s = await sandbox({ limits: { cpu: 0.5 } });
    const info = await containerOf(s).inspect();
    assert.equal(info.HostConfig.NanoCpus, 500_000_000);
    const r = await run(
      s,
      'timeout 1 sh -c "while :; do :; done"; cat /sys/fs/cgroup/cpu/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu.stat',
    );
    const throttled = /^nr_throttled (\d+)$/m.exec(r.stdout)?.[1];
    if (throttled === undefined) {
      process.stderr.write('# cpu.stat not readable in the container; HostConfig checked only\n');
    } else {
      assert.ok(Number(throttled) > 0, `not throttled: ${r.stdout}`);
    }
  });

  test('network none leaves only the loopback interface; host shows the host ones', async () => {
    const none = await sandbox();
    const names = (await run(none, 'cat /proc/net/dev')).stdout
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter((n) => n !== '');
    assert.deepEqual(names, ['lo']);
    assert.equal((await containerOf(none).inspect()).HostConfig.NetworkMode, 'none');
    // Host mode only reads the interface list: nothing is sent anywhere.
    const host = await sandbox({ network: 'host' });
    const hostNames = (await run(host, 'cat /proc/net/dev')).stdout;
    assert.equal(
      readFileSync('/proc/net/dev', 'utf8').split('\n').length,
      hostNames.split('\n').length,
    );
  });

  test('destroy removes the container and keeps the host workspace', async () => {
    const sp = spec();
    const s = await runtime.create(sp);
    await run(s, 'echo kept > kept.txt');
    const name = `sy-${sp.executionId}`;
    assert.equal((await docker.getContainer(name).inspect()).State.Running, true);
    await s.destroy();
    await assert.rejects(docker.getContainer(name).inspect(), { statusCode: 404 });
    assert.equal(readFileSync(path.join(s.hostWorkspace, 'kept.txt'), 'utf8'), 'kept\n');
    await s.destroy(); // idempotent
  });

  test('creating the sandbox of a running execution again adopts its container', async () => {
    const sp = spec();
    const first = await runtime.create(sp);
    sandboxes.push(first);
    await run(first, 'echo 1 > /tmp/marker');
    const again = await runtime.create(sp); // e.g. after a server restart
    assert.equal((await run(again, 'cat /tmp/marker')).stdout, '1\n');
    await again.destroy();
    await assert.rejects(docker.getContainer(`sy-${sp.executionId}`).inspect(), {
      statusCode: 404,
    });
  });

  test('a missing image fails at once with ERR_NODE_IMAGE naming it, and leaves nothing', async () => {
    const sp = spec({ image: 'switchyard-test:does-not-exist' });
    await assert.rejects(runtime.create(sp), (err: unknown) => {
      assert.ok(err instanceof SandboxError);
      assert.equal(err.code, 'ERR_NODE_IMAGE');
      assert.match(err.message, /switchyard-test:does-not-exist/);
      assert.match(err.message, /never pulls/);
      return true;
    });
    await assert.rejects(docker.getContainer(`sy-${sp.executionId}`).inspect(), {
      statusCode: 404,
    });
    const noImage = spec();
    delete noImage.image;
    await assert.rejects(runtime.create(noImage), { code: 'ERR_NODE_IMAGE' });
  });

  test('reap removes the containers of executions that are over, only those', async () => {
    const forgotten = spec();
    await runtime.create(forgotten); // a crash: nobody keeps the sandbox
    const kept = await sandbox();
    // Every other execution counts as alive, so other suites' containers stay.
    const removed = await runtime.reap((id) => Promise.resolve(id !== forgotten.executionId));
    assert.deepEqual(removed, [`sy-${forgotten.executionId}`]);
    await assert.rejects(docker.getContainer(`sy-${forgotten.executionId}`).inspect(), {
      statusCode: 404,
    });
    assert.equal((await containerOf(kept).inspect()).State.Running, true);
  });

  test('a node-level sidecar image sees the same /workspace and is removed after', async () => {
    const s = await sandbox({ limits: { memoryBytes: 128 * 1024 * 1024 } });
    await run(s, 'echo from-main > main.txt');
    const side = await run(
      s,
      'cat main.txt; echo from-sidecar > side.txt; echo $ROLE; pwd; hostname',
      {
        image: sidecarImage,
        env: { ROLE: 'sidecar' },
        cwd: '/workspace',
      },
    );
    assert.equal(side.code, 0, side.stderr);
    const [mainLine, role, cwd, sideHost] = side.stdout.trim().split('\n');
    assert.deepEqual([mainLine, role, cwd], ['from-main', 'sidecar', '/workspace']);
    assert.equal((await run(s, 'cat side.txt')).stdout, 'from-sidecar\n');
    assert.ok(existsSync(path.join(s.hostWorkspace, 'side.txt')));
    const mainHost = (await run(s, 'hostname')).stdout.trim();
    assert.notEqual(sideHost, mainHost, 'the sidecar is a container of its own');
    assert.equal(await side.proc.oomKilled(), false);
    const sidecars = await docker.listContainers({
      all: true,
      filters: {
        label: [`${dockerLabels.role}=sidecar`, `${dockerLabels.execution}=${executionOf.get(s)}`],
      },
    });
    assert.deepEqual(sidecars, []);
    // A sidecar's exit code, and its termination.
    assert.equal((await run(s, 'exit 5', { image: sidecarImage })).code, 5);
    const long = await s.spawn(['sh', '-c', 'echo ready; sleep 1000'], {
      cwd: '/workspace',
      env: {},
      image: sidecarImage,
    });
    long.stderr.resume();
    await said(long, 'ready');
    await long.terminate(2000);
    assert.notEqual((await long.exited).code, 0);
    await assert.rejects(
      s.spawn(['true'], { cwd: '/workspace', env: {}, image: 'switchyard-test:no-such-sidecar' }),
      { code: 'ERR_NODE_IMAGE' },
    );
  });
});
