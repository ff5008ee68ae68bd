/**
 * The docker runtime against a real dockerd (scripts/dockerd.sh) and an image built offline from
 * busybox-static. Skips with a printed reason when no engine answers, except in CI.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from '../helpers/suite.ts';
import { eventually } from '../helpers/eventually.ts';
import type Docker from 'dockerode';
import { dockerLabels, keptCapabilities } from '../../src/runtime/docker/container-config.ts';
import { SandboxError } from '../../src/runtime/docker/errors.ts';
import { createDockerRuntime } from '../../src/runtime/docker/runtime.ts';
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
  const socketRuntime = createDockerRuntime({ socketPath: dockerSocket, allowDockerSocket: true });
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

  /** Commands of the execs the engine created in `container` since `sinceMs` (its event log). */
  async function execsSince(container: Docker.Container, sinceMs: number): Promise<string[]> {
    // `until` a second ahead at most: the stream ends then, with every event up to now in it.
    const stream = await docker.getEvents({
      since: Math.floor(sinceMs / 1000),
      until: Math.ceil(Date.now() / 1000),
      filters: { container: [container.id], event: ['exec_create'] },
    });
    const lines = (await text(stream)).split('\n').filter(Boolean);
    return lines
      .map((l) => JSON.parse(l) as { timeNano: number; Action: string })
      .filter((e) => e.timeNano >= sinceMs * 1e6)
      .map((e) => e.Action);
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

    test(`${control}: terminate clears a fork bomb that holds the pids limit, starting nothing in the container`, async () => {
      const s = await sandbox(control, { limits: { pids: 24 } });
      const container = containerOf(s);
      assert.equal((await container.inspect()).HostConfig.PidsLimit, 24);
      // Never gives up: awk's system() returns when a fork is refused and tries again, so every
      // slot that frees up is taken again and the container stays at its limit.
      const bomb = await s.spawn(
        ['sh', '-c', `echo started; exec awk 'BEGIN { while (1) system("sleep 600 &") }'`],
        { cwd: '/workspace', env: {} },
      );
      bomb.stderr.resume();
      const out = text(bomb.stdout);
      await said(bomb, 'started');
      await eventually('the bomb to fill the pids limit', async () => {
        const stats = await container.stats({ stream: false, 'one-shot': true });
        return (stats.pids_stats?.current ?? 0) >= 24 ? true : undefined;
      });
      assert.equal(await bomb.leftovers(), true);
      const since = Date.now();
      await bomb.terminate(1000);
      // A new process in a container at its limit may be refused for as long as the bomb runs
      // (runc exits 126): process control must need none, so no exec was made meanwhile.
      assert.deepEqual(await execsSince(container, since), []);
      assert.notEqual((await bomb.exited).signal, null);
      await out;
      assert.equal(await bomb.leftovers(), false);
      const after = await run(
        s,
        'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; ps -o args | grep -c -e "^sleep 600" -e "^awk" -e "^sh -c sleep" || true',
      );
      assert.deepEqual(after.stdout.trim().split('\n'), ['24', '0']);
      assert.equal((await container.inspect()).HostConfig.PidsLimit, 24);
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

  test('exec: terminate still works after a command killed the controller exec', async () => {
    const s = await sandbox('exec');
    const killController = () =>
      run(
        s,
        'for p in $(ps -o pid,args | grep "while read -r n t s" | grep -v grep | cut -c1-6); do kill -9 $p; done; echo killed',
      );
    // Killed while a command runs: helper execs stand in. The next spawn starts another one.
    for (const killAfterSpawn of [true, false]) {
      const p = await s.spawn(['sh', '-c', 'sleep 1000 & echo ready; wait'], {
        cwd: '/workspace',
        env: {},
      });
      p.stderr.resume();
      await said(p, 'ready');
      if (killAfterSpawn) assert.equal((await killController()).stdout, 'killed\n');
      const since = Date.now();
      await p.terminate(2000);
      assert.deepEqual(await p.exited, { code: null, signal: 'SIGTERM' });
      assert.equal(await p.leftovers(), false);
      assert.equal((await execsSince(containerOf(s), since)).length > 0, killAfterSpawn);
    }
    const ps = await run(s, 'ps -o args | grep -c "^sleep 1000" || true');
    assert.equal(ps.stdout.trim(), '0');
  });

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

  /** The capability bits of a `Cap*:` line of /proc/<pid>/status. */
  function capBits(status: string, line: string): bigint {
    const hex = new RegExp(`^${line}:\\s+([0-9a-f]+)$`, 'm').exec(status)?.[1];
    assert.ok(hex, `${line} in ${status}`);
    return BigInt(`0x${hex}`);
  }
  // From linux/capability.h.
  const capNumbers: Record<string, number> = {
    CHOWN: 0,
    DAC_OVERRIDE: 1,
    FOWNER: 3,
    FSETID: 4,
    KILL: 5,
    SETGID: 6,
    SETUID: 7,
    SETPCAP: 8,
    NET_BIND_SERVICE: 10,
    NET_RAW: 13,
    SYS_CHROOT: 18,
    SYS_ADMIN: 21,
    MKNOD: 27,
    AUDIT_WRITE: 29,
    SETFCAP: 31,
  };
  const has = (bits: bigint, cap: string) => ((bits >> BigInt(capNumbers[cap]!)) & 1n) === 1n;

  test('containers run with no-new-privileges and a reduced capability set, as root by default', async () => {
    const s = await sandbox();
    const hostConfig = (await containerOf(s).inspect()).HostConfig;
    assert.deepEqual(hostConfig.SecurityOpt, ['no-new-privileges']);
    assert.deepEqual(hostConfig.CapDrop, ['ALL']);
    assert.deepEqual(hostConfig.CapAdd, [...keptCapabilities]);
    assert.equal(s.user, 'root');
    assert.equal(s.hostUser, undefined);
    const r = await run(s, 'id -u; cat /proc/self/status');
    assert.equal(r.code, 0, r.stderr);
    const [uid, ...status] = r.stdout.split('\n');
    assert.equal(uid, '0');
    const text = status.join('\n');
    assert.match(text, /^NoNewPrivs:\s+1$/m);
    const bounding = capBits(text, 'CapBnd');
    for (const cap of keptCapabilities) assert.ok(has(bounding, cap), `${cap} kept`);
    for (const cap of ['NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP', 'SYS_CHROOT', 'SYS_ADMIN']) {
      assert.ok(!has(bounding, cap), `${cap} dropped`);
    }
    // What root in a CI step still does: chown, and nothing that needs a dropped capability.
    const chowned = await run(s, 'touch f && chown 1234:1234 f && stat -c %u:%g f');
    assert.equal(chowned.stdout, '1234:1234\n', chowned.stderr);
    const mknod = await run(s, 'mknod /tmp/null c 1 3');
    assert.notEqual(mknod.code, 0, 'mknod needs the dropped MKNOD');
  });

  test('runtime_config.user runs execs and sidecars as that user, in a workspace it owns', async () => {
    const s = await sandbox({ user: '1000:1000' });
    assert.equal(s.user, '1000:1000');
    assert.deepEqual(s.hostUser, { uid: 1000, gid: 1000 });
    assert.equal((await containerOf(s).inspect()).Config.User, '1000:1000');
    const st = statSync(s.hostWorkspace);
    assert.deepEqual([st.uid, st.gid], [1000, 1000]);
    const r = await run(s, 'id -u; id -g; echo hi > mine.txt && cat mine.txt; pwd');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1000\n1000\nhi\n/workspace\n');
    assert.equal(statSync(path.join(s.hostWorkspace, 'mine.txt')).uid, 1000);
    const side = await run(s, 'id -u', { image: sidecarImage });
    assert.equal(side.stdout, '1000\n', side.stderr);
    // No way back to root: no setuid gain under no-new-privileges, no capabilities.
    const status = await run(s, 'cat /proc/self/status');
    assert.equal(capBits(status.stdout, 'CapEff'), 0n);
    assert.match(status.stdout, /^NoNewPrivs:\s+1$/m);
    // Process control works for the user's own processes too.
    const long = await s.spawn(['sh', '-c', 'echo ready; sleep 1000'], {
      cwd: '/workspace',
      env: {},
    });
    long.stderr.resume();
    await said(long, 'ready');
    await long.terminate(2000);
    assert.equal((await long.exited).signal, 'SIGTERM');
  });

  test("runtime_config.user by name resolves in the image; an unknown one is the workflow's error", async () => {
    const s = await sandbox({ user: 'nobody' });
    assert.equal(s.user, 'nobody');
    assert.deepEqual(s.hostUser, { uid: 65534, gid: 65534 });
    assert.equal((await run(s, 'id -u; touch x && echo ok')).stdout, '65534\nok\n');
    const sp = spec({ user: 'ghost' });
    await assert.rejects(runtime.create(sp), (err: SandboxError) => {
      assert.equal(err.code, 'ERR_NODE_CONFIG');
      assert.equal(err.retryable, false);
      assert.match(err.message, /"ghost"/);
      return true;
    });
    assert.deepEqual(
      await docker.listContainers({
        all: true,
        filters: { label: [`${dockerLabels.execution}=${sp.executionId}`] },
      }),
      [],
    );
  });

  test('no Docker socket inside unless asked for; asking is refused unless the server allows it', async () => {
    const s = await sandbox();
    const binds = (await containerOf(s).inspect()).HostConfig.Binds ?? [];
    assert.deepEqual(binds, [`${s.hostWorkspace}:/workspace`]);
    const r = await run(
      s,
      'test ! -S /var/run/docker.sock && test ! -e /run/switchyard-docker.sock && echo none; ' +
        'find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null; true',
    );
    assert.equal(r.stdout, 'none\n', 'no unix socket anywhere in the container');

    const asked = spec({ dockerSocket: true });
    await assert.rejects(runtime.create(asked), (err: SandboxError) => {
      assert.equal(err.code, 'ERR_RUNTIME_FORBIDDEN');
      assert.equal(err.retryable, false);
      assert.match(err.message, /docker_socket/);
      return true;
    });
    assert.deepEqual(
      await docker.listContainers({
        all: true,
        filters: { label: [`${dockerLabels.execution}=${asked.executionId}`] },
      }),
      [],
    );

    const allowed = await socketRuntime.create(spec({ dockerSocket: true }));
    sandboxes.push(allowed);
    const out = await run(allowed, 'test -S /var/run/docker.sock && echo mounted');
    assert.equal(out.stdout, 'mounted\n', out.stderr);
    // A server that allows it still mounts it only for workflows that ask.
    const notAsked = await socketRuntime.create(spec());
    sandboxes.push(notAsked);
    assert.equal(
      (await run(notAsked, 'test -S /var/run/docker.sock || echo absent')).stdout,
      'absent\n',
    );
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
