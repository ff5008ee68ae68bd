/**
 * The package as `npm pack` makes it: the compiled dist/ and the bins, no sources, and its files
 * alone run `switchyard serve` and `yard --version` from a directory outside the clone. Tests
 * talk to loopback only, so the tarball is unpacked rather than installed from the registry:
 * its dependencies are the clone's own `node_modules`, linked beside the unpacked files (what
 * `npm install -g ./switchyard-*.tgz` would fetch; the README shows that install).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { ensureBuilt, repoRoot } from '../helpers/build.ts';
import { exited, listening, portClosed } from '../helpers/process.ts';
import { type YardResult, collect } from '../helpers/yard.ts';

const version = (
  JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;

/** The caller's environment without the npm_* variables `npm test` sets for its scripts. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of Object.keys(env)) if (key.toLowerCase().startsWith('npm_')) delete env[key];
  return env;
}

function run(cmd: string, args: string[], cwd: string): Promise<YardResult> {
  return collect(spawn(cmd, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
}

function ok(r: YardResult, what: string): YardResult {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

let dir: string;
let installed: string;

describe('npm pack', { timeout: 300_000 }, () => {
  before(async () => {
    ensureBuilt();
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-pack-'));
    const packed = ok(
      await run('npm', ['pack', '--pack-destination', dir, '--json'], repoRoot),
      'npm pack',
    );
    const [{ filename, files }] = JSON.parse(packed.stdout) as [
      { filename: string; files: { path: string }[] },
    ];
    const paths = files.map((f) => f.path);
    assert.ok(paths.includes('dist/main.js') && paths.includes('dist/cli/main.js'), 'dist/');
    assert.ok(paths.includes('bin/switchyard.js') && paths.includes('bin/yard.js'), 'bin/');
    assert.ok(!paths.some((p) => p.startsWith('src/') || p.startsWith('test/')), 'no sources');
    installed = path.join(dir, 'unpacked');
    mkdirSync(installed);
    ok(
      await run(
        'tar',
        ['-xzf', path.join(dir, filename), '-C', installed, '--strip-components=1'],
        dir,
      ),
      'tar',
    );
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(installed, 'node_modules'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the compiled code and the bins, not the sources', () => {
    assert.ok(existsSync(path.join(installed, 'dist/main.js')));
    assert.ok(!existsSync(path.join(installed, 'src')));
    assert.ok(!existsSync(path.join(installed, 'test')));
  });

  it('yard --version works from any directory', async () => {
    const r = ok(
      await run(path.join(installed, 'bin/yard.js'), ['--version'], dir),
      'yard --version',
    );
    assert.equal(r.stdout.trim(), version);
  });

  it('switchyard serve starts, answers /healthz and stops on SIGTERM', async () => {
    const child = spawn(
      path.join(installed, 'bin/switchyard.js'),
      ['serve', '--port', '0', '--data-dir', path.join(dir, 'data')],
      {
        cwd: dir,
        env: cleanEnv({
          SWITCHYARD_ADMIN_TOKEN: '',
          DATABASE_URL: '',
          SWITCHYARD_HOST: '127.0.0.1',
          SWITCHYARD_LOG_LEVEL: 'warn',
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const url = await listening(child, 'switchyard serve');
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0);
      assert.ok(await portClosed(url), 'the port is closed');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
