/**
 * The local runtime on real parts: real processes, real bubblewrap, real cgroups (v1/hybrid or
 * v2, whichever this host has). A test whose part is missing skips with a printed reason, except
 * under CI (CI=true), where it fails instead.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from '../helpers/suite.ts';
import type { CgroupController } from '../../src/runtime/cgroups.ts';
import { QuantityError, parseCpu, parseMemory, parsePids } from '../../src/definition/quantity.ts';
import { type LocalSandbox, createLocalRuntime } from '../../src/runtime/local.ts';
import type { ProcessEnd, SandboxSpec } from '../../src/runtime/types.ts';
import { createExecFixture, command, failed, succeeded } from '../helpers/exec-context.ts';
import { eventually } from '../helpers/eventually.ts';

const required = process.env.CI === 'true';
const scratch = mkdtempSync(path.join(tmpdir(), 'sy-runtime-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const caps = await createLocalRuntime({ dataDir: scratch }).capabilities();

/** A skip reason (printed) when a part is missing, false when present; throws under CI. */
function needs(parts: { bwrap?: boolean; cgroups?: CgroupController[] }): string | false {
  const missing: string[] = [];
  if (parts.bwrap === true && caps.bwrap === undefined) missing.push(caps.bwrapProblem ?? 'bwrap');
  for (const controller of parts.cgroups ?? []) {
    if (caps.cgroups?.bases[controller] === undefined) {
      missing.push(
        `cgroup controller ${controller} (${caps.cgroupProblem ?? caps.cgroups?.problems.join('; ') ?? 'unavailable'})`,
      );
    }
  }
  if (missing.length === 0) return false;
  const why = `missing ${missing.join(', ')}`;
  if (required) throw new Error(`${why}; CI requires bubblewrap and cgroups`);
  process.stderr.write(`# skipping local runtime test: ${why}\n`);
  return why;
}

function spec(dataDir: string, executionId: string, more: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    executionId,
    workflowId: 'wf_runtime',
    limits: {},
    network: 'none',
    hostWorkspace: path.join(dataDir, 'workspaces', executionId),
    ...more,
  };
}

/** Runs `script` with `sh -c` in the sandbox and collects its output. */
async function sh(
  sandbox: LocalSandbox,
  script: string,
): Promise<{ stdout: string; stderr: string; end: ProcessEnd }> {
  const proc = await sandbox.spawn(['/bin/sh', '-c', script], {
    cwd: sandbox.workspace,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: sandbox.workspace },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const end = await proc.exited;
  await new Promise((resolve) => setImmediate(resolve));
  return { stdout, stderr, end };
}

/** Host pids of live (non-zombie) processes whose command line contains `marker`. */
function hostPidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmdline.includes(marker) && state !== 'Z' && Number(entry) !== process.pid) {
        out.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Waits for host processes to appear or go: no event reports them. */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  await eventually(what, () => (cond() ? true : undefined), timeoutMs);
}

/**
 * A `sleep` whose command line is unique, so the host can find it even inside a pid namespace.
 * The script spells the number as arithmetic, so only the sleep (and a shell that expanded it
 * for a child) carries the marker, never the node's own shell.
 */
function markedSleep(): { marker: string; run: string; count: string } {
  const n = Math.floor(Math.random() * 1e9);
  const spelled = `$((999 + 1)).${n}`;
  return { marker: `1000.${n}`, run: `sleep ${spelled}`, count: `pgrep -fc "${spelled}"` };
}

function cgroupNumber(text: string | undefined, key: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '');
  assert.ok(match !== null, `no ${key} in ${JSON.stringify(text)}`);
  return Number(match[1]);
}

function readIn(dir: string | undefined, file: string): string {
  assert.ok(dir !== undefined, `no cgroup directory for ${file}`);
  return readFileSync(path.join(dir, file), 'utf8');
}

