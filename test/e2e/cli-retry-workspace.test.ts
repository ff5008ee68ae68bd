/**
 * `yard executions retry` and the workspace (docs/runtimes.md "Workspace lifecycle"), through the
 * `yard` CLI against a real server process: a retry of a failed execution re-runs the failed node
 * in the workspace the succeeded nodes wrote; `--fresh` runs every node again in an empty one;
 * once the workspace expired a plain retry is refused with ERR_WORKSPACE_EXPIRED and a hint to
 * use `--fresh`. And the README's first steps with the CLI, run as written there.
 */
/* eslint-disable @typescript-eslint/no-explicit-any --
   the tests read --json output loosely */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/build.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';
import { type Yard, expectExit, yardFor } from '../helpers/yard.ts';

const token = `sy_${'r'.repeat(40)}`;

let server: ServerProcess;
let dir: string;
let yard: Yard;

/**
 * `make` writes kept.txt and refuses a workspace that has it already; `check` needs kept.txt and
 * fails the first time it runs in a workspace (it leaves `marker`), succeeds the second.
 */
const workflow = (name: string, runtimeConfig: string) => `name: ${name}
type: automation
runtime_config: ${runtimeConfig}
nodes:
  - id: make
    type: command
    run: 'if [ -e kept.txt ]; then echo "kept.txt is already here"; exit 4; fi; echo data > kept.txt'
  - id: check
    type: command
    needs: [make]
    run: 'test -e kept.txt || exit 5; test -e marker && exit 0; touch marker; exit 3'
`;

async function apply(name: string, runtimeConfig: string): Promise<void> {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, workflow(name, runtimeConfig));
  expectExit(await yard.run(['wf', 'apply', '-f', file, '--publish']), 0);
}

/** Runs the workflow to its failure: `make` succeeded, `check` failed once. */
async function failedRun(name: string): Promise<any> {
  const r = expectExit(await yard.run(['run', name, '--wait', '-q']), 1);
  assert.match(r.stdout, /execution exec_\S+ failed in /);
  const id = /execution (exec_\S+) failed/.exec(r.stdout)![1]!;
  const e = await yard.json(['ex', 'get', id]);
  assert.equal(nodeOf(e, 'make').status, 'succeeded');
  assert.equal(nodeOf(e, 'check').status, 'failed');
  assert.ok(existsSync(workspaceOf(id)), 'the failed execution keeps its workspace');
  return e;
}

const nodeOf = (e: any, id: string): any => e.nodes.find((n: any) => n.nodeId === id);
const workspaceOf = (execId: string) => path.join(dir, 'data', 'workspaces', execId);

describe('yard CLI: the README’s first steps, executions retry and the workspace', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cli-retry-'));
    server = await startServer(['--data-dir', path.join(dir, 'data')], {
      SWITCHYARD_ADMIN_TOKEN: token,
      SWITCHYARD_LOCAL_ISOLATION: 'none',
      SWITCHYARD_RUNTIME: 'local',
    });
    yard = yardFor({ url: server.url, token, cwd: dir });
    await apply('keeps', '{ retention_hours: 24 }');
    // 0.0005 h = 1.8 s of retention.
    await apply('expires', '{ retention_hours: 0.0005 }');
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the README’s hello.yaml applies, runs with -p who=world and prints its greeting', async () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const yaml = /```yaml\n(name: hello\n[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(yaml, 'the README shows hello.yaml');
    writeFileSync(path.join(dir, 'hello.yaml'), yaml);
    expectExit(await yard.run(['wf', 'apply', '-f', 'hello.yaml', '--publish']), 0);
    const r = expectExit(await yard.run(['run', 'hello', '-p', 'who=world', '--follow']), 0);
    assert.match(r.stderr, /^\[greet\] hello, world$/m);
    assert.match(r.stdout, /execution exec_\S+ succeeded in /);
  });

  it('a retry re-runs the failed node in the kept workspace: it finds the files', async () => {
    const e = await failedRun('keeps');
    const r = expectExit(await yard.run(['ex', 'retry', e.id, '-w', e.workflowId, '--wait']), 0);
    assert.match(r.stdout, new RegExp(`execution ${e.id} succeeded in `));
    const after = await yard.json(['ex', 'get', e.id]);
    assert.equal(nodeOf(after, 'make').attempt, 1, 'make did not run again');
    assert.equal(nodeOf(after, 'check').attempt, 2);
  });

  it('--fresh runs every node again in an empty workspace', async () => {
    const e = await failedRun('keeps');
    const r = expectExit(await yard.run(['ex', 'retry', e.id, '--fresh', '--wait']), 1);
    assert.match(r.stdout, new RegExp(`execution ${e.id} failed in `));
    const after = await yard.json(['ex', 'get', e.id]);
    // make refuses a workspace with kept.txt; check fails again because its marker is gone.
    assert.equal(nodeOf(after, 'make').status, 'succeeded');
    assert.equal(nodeOf(after, 'make').attempt, 2);
    assert.equal(nodeOf(after, 'check').status, 'failed');
    assert.equal(nodeOf(after, 'check').attempt, 2);
    assert.equal(nodeOf(after, 'check').error.code, 'ERR_NODE_EXIT');
  });

  it('once the workspace expired, a plain retry is refused and says to use --fresh', async () => {
    const e = await failedRun('expires');
    // The retention is wall-clock time on the server: wait until it has passed.
    const expiresAt = Date.parse(e.endedAt) + 1800;
    await pause(Math.max(0, expiresAt - Date.now()) + 200);

    const refused = expectExit(await yard.run(['ex', 'retry', e.id, '-w', e.workflowId]), 1);
    assert.match(refused.stderr, /\(ERR_WORKSPACE_EXPIRED\)/);
    assert.match(
      refused.stderr,
      new RegExp(`yard executions retry ${e.id} -w ${e.workflowId} --fresh`),
      refused.stderr,
    );
    assert.equal((await yard.json(['ex', 'get', e.id])).status, 'failed', 'nothing was retried');

    const fresh = expectExit(
      await yard.run(['ex', 'retry', e.id, '-w', e.workflowId, '--fresh', '--wait']),
      1,
    );
    assert.match(fresh.stdout, new RegExp(`execution ${e.id} failed in `));
    const after = await yard.json(['ex', 'get', e.id]);
    assert.equal(nodeOf(after, 'make').status, 'succeeded', 'make found no kept.txt');
    assert.equal(nodeOf(after, 'make').attempt, 2);
    assert.equal(nodeOf(after, 'check').attempt, 2);
    assert.equal(nodeOf(after, 'check').error.code, 'ERR_NODE_EXIT');
  });
});
