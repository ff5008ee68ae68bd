import assert from 'node:assert/strict';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createExecFixture, runNode, command, failed, succeeded } from '../helpers/exec-context.ts';

/**
 * True when the process is gone or a zombie (dead, waiting for a reaper: some container inits
 * never reap orphans, so `kill -0` alone would still see it).
 */
async function isGone(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function readPid(file: string): Promise<number> {
  const pid = Number((await readFile(file, 'utf8')).trim());
  assert.ok(Number.isInteger(pid) && pid > 1, `bad pid in ${file}`);
  return pid;
}

describe('command executor', () => {
  it('logs stdout and returns key=value and multi-line outputs plus exitCode', async () => {
    const { result, fixture } = await runNode(
      command(
        [
          'echo hello',
          'echo "greeting=hi there" >> "$SWITCHYARD_OUTPUT"',
          'echo "url=http://x/?a=b" >> "$SWITCHYARD_OUTPUT"',
          'printf \'notes<<EOF\\nline one\\n\\nline three\\nEOF\\n\' >> "$SWITCHYARD_OUTPUT"',
          'echo "bad-key=1" >> "$SWITCHYARD_OUTPUT"',
        ].join('\n'),
        { outputs: ['greeting', 'missing'] },
      ),
    );
    assert.deepEqual(succeeded(result), {
      greeting: 'hi there',
      url: 'http://x/?a=b',
      notes: 'line one\n\nline three',
      exitCode: 0,
    });
    assert.deepEqual(fixture.text('stdout'), ['hello']);
    const system = fixture.text('system').join('\n');
    assert.match(system, /ignored key "bad-key"/);
    assert.match(system, /declared output 'missing' was not written/);
    assert.equal(typeof result.usage?.runtimeSeconds, 'number');
  });

  it('passes context env, node env, HOME, SWITCHYARD_* and PATH, but not the server env', async () => {
    process.env.SY_TEST_SERVER_SECRET = 'do-not-leak';
    try {
      const { result, fixture } = await runNode(
        command(
          [
            'echo "ctx=$FROM_CTX node=$FROM_NODE both=$BOTH"',
            'echo "home=$HOME ws=$SWITCHYARD_WORKSPACE"',
            'echo "secret=${SY_TEST_SERVER_SECRET:-unset}"',
            'command -v ls >/dev/null && echo path-ok',
            'test -f "$SWITCHYARD_OUTPUT" && echo output-file-ok',
          ].join('\n'),
          { env: { FROM_NODE: 'n', BOTH: 'from-node' } },
        ),
        { env: { FROM_CTX: 'c', BOTH: 'from-ctx' } },
      );
      succeeded(result);
      const ws = fixture.workspace;
      assert.deepEqual(fixture.text('stdout'), [
        'ctx=c node=n both=from-node',
        `home=${ws} ws=${ws}`,
        'secret=unset',
        'path-ok',
        'output-file-ok',
      ]);
    } finally {
      delete process.env.SY_TEST_SERVER_SECRET;
    }
  });

  it('runs in workingDir and refuses directories outside the workspace', async () => {
    const fixture = await createExecFixture(command('pwd', { workingDir: 'sub/dir' }));
    try {
      await mkdir(path.join(fixture.workspace, 'sub/dir'), { recursive: true });
      succeeded(await fixture.run());
      assert.deepEqual(fixture.text('stdout'), [path.join(fixture.workspace, 'sub/dir')]);
    } finally {
      await fixture.dispose();
    }

    // An absolute path under /workspace (the documented root, whatever the runtime mounts the
    // workspace as) is the same directory.
    for (const workingDir of ['/workspace/sub/dir', '/workspace/sub/./dir/']) {
      const f = await createExecFixture(command('pwd', { workingDir }));
      try {
        await mkdir(path.join(f.workspace, 'sub/dir'), { recursive: true });
        succeeded(await f.run());
        assert.deepEqual(f.text('stdout'), [path.join(f.workspace, 'sub/dir')], workingDir);
      } finally {
        await f.dispose();
      }
    }

    for (const workingDir of ['..', '../elsewhere', 'a/../../b', '/tmp', '/workspace/../etc']) {
      const { result, fixture: f } = await runNode(command('echo should-not-run', { workingDir }));
      const error = failed(result);
      assert.equal(error.code, 'ERR_NODE_CONFIG', workingDir);
      assert.equal(error.retryable, false);
      assert.deepEqual(f.text('stdout'), []);
    }

    const viaLink = await createExecFixture(command('pwd', { workingDir: 'link' }));
    try {
      await symlink(path.dirname(viaLink.workspace), path.join(viaLink.workspace, 'link'));
      const error = failed(await viaLink.run());
      assert.equal(error.code, 'ERR_NODE_CONFIG');
      assert.match(error.message, /symlink/);
    } finally {
      await viaLink.dispose();
    }
  });

  it('fails a non-zero exit with the code and the last stderr line (no fatal:/error: line)', async () => {
    const { result } = await runNode(
      command(
        'echo "partial=yes" >> "$SWITCHYARD_OUTPUT"\necho first >&2\necho "boom: disk full" >&2\nexit 3',
      ),
    );
    const error = failed(result);
    assert.equal(error.code, 'ERR_NODE_EXIT');
    assert.equal(error.exitCode, 3);
    assert.equal(error.retryable, true);
    assert.match(error.message, /code 3: boom: disk full/);
    assert.deepEqual(result.outputs, { partial: 'yes', exitCode: 3 });
  });

  it('quotes the first fatal:/error: line of stderr rather than the last', async () => {
    const { result } = await runNode(
      command(
        [
          'echo "Cloning into \'src\'..." >&2',
          'echo "fatal: repository \'/srv/repos/app\' does not exist" >&2',
          "echo 'Please make sure you have the correct access rights' >&2",
          "echo 'and the repository exists.' >&2",
          'exit 128',
        ].join('\n'),
      ),
    );
    const error = failed(result);
    assert.equal(error.exitCode, 128);
    assert.equal(
      error.message,
      "exited with code 128: fatal: repository '/srv/repos/app' does not exist",
    );
  });

  it('stops at the first failing command (sh -e) and honours `shell`', async () => {
    const { result, fixture } = await runNode(command('false\necho unreachable'));
    assert.equal(failed(result).exitCode, 1);
    assert.deepEqual(fixture.text('stdout'), []);

    // Without pipefail a failing pipeline stage goes unnoticed; with it the node fails.
    succeeded((await runNode(command('false | true'))).result);
    const piped = await runNode(command('false | true', { shell: 'bash -e -o pipefail' }));
    assert.equal(failed(piped.result).code, 'ERR_NODE_EXIT');
  });

  it('reports a process killed by a signal it did not get from Switchyard', async () => {
    const { result } = await runNode(command('kill -KILL $$'));
    const error = failed(result);
    assert.equal(error.code, 'ERR_NODE_SIGNAL');
    assert.match(error.message, /SIGKILL/);
    assert.equal(error.exitCode, 137);
  });

  it('fails to spawn a missing shell, and refuses sidecar images on the local runtime', async () => {
    const spawnError = failed(
      (await runNode(command('true', { shell: '/nonexistent/sh' }))).result,
    );
    assert.equal(spawnError.code, 'ERR_NODE_SPAWN');
    assert.equal(spawnError.retryable, false);

    const image = failed((await runNode(command('true', { image: 'alpine:3' }))).result);
    assert.equal(image.code, 'ERR_NODE_UNSUPPORTED');
    assert.equal(image.retryable, false);
    assert.match(image.message, /alpine:3/);
  });

  it('on timeout kills the whole group, including a grandchild that ignores SIGTERM', async () => {
    const fixture = await createExecFixture(
      command(
        [
          "trap '' TERM",
          'echo $$ > shell.pid',
          "sh -c 'echo $$ > grandchild.pid; exec sleep 1000' &",
          'while [ ! -s grandchild.pid ]; do sleep 0.01; done',
          'echo ready',
          'wait',
        ].join('\n'),
      ),
      { timeoutMs: 2000, killGraceMs: 200 },
    );
    try {
      const result = await fixture.run();
      const error = failed(result);
      assert.equal(error.code, 'ERR_NODE_TIMEOUT');
      assert.equal(error.retryable, true);
      // The setup finished before the timeout, so SIGKILL (not SIGTERM) is what stopped them.
      assert.deepEqual(fixture.text('stdout'), ['ready']);
      assert.match(fixture.text('system').join('\n'), /timed out/);
      const grandchild = await readPid(path.join(fixture.workspace, 'grandchild.pid'));
      const shell = await readPid(path.join(fixture.workspace, 'shell.pid'));
      assert.equal(await isGone(grandchild), true, `grandchild ${grandchild} still runs`);
      assert.equal(await isGone(shell), true, `shell ${shell} still runs`);
    } finally {
      await fixture.dispose();
    }
  });

  it('on cancel kills the group (a background child holding stdout too)', async () => {
    const fixture = await createExecFixture(
      command('sleep 1000 &\necho $! > grandchild.pid\necho ready\nwait'),
    );
    try {
      void fixture
        .waitForLine((l) => l.line === 'ready')
        .then(() => fixture.controller.abort('cancelled'));
      const error = failed(await fixture.run());
      assert.equal(error.code, 'ERR_CANCELLED');
      assert.equal(error.retryable, false);
      const grandchild = await readPid(path.join(fixture.workspace, 'grandchild.pid'));
      assert.equal(await isGone(grandchild), true);
    } finally {
      await fixture.dispose();
    }
  });

  it('does not start when already cancelled', async () => {
    const fixture = await createExecFixture(command('echo ran'));
    try {
      fixture.controller.abort('shutdown');
      const error = failed(await fixture.run());
      assert.equal(error.code, 'ERR_CANCELLED');
      assert.match(error.message, /shutdown/);
      assert.deepEqual(fixture.text('stdout'), []);
    } finally {
      await fixture.dispose();
    }
  });

  it('stops background processes a succeeded command leaves behind', async () => {
    const fixture = await createExecFixture(
      command('sleep 1000 >/dev/null 2>&1 &\necho $! > leftover.pid'),
      { killGraceMs: 200 },
    );
    try {
      succeeded(await fixture.run());
      const leftover = await readPid(path.join(fixture.workspace, 'leftover.pid'));
      assert.equal(await isGone(leftover), true);
      assert.match(fixture.text('system').join('\n'), /background processes/);
    } finally {
      await fixture.dispose();
    }
  });

  it('splits output into lines: CRLF, partial last line, stderr, long lines capped', async () => {
    const { result, fixture } = await runNode(
      command(
        [
          "printf 'one\\r\\ntwo\\n'",
          "printf 'par'",
          'sleep 0.05',
          "printf 'tial\\n'",
          "printf 'to stderr\\n' >&2",
          "head -c 20000 /dev/zero | tr '\\0' x",
          'echo',
          "printf 'no newline at the end'",
        ].join('\n'),
      ),
    );
    succeeded(result);
    const stdout = fixture.text('stdout');
    assert.deepEqual(stdout.slice(0, 3), ['one', 'two', 'partial']);
    assert.equal(stdout[3]!.slice(0, 16 * 1024), 'x'.repeat(16 * 1024));
    assert.match(stdout[3]!, /… \[line truncated: 3616 more characters\]$/);
    assert.equal(stdout[4], 'no newline at the end');
    assert.equal(stdout.length, 5);
    assert.deepEqual(fixture.text('stderr'), ['to stderr']);
  });
});