describe('resource limit parsing', () => {
  it('reads cpu, memory and pids quantities and refuses bad ones', () => {
    assert.equal(parseCpu('2'), 2);
    assert.equal(parseCpu('0.5'), 0.5);
    assert.equal(parseCpu('500m'), 0.5);
    assert.equal(parseCpu(1.5), 1.5);
    assert.equal(parseCpu(undefined), undefined);
    assert.equal(parseMemory('64Mi'), 64 * 1024 * 1024);
    assert.equal(parseMemory('1Gi'), 1024 ** 3);
    assert.equal(parseMemory('512M'), 512_000_000);
    assert.equal(parseMemory('1.5Ki'), 1536);
    assert.equal(parseMemory(4096), 4096);
    assert.equal(parseMemory('4096'), 4096);
    assert.equal(parseMemory(null), undefined);
    assert.equal(parsePids(32), 32);
    assert.equal(parsePids('64'), 64);
    for (const bad of ['', 'two', '-1', '0', '1.5.0', '2 cpus', '0.0001']) {
      assert.throws(() => parseCpu(bad), QuantityError, `cpu ${bad}`);
    }
    // A lowercase m on memory is milli (Kubernetes) or mega (Docker): refused, not guessed.
    for (const bad of ['512m', '1g', '64MB', 'lots', '0', '-5Mi', {}]) {
      assert.throws(() => parseMemory(bad), QuantityError, `memory ${JSON.stringify(bad)}`);
    }
    for (const bad of ['1.5', '0', 'x', -3]) {
      assert.throws(() => parsePids(bad), QuantityError, `pids ${bad}`);
    }
  });
});

describe('local runtime: plain processes', () => {
  it('lists the limits it cannot enforce and bounds memory per process with prlimit', async () => {
    const runtime = createLocalRuntime({ dataDir: scratch, isolation: 'plain', cgroups: 'off' });
    assert.equal(runtime.name, 'local');
    assert.equal(await runtime.available(), true);
    const sandbox = await runtime.create(
      spec(scratch, 'exec_plain', { limits: { cpu: 0.5, memoryBytes: 64 * 2 ** 20, pids: 32 } }),
    );
    try {
      assert.equal(sandbox.workspace, sandbox.hostWorkspace);
      assert.ok(sandbox.unenforced.includes('isolation'));
      // As root, plain processes still get their own pid, mount and net namespaces and user.
      const asRoot = process.getuid?.() === 0 && caps.unshare !== undefined;
      assert.equal(sandbox.unenforced.includes('network'), !asRoot);
      assert.equal(sandbox.unenforced.includes('identity'), !asRoot);
      assert.ok(sandbox.unenforced.includes('cpu'));
      if (caps.prlimit === undefined) {
        assert.ok(sandbox.unenforced.includes('memory'));
        return;
      }
      assert.ok(!sandbox.unenforced.includes('memory'), sandbox.unenforced.join(','));
      assert.equal(sandbox.isolation, asRoot ? 'plain+namespaces+prlimit' : 'plain+prlimit');
      // RLIMIT_NPROC binds the execution's own uid (or a non-root server's user), never root.
      assert.equal(sandbox.unenforced.includes('pids'), false);
      // An allocation beyond the address-space limit fails inside the program: no OOM kill.
      const { stdout } = await sh(sandbox, 'ulimit -v');
      assert.equal(stdout.trim(), String(64 * 1024));
    } finally {
      await sandbox.destroy();
    }
  });

  it('reports a failed allocation under prlimit as an exit, not as an OOM kill', async (t) => {
    if (caps.prlimit === undefined) return t.skip('prlimit is not installed');
    const fixture = await createExecFixture(command('head -c 200m /dev/zero | tail'), {
      limits: { memoryBytes: 64 * 2 ** 20 },
    });
    try {
      assert.match(fixture.sandbox.isolation, /^plain(\+namespaces)?\+prlimit$/);
      const error = failed(await fixture.run());
      assert.equal(error.code, 'ERR_NODE_EXIT');
    } finally {
      await fixture.dispose();
    }
  });
});

