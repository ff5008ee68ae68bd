/**
 * The built package as a user runs it: `switchyard serve|migrate` and `yard` from the compiled
 * bins (bin/*.js → dist/), from a directory outside the repository, and `npm start`, which a
 * service manager stops with SIGTERM to the npm process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { ensureBuilt, repoRoot, switchyardBin, yardBin } from '../helpers/build.ts';
import { eventually } from '../helpers/eventually.ts';
import { exited, listening, portClosed } from '../helpers/process.ts';
import { collect } from '../helpers/yard.ts';
import { isProcessAlive, processAndDescendants } from '../../src/runtime/process-tree.ts';

const version = (
  JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

/** The environment of a spawned server: loopback, no token or database from the caller. */
const serverEnv = {
  ...process.env,
  SWITCHYARD_ADMIN_TOKEN: '',
  DATABASE_URL: '',
  SWITCHYARD_HOST: '127.0.0.1',
  SWITCHYARD_LOG_LEVEL: 'warn',
};

let dir: string;
before(() => {
  ensureBuilt();
  dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bins-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run build', () => {
  it('compiles every source file, migrations included, to dist/', () => {
    for (const file of [
      'main.js',
      'cli/main.js',
      'server.js',
      'store/migrations/0001-foundation.js',
    ])
      assert.ok(existsSync(path.join(repoRoot, 'dist', file)), `dist/${file}`);
  });
});

describe('the compiled bins, outside the repository', () => {
  it('yard --version prints the package version', async () => {
    const r = await collect(
      spawn(process.execPath, [yardBin, '--version'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
    assert.equal(r.stderr, '');
  });

  it('switchyard --version and a usage error for an unknown command', async () => {
    const v = await collect(
      spawn(process.execPath, [switchyardBin, '--version'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), version);
    const bad = await collect(
      spawn(process.execPath, [switchyardBin, 'servr'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command 'servr'/);
    assert.match(bad.stderr, /switchyard migrate/);
  });

  it('serve --help and migrate -h print every flag and start nothing', async () => {
    for (const [bin, args] of [
      [switchyardBin, ['serve', '--help']],
      [switchyardBin, ['--port', '0', '--help']],
      [switchyardBin, ['migrate', '-h']],
      [yardBin, ['serve', '--help']],
    ] as const) {
      const r = await collect(
        spawn(process.execPath, [bin, ...args, '--data-dir', path.join(dir, 'data-help')], {
          cwd: dir,
          env: serverEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      const what = `${path.basename(bin)} ${args.join(' ')}`;
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: switchyard (serve|migrate) \[flags\]/, what);
      assert.match(r.stdout, /--port\s+SWITCHYARD_PORT, PORT\s+3000\n/, what);
      assert.match(r.stdout, /--data-dir\s+SWITCHYARD_DATA_DIR\s+\.\/data\n/, what);
      assert.equal(r.stderr, '', what);
    }
    assert.ok(!existsSync(path.join(dir, 'data-help')), 'no data directory was made');
  });

  it('switchyard migrate creates the database; switchyard serve serves it and stops on SIGTERM', async () => {
    const dataDir = path.join(dir, 'data-bin');
    const m = await collect(
      spawn(process.execPath, [switchyardBin, 'migrate', '--data-dir', dataDir], {
        cwd: dir,
        env: serverEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /migrations applied/);
    assert.ok(existsSync(path.join(dataDir, 'switchyard.db')));

    const child = spawn(
      process.execPath,
      [switchyardBin, 'serve', '--port', '0', '--data-dir', dataDir],
      {
        cwd: dir,
        env: serverEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const url = await listening(child, 'switchyard serve');
      const res = await fetch(`${url}/healthz`);
      assert.equal(res.status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0);
      assert.ok(await portClosed(url), 'the port is closed');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('npm start', { timeout: 180_000 }, () => {
  it('serves the built server in the npm process tree, and SIGTERM to npm stops it cleanly', async () => {
    const dataDir = path.join(dir, 'data-npm-start');
    const npm = spawn('npm', ['start', '--', '--port', '0', '--data-dir', dataDir], {
      cwd: repoRoot,
      // info: the server logs its signal when it starts to drain.
      env: { ...serverEnv, SWITCHYARD_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let all = '';
    npm.stdout.on('data', (d: Buffer) => (all += d.toString()));
    npm.stderr.on('data', (d: Buffer) => (all += d.toString()));
    const output = () => all;
    let tree: number[] = [];
    try {
      const url = await listening(npm, 'npm start');
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      tree = processAndDescendants(npm.pid!);
      assert.ok(tree.length >= 2, `npm and the server: ${tree.join(' ')}`);

      // What a service manager does: SIGTERM to the process it started, nothing else.
      npm.kill('SIGTERM');
      await exited(npm);
      // npm ends by the signal it was sent once its script has ended (as systemd expects of a
      // clean stop), or with the script's code, which is 0 for a clean stop.
      assert.ok(
        npm.signalCode === 'SIGTERM' || npm.exitCode === 0,
        `npm ended with ${npm.exitCode ?? npm.signalCode}:\n${output()}`,
      );
      assert.match(output(), /"signal":"SIGTERM","msg":"shutting down"/, 'the server drained');
      assert.doesNotMatch(output(), /shutdown failed/);
      await eventually('the port to close', async () =>
        (await portClosed(url)) ? true : undefined,
      );
      await eventually('every process under npm to end', () =>
        tree.every((pid) => !isProcessAlive(pid)) ? true : undefined,
      );
    } finally {
      for (const pid of [...tree, ...processAndDescendants(npm.pid!)].reverse()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  });
});