describe('local runtime: bubblewrap', { skip: needs({ bwrap: true }) }, () => {
  it('mounts the host read-only and the workspace writable at /workspace, with paths as seen inside', async () => {
    const fixture = await createExecFixture(
      command(
        [
          'touch /usr/switchyard-probe 2>/dev/null && echo usr-writable || echo usr-read-only',
          'touch /switchyard-probe 2>/dev/null && echo root-writable || echo root-read-only',
          'echo from-inside > /workspace/made-inside',
          'mkdir -p sub && cd sub && pwd && cd ..',
          'echo "pwd=$(pwd) home=$HOME ws=$SWITCHYARD_WORKSPACE"',
          'echo "out=$SWITCHYARD_OUTPUT" | sed "s/output-.*/output-X/"',
          'echo "answer=42" >> "$SWITCHYARD_OUTPUT"',
          'touch /tmp/scratch && echo tmp-writable',
        ].join('\n'),
      ),
      { isolation: 'bwrap' },
    );
    try {
      assert.equal(fixture.sandbox.workspace, '/workspace');
      assert.match(fixture.sandbox.isolation, /^bwrap/);
      assert.ok(!fixture.sandbox.unenforced.includes('isolation'));
      assert.deepEqual(succeeded(await fixture.run()), { answer: '42', exitCode: 0 });
      assert.deepEqual(fixture.text('stdout'), [
        'usr-read-only',
        'root-read-only',
        '/workspace/sub',
        'pwd=/workspace home=/workspace ws=/workspace',
        'out=/workspace/.switchyard/output-X',
        'tmp-writable',
      ]);
      assert.equal(
        await readFile(path.join(fixture.workspace, 'made-inside'), 'utf8'),
        'from-inside\n',
      );
      assert.equal(existsSync('/usr/switchyard-probe'), false);
    } finally {
      await fixture.dispose();
    }
  });

  it('runs in workingDir inside the sandbox', async () => {
    const fixture = await createExecFixture(command('pwd', { workingDir: 'a/b' }), {
      isolation: 'bwrap',
    });
    try {
      await mkdir(path.join(fixture.workspace, 'a/b'), { recursive: true });
      succeeded(await fixture.run());
      assert.deepEqual(fixture.text('stdout'), ['/workspace/a/b']);
    } finally {
      await fixture.dispose();
    }
  });

  it('has no network but loopback with network none, and the host network with network host', async () => {
    const runtime = createLocalRuntime({ dataDir: scratch, isolation: 'bwrap', cgroups: 'off' });
    const interfaces = "sed -n 's/^ *\\([^:]*\\):.*/\\1/p' /proc/net/dev | sort | tr '\\n' ' '";
    const none = await runtime.create(spec(scratch, 'exec_net_none'));
    const host = await runtime.create(spec(scratch, 'exec_net_host', { network: 'host' }));
    try {
      assert.equal((await sh(none, interfaces)).stdout.trim(), 'lo');
      const onHost = readFileSync('/proc/net/dev', 'utf8')
        .split('\n')
        .flatMap((line) => /^ *([^:]+):/.exec(line)?.[1] ?? [])
        .sort();
      assert.equal((await sh(host, interfaces)).stdout.trim(), onHost.join(' '));
    } finally {
      await none.destroy();
      await host.destroy();
    }
  });

  it('keeps two executions out of each other’s workspace and out of the data directory', async () => {
    // Outside /tmp on purpose: the sandbox's own /tmp would hide a data directory under it anyway.
    const dataDir = mkdtempSync('/var/tmp/sy-isolation-');
    try {
      await writeFile(path.join(dataDir, 'switchyard.db'), 'server data');
      const isolated = createLocalRuntime({ dataDir, isolation: 'bwrap', cgroups: 'off' });
      const a = await isolated.create(spec(dataDir, 'exec_a'));
      const b = await isolated.create(spec(dataDir, 'exec_b'));
      try {
        await writeFile(path.join(b.hostWorkspace, 'secret'), 'b-only');
        const probe = [
          `cat ${b.hostWorkspace}/secret 2>/dev/null || echo cannot-read-b`,
          `ls -A ${path.dirname(b.hostWorkspace)} | wc -l`,
          `ls -A ${dataDir} | wc -l`,
          'ls -A /workspace | wc -l',
        ].join('\n');
        assert.deepEqual(
          (await sh(a, probe)).stdout
            .trim()
            .split('\n')
            .map((l) => l.trim()),
          ['cannot-read-b', '0', '0', '0'],
        );
        assert.equal((await sh(b, 'cat /workspace/secret')).stdout, 'b-only');

        // Plain processes of a root server cannot read it either (their own uid; the data
        // directory's top-level directory is hidden), while the server itself can: the file is there.
        const plain = createLocalRuntime({ dataDir, isolation: 'plain', cgroups: 'off' });
        const c = await plain.create(spec(dataDir, 'exec_c'));
        const seen = (
          await sh(c, `cat ${b.hostWorkspace}/secret 2>/dev/null || echo cannot-read-b`)
        ).stdout;
        if (process.getuid?.() === 0) assert.equal(seen.trim(), 'cannot-read-b');
        assert.equal(readFileSync(path.join(b.hostWorkspace, 'secret'), 'utf8'), 'b-only');
        await c.destroy();
      } finally {
        await a.destroy();
        await b.destroy();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('in a shared sandbox shows each execution only its own directory, as its own uid', async () => {
    const root = createLocalRuntime({ dataDir: scratch, isolation: 'bwrap', cgroups: 'off' });
    const shared = await root.create(spec(scratch, 'shared-local-0', { shared: true }));
    try {
      const run = async (execution: string, script: string) => {
        const cwd = `/workspace/${execution}`;
        mkdirSync(path.join(shared.hostWorkspace, execution), { recursive: true });
        const proc = await shared.spawn(['/bin/sh', '-c', script], {
          cwd,
          env: { PATH: '/usr/bin:/bin' },
          execution,
        });
        let out = '';
        proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
        await proc.exited;
        await new Promise((resolve) => setImmediate(resolve));
        return out.trim();
      };
      await run('exec_one', 'echo mine > secret.txt');
      assert.equal(
        readFileSync(path.join(shared.hostWorkspace, 'exec_one', 'secret.txt'), 'utf8'),
        'mine\n',
      );
      const seen = await run(
        'exec_two',
        'ls -A /workspace | tr "\\n" " "; cat /workspace/exec_one/secret.txt 2>/dev/null || echo refused',
      );
      assert.equal(seen, 'exec_two refused');
      if (process.getuid?.() === 0) {
        const one = await run('exec_one', 'id -u');
        const two = await run('exec_two', 'id -u');
        assert.notEqual(one, two);
        assert.notEqual(one, '0');
      }
    } finally {
      await shared.destroy();
    }
  });

  it('binds the configured read-only paths, lists them, and makes their parents traversable', async () => {
    // Under /var/tmp: /var is not in the minimal root, so bubblewrap makes /var and /var/tmp.
    const extra = mkdtempSync('/var/tmp/sy-ro-');
    // Under /tmp (a checkout there): the sandbox's /tmp is an empty tmpfs, so its parents are made.
    const tmpParent = mkdtempSync('/tmp/sy-ro-');
    const inTmp = path.join(tmpParent, 'lib');
    try {
      mkdirSync(inTmp);
      for (const dir of [extra, inTmp]) {
        writeFileSync(path.join(dir, 'tool.txt'), 'shared tool');
        chmodSync(dir, 0o755);
      }
      const runtime = createLocalRuntime({
        dataDir: scratch,
        isolation: 'bwrap',
        cgroups: 'off',
        readOnlyPaths: [extra, inTmp],
      });
      const sandbox = await runtime.create(spec(scratch, 'exec_ro'));
      try {
        assert.deepEqual(sandbox.readOnlyPaths, [extra, inTmp]);
        const { stdout } = await sh(
          sandbox,
          `id -u; stat -c %a /var /var/tmp ${tmpParent}; cat ${extra}/tool.txt; echo; cat ${inTmp}/tool.txt; echo; touch ${extra}/x 2>/dev/null && echo writable || echo read-only`,
        );
        const [uid, varMode, tmpMode, tmpParentMode, tool, toolInTmp, writable] = stdout
          .trim()
          .split('\n');
        if (process.getuid?.() === 0) assert.notEqual(uid, '0', 'runs as the sandbox user');
        assert.equal(varMode, '755');
        assert.equal(tmpMode, '755');
        assert.equal(tmpParentMode, '755');
        assert.equal(tool, 'shared tool');
        assert.equal(toolInTmp, 'shared tool');
        assert.equal(writable, 'read-only');
      } finally {
        await sandbox.destroy();
      }
    } finally {
      rmSync(extra, { recursive: true, force: true });
      rmSync(tmpParent, { recursive: true, force: true });
    }
  });

  it('on cancel kills grandchildren inside the pid namespace (SIGKILL for those ignoring SIGTERM)', async () => {
    const { marker, run, count } = markedSleep();
    const fixture = await createExecFixture(
      command(
        [
          "trap '' TERM",
          `sh -c "trap '' TERM; ${run}" &`,
          `sh -c '${run}' &`,
          `while [ "$(${count})" -lt 2 ]; do sleep 0.01; done`,
          'echo ready',
          'wait',
        ].join('\n'),
      ),
      { isolation: 'bwrap', killGraceMs: 200 },
    );
    try {
      void fixture
        .waitForLine((l) => l.line === 'ready')
        .then(() => {
          assert.ok(hostPidsWith(marker).length >= 2, 'the grandchildren run before the cancel');
          fixture.controller.abort('cancelled');
        });
      const error = failed(await fixture.run());
      assert.equal(error.code, 'ERR_CANCELLED');
      await until(() => hostPidsWith(marker).length === 0, 'the grandchildren to be gone', 2000);
    } finally {
      await fixture.dispose();
    }
  });
});

describe('local runtime: what a command leaves running', () => {
  const modes = [
    { isolation: 'none', cgroups: 'off', skip: false },
    { isolation: 'plain', cgroups: 'off', skip: false },
    { isolation: 'plain', cgroups: 'auto', skip: needs({ cgroups: ['pids'] }) },
    { isolation: 'bwrap', cgroups: 'off', skip: needs({ bwrap: true }) },
    { isolation: 'bwrap', cgroups: 'auto', skip: needs({ bwrap: true, cgroups: ['pids'] }) },
  ] as const;
  const stoppingLine = /stopping background processes left running by the command/;

  for (const mode of modes) {
    const name = `${mode.isolation}${mode.cgroups === 'auto' ? '+cgroups' : ''}`;

    it(
      `${name}: a command that started nothing in the background logs no stopping line`,
      {
        skip: mode.skip,
      },
      async () => {
        // The false report came from a race (the namespace's init still exiting as the check
        // ran, about one run in two under bwrap with cgroups): several runs make it show.
        for (let i = 0; i < 6; i++) {
          const fixture = await createExecFixture(command('sleep 0.2; echo d'), {
            isolation: mode.isolation,
            cgroups: mode.cgroups,
          });
          try {
            succeeded(await fixture.run());
            assert.deepEqual(fixture.text('stdout'), ['d']);
            assert.doesNotMatch(fixture.text('system').join('\n'), stoppingLine, `run ${i + 1}`);
          } finally {
            await fixture.dispose();
          }
        }
      },
    );

    it(
      `${name}: a background sleep left running is logged and stopped`,
      {
        skip: mode.skip,
      },
      async () => {
        const { marker, run } = markedSleep();
        const fixture = await createExecFixture(command(`${run} >/dev/null 2>&1 &\necho d`), {
          isolation: mode.isolation,
          cgroups: mode.cgroups,
          killGraceMs: 200,
        });
        try {
          succeeded(await fixture.run());
          // In a pid namespace (bwrap, or plain as root) the kernel kills what is left when the
          // namespace's init exits with the command, so the runtime may find nothing to stop;
          // without one, the process group outlives the command and only the runtime stops it.
          if (!/^bwrap|namespaces/.test(fixture.sandbox.isolation)) {
            assert.match(fixture.text('system').join('\n'), stoppingLine);
          }
          // SIGKILLed processes may take a moment to leave /proc; the sleep itself would run 1000s.
          await until(() => hostPidsWith(marker).length === 0, 'the background sleep to be gone');
        } finally {
          await fixture.dispose();
        }
      },
    );
  }
});

describe('local runtime: cgroups', { skip: needs({ cgroups: ['memory', 'cpu', 'pids'] }) }, () => {
  it('reports a memory hog under memory: 64Mi as ERR_NODE_OOM and removes the cgroups', async () => {
    const fixture = await createExecFixture(command('head -c 200m /dev/zero | tail'), {
      isolation: caps.bwrap === undefined ? 'plain' : 'bwrap',
      cgroups: 'auto',
      limits: { memoryBytes: parseMemory('64Mi')! },
    });
    const dirs = Object.values(fixture.sandbox.cgroupDirs);
    try {
      assert.match(fixture.sandbox.isolation, /cgroup-v[12]/);
      assert.ok(!fixture.sandbox.unenforced.includes('memory'));
      const error = failed(await fixture.run());
      assert.equal(error.code, 'ERR_NODE_OOM', JSON.stringify(error));
      assert.equal(error.retryable, false);
      assert.ok(dirs.length > 0 && dirs.every((dir) => existsSync(dir)));
    } finally {
      await fixture.dispose();
    }
    assert.deepEqual(
      dirs.filter((dir) => existsSync(dir)),
      [],
      'destroy removes the cgroups',
    );
  });

  it('throttles a busy loop to cpu: 0.2 (by the cgroup’s own accounting)', async () => {
    const runtime = createLocalRuntime({ dataDir: scratch, isolation: 'plain', cgroups: 'auto' });
    const sandbox = await runtime.create(spec(scratch, 'exec_cpu', { limits: { cpu: 0.2 } }));
    try {
      assert.ok(!sandbox.unenforced.includes('cpu'));
      const { end } = await sh(sandbox, 'timeout 1.5 sh -c "while :; do :; done"; true');
      assert.deepEqual(end, { code: 0, signal: null });
      const dirs = sandbox.cgroupDirs;
      const stat = readIn(dirs.cpu, 'cpu.stat');
      const periods = cgroupNumber(stat, 'nr_periods');
      assert.ok(cgroupNumber(stat, 'nr_throttled') > 0, stat);
      // CPU time used: at most the quota (20 ms per 100 ms period) over the periods that ran.
      const usedUs =
        caps.cgroups!.version === 2
          ? cgroupNumber(stat, 'usage_usec')
          : Number(readIn(dirs.cpuacct, 'cpuacct.usage')) / 1000;
      assert.ok(usedUs > 0);
      assert.ok(
        usedUs <= (periods + 1) * 20_000 * 1.1,
        `used ${usedUs} µs over ${periods} periods`,
      );
    } finally {
      await sandbox.destroy();
    }
  });

  it('stops a fork bomb with pids: 32; the node fails and the tree is gone', async () => {
    // Every fork carries the script, so the marker in its comment finds them all on the host.
    const marker = `fork-bomb-${Math.floor(Math.random() * 1e9)}`;
    const fixture = await createExecFixture(command(`# ${marker}\nbomb() { bomb | bomb; }; bomb`), {
      cgroups: 'auto',
      limits: { pids: 32 },
      timeoutMs: 3000,
      killGraceMs: 100,
    });
    const pidsDir = fixture.sandbox.cgroupDirs.pids;
    try {
      assert.ok(!fixture.sandbox.unenforced.includes('pids'));
      const error = failed(await fixture.run());
      assert.ok(['ERR_NODE_TIMEOUT', 'ERR_NODE_EXIT'].includes(error.code), JSON.stringify(error));
      // The kernel refused forks at the limit, and nothing of the bomb runs any more (zombies
      // may wait for a container init that does not reap, so pids.current is no measure).
      assert.equal(readIn(pidsDir, 'pids.max').trim(), '32');
      assert.match(
        fixture.text('stderr').join('\n'),
        /Cannot fork|Resource temporarily unavailable/,
      );
      assert.deepEqual(hostPidsWith(marker), []);
    } finally {
      await fixture.dispose();
    }
  });

  it('on timeout kills the whole tree, including grandchildren that ignore SIGTERM or leave the group', async () => {
    const { marker, run, count } = markedSleep();
    const fixture = await createExecFixture(
      command(
        [
          "trap '' TERM",
          `sh -c "trap '' TERM; ${run}" &`,
          // setsid leaves the process group: only the cgroup (or pid namespace) still holds it.
          `setsid sh -c '${run}' > /dev/null 2>&1 &`,
          `while [ "$(${count})" -lt 2 ]; do sleep 0.01; done`,
          'echo ready',
          'wait',
        ].join('\n'),
      ),
      { cgroups: 'auto', timeoutMs: 1500, killGraceMs: 200 },
    );
    try {
      const error = failed(await fixture.run());
      assert.equal(error.code, 'ERR_NODE_TIMEOUT');
      assert.deepEqual(fixture.text('stdout'), ['ready']);
      assert.deepEqual(hostPidsWith(marker), []);
    } finally {
      await fixture.dispose();
    }
  });

  it(
    'on cancel kills grandchildren in bubblewrap with cgroups',
    { skip: needs({ bwrap: true }) },
    async () => {
      const { marker, run } = markedSleep();
      const fixture = await createExecFixture(command(`${run} &\n${run} &\necho ready\nwait`), {
        isolation: 'bwrap',
        cgroups: 'auto',
        killGraceMs: 200,
      });
      try {
        assert.match(fixture.sandbox.isolation, /^bwrap\+cgroup-v[12]$/);
        void fixture
          .waitForLine((l) => l.line === 'ready')
          .then(() => until(() => hostPidsWith(marker).length === 2, 'both sleeps'))
          .then(() => fixture.controller.abort('cancelled'));
        const error = failed(await fixture.run());
        assert.equal(error.code, 'ERR_CANCELLED');
        assert.deepEqual(hostPidsWith(marker), []);
      } finally {
        await fixture.dispose();
      }
    },
  );

  it('reaps the cgroups of executions that are no longer alive', async () => {
    const runtime = createLocalRuntime({ dataDir: scratch, isolation: 'plain', cgroups: 'auto' });
    const { marker, run } = markedSleep();
    const stale = await runtime.create(spec(scratch, 'exec_stale_1', { limits: { pids: 8 } }));
    const live = await runtime.create(spec(scratch, 'exec_live_1', { limits: { pids: 8 } }));
    try {
      // A process a crashed server left behind, still in the stale execution's cgroup.
      const proc = await stale.spawn(['/bin/sh', '-c', `setsid ${run} & wait`], {
        cwd: stale.workspace,
        env: { PATH: '/usr/bin:/bin' },
      });
      await until(() => hostPidsWith(marker).length === 1, 'the leftover to start');
      // Only the stale one is declared dead: other executions' cgroups on this host stay.
      const removed = await runtime.reap((id) => Promise.resolve(id !== 'exec_stale_1'));
      assert.ok(removed.includes('exec_stale_1'), removed.join(','));
      assert.ok(!removed.includes('exec_live_1'));
      await proc.exited;
      assert.deepEqual(hostPidsWith(marker), []);
      for (const dir of Object.values(stale.cgroupDirs)) assert.equal(existsSync(dir), false, dir);
      for (const dir of Object.values(live.cgroupDirs)) assert.equal(existsSync(dir), true, dir);
    } finally {
      await stale.destroy();
      await live.destroy();
    }
  });
});
