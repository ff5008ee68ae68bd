/**
 * The `yard` CLI end to end: each command runs as a child process (`node bin/yard.js …`) against
 * one real server process. Tests marked "needs the stream/logs routes" exercise the SSE routes;
 * until the server serves them they skip with a printed reason (and fail under CI=true).
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   the tests read the CLI's --json output loosely, as a script would */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { client } from '../helpers/http.ts';
import { openSecret, parseSecretsKey } from '../../src/secrets/crypto.ts';
import { type ServerProcess, startServer, testSecretsKey } from '../helpers/process.ts';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/yard.js');
const token = `sy_${'c'.repeat(40)}`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let server: ServerProcess;
let dir: string;
let baseEnv: Record<string, string>;

function spawnYard(args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  const merged: Record<string, string | undefined> = { ...process.env, ...baseEnv, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  return spawn(process.execPath, [bin, ...args], {
    cwd: dir,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(child: ChildProcess): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<Result>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
}

function yard(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  return collect(spawnYard(args, env));
}

async function yardJson<T = any>(args: string[]): Promise<T> {
  const r = await yard(['--json', ...args]);
  assert.equal(r.code, 0, `yard ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function ok(r: Result, code = 0): Result {
  assert.equal(
    r.code,
    code,
    `exit ${r.code}, expected ${code}:\n--stdout--\n${r.stdout}\n--stderr--\n${r.stderr}`,
  );
  return r;
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** The server's API, whose waits read the execution's event stream. */
const http = () => client(server.url, token);

/** Resolves with the first match of `re` in the child's output; rejects if it exits first. */
function outputMatch(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = re.exec(output);
      if (!m) return;
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      child.off('close', onClose);
      resolve(m);
    };
    const onClose = (code: number | null) =>
      reject(new Error(`exited ${code} before printing ${re}:\n${output}`));
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('close', onClose);
  });
}

/** Whether the server serves a route (404 ERR_NOT_FOUND means the route does not exist). */
async function routeServed(p: string): Promise<boolean> {
  const res = await fetch(`${server.url}${p}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    signal: AbortSignal.timeout(5000),
  }).catch(() => undefined);
  if (res === undefined) return true;
  const body = (await res.text().catch(() => '')) || '';
  return !(res.status === 404 && body.includes('"ERR_NOT_FOUND"'));
}

function needsRoute(served: boolean, what: string): string | false {
  if (served) return false;
  const reason = `needs the ${what} route, which this server does not serve yet`;
  if (process.env.CI === 'true') assert.fail(reason);
  process.stdout.write(`# skip: ${reason}\n`);
  return reason;
}

const wfYaml = (name: string, nodes: string) => `name: ${name}\ntype: automation\nnodes:\n${nodes}`;
const execId = (text: string) => {
  const m = /\b(exec_[A-Za-z0-9]+)\b/.exec(text);
  assert.ok(m, `no execution id in:\n${text}`);
  return m[1]!;
};

describe('yard CLI', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cli-'));
    server = await startServer(['--data-dir', path.join(dir, 'data')], {
      SWITCHYARD_ADMIN_TOKEN: token,
      SWITCHYARD_LOCAL_ISOLATION: 'none',
      SWITCHYARD_RUNTIME: 'local',
      // Never called: the validate test checks models and prices against them.
      SWITCHYARD_LLM_PROVIDERS: JSON.stringify({
        listed: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', models: ['m1', 'm2'] },
      }),
      SWITCHYARD_MODEL_PRICES: JSON.stringify({ m1: { prompt: 1, completion: 2 } }),
    });
    baseEnv = {
      YARD_URL: server.url,
      YARD_TOKEN: token,
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      HOME: dir,
    };
    // The workflows several tests run.
    await Promise.all([
      yard([
        'wf',
        'apply',
        '-f',
        file(
          'ok.yaml',
          wfYaml(
            'ok',
            '  - { id: a, type: command, run: "echo hello from a" }\n  - { id: b, type: noop, needs: [a] }\n',
          ),
        ),
      ]).then((r) => ok(r)),
      yard([
        'wf',
        'apply',
        '-f',
        file(
          'bad.yaml',
          wfYaml('bad', '  - { id: boom, type: command, run: "echo doomed >&2; exit 7" }\n'),
        ),
      ]).then((r) => ok(r)),
      yard([
        'wf',
        'apply',
        '-f',
        file(
          'sleeper.yaml',
          wfYaml('sleeper', '  - { id: nap, type: command, run: "sleep 30" }\n'),
        ),
      ]).then((r) => ok(r)),
    ]);
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 4 on usage errors and unreachable servers, 1 with the server message on a bad token', async () => {
    const [unknown, missing, badToken, down, noToken] = await Promise.all([
      yard(['frobnicate']),
      yard(['wf', 'apply']),
      yard(['wf', 'list'], { YARD_TOKEN: `sy_${'0'.repeat(40)}` }),
      yard(['wf', 'list'], { YARD_URL: 'http://127.0.0.1:9' }),
      yard(['wf', 'list'], { YARD_TOKEN: undefined }),
    ]);
    ok(unknown, 4);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    ok(missing, 4);
    assert.match(missing.stderr, /required option '-f, --file <file>'/);
    ok(badToken, 1);
    assert.match(badToken.stderr, /^error: .+\(ERR_AUTH_INVALID\)$/m);
    ok(down, 4);
    assert.match(down.stderr, /cannot reach the Switchyard server at http:\/\/127\.0\.0\.1:9/);
    ok(noToken, 4);
    assert.match(noToken.stderr, /no API token/);
  });

  it('login writes the config file 0600 and later commands use it', async () => {
    const env = {
      YARD_URL: undefined,
      YARD_TOKEN: undefined,
      XDG_CONFIG_HOME: path.join(dir, 'xdg'),
    };
    ok(await yard(['login', '--url', server.url, '--token', `sy_${'1'.repeat(40)}`], env), 1);
    const r = ok(await yard(['login', '--url', server.url, '--token', token], env));
    const cfg = path.join(dir, 'xdg', 'yard', 'config.json');
    assert.match(r.stdout, /logged in/);
    assert.equal(statSync(cfg).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(cfg, 'utf8')), { url: server.url, token });
    const list = ok(await yard(['--json', 'wf', 'list'], env));
    assert.ok(JSON.parse(list.stdout).items.some((w: any) => w.name === 'ok'));
    // A flag wins over the saved token.
    ok(await yard(['wf', 'list', '--token', `sy_${'2'.repeat(40)}`], env), 1);
  });

  it('validate prints every problem with its path and exits 1; a good file exits 0', async () => {
    const good = ok(
      await yard([
        'wf',
        'validate',
        '-f',
        path.join(root, 'test/fixtures/workflows/deploy-staging.yaml'),
      ]),
    );
    assert.match(good.stdout, /valid \(workflow deploy-staging, 4 nodes\)/);
    const bad = ok(
      await yard([
        'wf',
        'validate',
        '-f',
        path.join(root, 'test/fixtures/workflows/invalid-many-problems.yaml'),
      ]),
      1,
    );
    assert.match(bad.stderr, /nodes\[0\]\.run: is required/);
    assert.match(bad.stderr, /nodes\[0\]\.needs\[0\]: unknown node 'ghost'/);
    assert.match(bad.stderr, /triggers\[0\]\.cron: invalid cron/);
    const json = await yard([
      '--json',
      'wf',
      'validate',
      '-f',
      path.join(root, 'test/fixtures/workflows/invalid-many-problems.yaml'),
    ]);
    ok(json, 1);
    assert.equal(JSON.parse(json.stdout).valid, false);
    ok(await yard(['wf', 'validate', '-f', path.join(dir, 'missing.yaml')]), 4);
    const indented = file(
      'indented.yaml',
      'name: x\nnodes:\n  - id: a\n    type: command\n     run: echo hi\n',
    );
    const yamlBad = ok(await yard(['wf', 'validate', '-f', indented]), 1);
    assert.match(yamlBad.stderr, /indented\.yaml: The file is not a valid YAML document/);
    assert.match(yamlBad.stderr, /line 5, column 6: indented deeper than line 4/);
  });

  it('schedules, events and hooks: list a schedule, pause it, send an event that starts a run', async () => {
    const wf = file(
      'triggered.yaml',
      [
        'name: triggered',
        'triggers:',
        '  - { type: schedule, every: 1h }',
        '  - { type: event, event: cli.ping }',
        'nodes:',
        '  - { id: a, type: command, run: "echo ${{ trigger.data.n }}" }',
        '',
      ].join('\n'),
    );
    ok(await yard(['wf', 'apply', '-f', wf, '--publish']));
    const list = ok(await yard(['schedules', 'list', 'triggered']));
    assert.match(list.stdout, /schedule-1\s+every 1h\s+UTC\s+active/);
    const paused = ok(await yard(['schedules', 'pause', 'triggered', 'schedule-1']));
    assert.match(paused.stdout, /schedule-1: paused/);
    ok(await yard(['schedules', 'pause', 'triggered', 'nope']), 1);
    const sent = ok(await yard(['events', 'send', 'cli.ping', '--data', '{"n": 42}']));
    assert.match(sent.stdout, /type:\s+cli\.ping/);
    assert.match(sent.stdout, /started exec_\w+ \(triggered v1\)/);
    const evId = /id:\s+(evt_\w+)/.exec(sent.stdout)![1]!;
    const got = ok(await yard(['events', 'get', evId]));
    assert.match(got.stdout, /started exec_/);
    const listed = ok(await yard(['events', 'list', '--type', 'cli.ping']));
    assert.match(listed.stdout, new RegExp(evId));
    const hook = ok(await yard(['hooks', 'create', 'triggered', 'build']));
    assert.match(hook.stdout, /secret \(shown only now\): whsec_/);
    assert.match(ok(await yard(['hooks', 'list', 'triggered'])).stdout, /build\s+generic/);
  });

  it('validate asks the server, which refuses what its settings forbid (network: host)', async () => {
    const hostNet = file(
      'hostnet.yaml',
      'name: hostnet\nruntime_config:\n  network: host\nnodes:\n  - { id: a, type: command, run: "true" }\n',
    );
    const refused = ok(await yard(['wf', 'validate', '-f', hostNet]), 1);
    assert.match(refused.stderr, /runtime_config\.network: .*allowHostNetwork/);
    assert.match(refused.stderr, /\(server http/);
    // --local checks the file alone: it is well-formed.
    const local = ok(await yard(['wf', 'validate', '--local', '-f', hostNet]));
    assert.match(local.stdout, /valid \(workflow hostnet, 1 nodes\)/);
    // Without a server the local check stands, and says the server's settings were not checked.
    const offline = ok(
      await yard(['wf', 'validate', '-f', hostNet], { YARD_URL: 'http://127.0.0.1:9' }),
    );
    assert.match(offline.stderr, /not checked against the server/);
  });

  it("validate prints the server's warnings (an unpriced model) and refuses a model the provider does not list", async () => {
    const ask = (model: string) =>
      file(
        `ask-${model}.yaml`,
        `name: ask-${model}\nnodes:\n  - { id: ask, type: llm, model: ${model}, prompt: hi }\n`,
      );
    const priced = ok(await yard(['wf', 'validate', '-f', ask('m1')]));
    assert.equal(priced.stderr.includes('warning'), false, priced.stderr);
    const unpriced = ok(await yard(['wf', 'validate', '-f', ask('m2')]));
    assert.match(unpriced.stdout, /valid \(workflow ask-m2, 1 nodes\)/);
    assert.match(
      unpriced.stderr,
      /warning: nodes\[0\]\.model: model 'm2' has no price in modelPrices/,
    );
    const json = await yardJson<{ warnings: { path: string }[] }>([
      'wf',
      'validate',
      '-f',
      ask('m2'),
    ]);
    assert.deepEqual(
      json.warnings.map((w) => w.path),
      ['nodes[0].model'],
    );
    const refused = ok(await yard(['wf', 'validate', '-f', ask('m3')]), 1);
    assert.match(refused.stderr, /nodes\[0\]\.model: unknown model 'm3' for LLM provider 'listed'/);
  });

  it('apply creates, updates by name (snake_case node keys) and publishes; the workflow verbs work', async () => {
    const v1 = file(
      'deploy.yaml',
      wfYaml('deploy', '  - { id: build, type: command, run: "echo 1" }\n'),
    );
    const created = ok(await yard(['wf', 'apply', '-f', v1]));
    assert.match(created.stdout, /^created workflow deploy \(wf_\w+\) version 1, draft$/m);
    const v2 = file(
      'deploy2.yaml',
      wfYaml(
        'deploy',
        '  - { id: build, type: command, run: "echo 2", retry: { max_attempts: 2, initial_interval: 1s } }\n  - { id: ship, type: noop, needs: [build] }\n',
      ),
    );
    const updated = ok(await yard(['wf', 'apply', '-f', v2, '--publish']));
    assert.match(
      updated.stdout,
      /^updated and published workflow deploy \(wf_\w+\) version 2, published$/m,
    );
    const again = await yardJson(['wf', 'apply', '-f', v2, '--publish']);
    assert.equal(again.version, 2);
    assert.equal(again.activeVersion, 2);
    assert.equal(again.graph.nodes[0].retry.maxAttempts, 2);

    const list = await yardJson(['wf', 'list', '-q', 'deplo']);
    assert.deepEqual(
      list.items.map((w: any) => w.name),
      ['deploy'],
    );
    const human = ok(await yard(['wf', 'list']));
    assert.match(human.stdout, /^ID\s+NAME\s+TYPE\s+STATUS/m);
    const got = await yardJson(['wf', 'get', 'deploy']);
    assert.equal(got.id, again.id);
    assert.match(ok(await yard(['wf', 'get', got.id])).stdout, /ship\s+noop/);

    const exported = ok(await yard(['wf', 'export', 'deploy'])).stdout;
    assert.match(exported, /^name: deploy$/m);
    assert.match(exported, /max_attempts: 2/);
    const copy = file('copy.yaml', exported.replace(/^name: deploy$/m, 'name: deploy-copy'));
    const imported = await yardJson(['wf', 'import', '-f', copy]);
    assert.equal(imported.name, 'deploy-copy');
    assert.equal(imported.version, 1);
    assert.match(ok(await yard(['wf', 'export', 'deploy', '--version', '1'])).stdout, /echo 1/);

    const restored = await yardJson(['wf', 'restore', 'deploy', '1']);
    assert.equal(restored.version, 3);
    assert.equal((await yardJson(['wf', 'publish', got.id])).activeVersion, 3);
    const promoted = ok(await yard(['wf', 'promote', 'deploy', '2']));
    assert.match(promoted.stdout, /active version 2/);
    const versions = await yardJson(['wf', 'versions', 'deploy']);
    assert.deepEqual(
      versions.items.map((v: any) => [v.version, v.active]),
      [
        [3, false],
        [2, true],
        [1, false],
      ],
    );
    ok(await yard(['wf', 'promote', 'deploy', '9']), 1);

    assert.match(ok(await yard(['wf', 'delete', 'deploy-copy'])).stdout, /deleted/);
    const gone = ok(await yard(['wf', 'get', 'deploy-copy']), 1);
    assert.match(gone.stderr, /no workflow named "deploy-copy"/);
  });

  it('run --wait and wait exit 0 on success, 1 on failure; run prints the id; params are parsed', async () => {
    const [good, bad] = await Promise.all([
      yard(['run', 'ok', '--wait', '-p', 'n=3', '-p', 's=x']),
      yard(['run', 'bad', '--wait']),
    ]);
    ok(good, 0);
    assert.match(good.stdout, /execution exec_\w+ succeeded/);
    assert.match(good.stdout, /^a\s+succeeded/m);
    const goodId = execId(good.stderr);
    ok(bad, 1);
    assert.match(bad.stdout, /boom\s+failed/);
    const badId = execId(bad.stderr);
    const detail = await yardJson(['ex', 'get', goodId]);
    assert.deepEqual(detail.params, { n: 3, s: 'x' });

    const [w0, w1, w1b] = await Promise.all([
      yard(['wait', `workflow-execution/${goodId}`]),
      yard(['wait', badId, '--workflow', 'bad']),
      yard(['--json', 'wait', `workflow-execution/${badId}`]),
    ]);
    ok(w0, 0);
    ok(w1, 1);
    ok(w1b, 1);
    assert.equal(JSON.parse(w1b.stdout).status, 'failed');

    const started = await yardJson(['run', 'ok', '--idempotency-key', 'k1']);
    const same = await yardJson(['run', 'ok', '--idempotency-key', 'k1']);
    assert.equal(same.id, started.id);
    ok(await yard(['run', 'ok', '-p', 'novalue']), 4);
    ok(await yard(['wait', 'nonsense']), 4);
  });

  it('run --wait exits 2 when another process cancels; wait --timeout exits 3', async () => {
    const child = spawnYard(['run', 'sleeper', '--wait']);
    const waiting = collect(child);
    const id = (await outputMatch(child, /started (exec_\w+)/))[1]!;
    const wf = await yardJson(['wf', 'get', 'sleeper']);
    await http().awaitEvent(wf.id, id, 'node.status', (e) => e.status === 'running');

    const timedOut = await yard(['wait', id, '--timeout', '1s', '-q']);
    ok(timedOut, 3);
    assert.match(
      timedOut.stderr,
      /timed out after 1\.0s waiting for exec_\w+ \(last status: running\)/,
    );

    assert.match(
      ok(await yard(['ex', 'cancel', id, '--reason', 'test'])).stdout,
      /cancelled exec_\w+: cancelled/,
    );
    const r = await waiting;
    ok(r, 2);
    assert.match(r.stdout, /cancelled/);
    ok(await yard(['wait', id]), 2);
    ok(await yard(['ex', 'cancel', id]), 1);
  });

  it('run --wait --timeout reports the status at the timeout, not at the start', async () => {
    ok(
      await yard([
        'wf',
        'apply',
        '-f',
        file(
          'held.yaml',
          wfYaml(
            'held',
            '  - { id: prep, type: command, run: "sleep 0.2" }\n  - { id: hold, type: approval, message: "hold the line?", needs: [prep] }\n',
          ),
        ),
      ]),
    );
    // The CLI reads the detail while `prep` runs (`running`); the run is `waiting` on the
    // approval well before 2s pass, and the message must say so.
    const r = ok(await yard(['run', 'held', '--wait', '--timeout', '2s']), 3);
    assert.match(r.stderr, /execution\.status waiting/);
    assert.match(r.stderr, /timed out after 2\.0s waiting for exec_\w+ \(last status: waiting\)/);
    ok(await yard(['ex', 'cancel', execId(r.stderr)]));
  });

  it('run --follow prints what a waiting node asks and the command that answers it', async (t) => {
    const probe = await yardJson(['run', 'ok']);
    await http().waitFor(probe.workflowId, probe.id, ['succeeded']);
    const skip = needsRoute(
      await routeServed(`/api/v1/workflows/${probe.workflowId}/executions/${probe.id}/stream`),
      'stream',
    );
    if (skip) return t.skip(skip);
    ok(
      await yard([
        'wf',
        'apply',
        '-f',
        file(
          'asks.yaml',
          wfYaml(
            'asks',
            '  - { id: gate, type: approval, message: "deploy to prod?" }\n  - { id: tag, type: input, message: "which tag?", needs: [gate] }\n',
          ),
        ),
      ]),
    );
    const child = spawnYard(['run', 'asks', '--follow']);
    const done = collect(child);
    const approval = await outputMatch(
      child,
      /approval requested by node gate: deploy to prod\?\n {2}approve: yard (ex resume .+ --approve)\n {2}reject: {2}yard ex resume .+ --reject\n/,
    );
    // The printed command is run as printed: it must be one that works.
    assert.match(approval[1]!, /^ex resume exec_\w+ -w wf_\w+ --node gate --approve$/);
    // Listen before approving: the input prompt follows the approval at once.
    const asked = outputMatch(
      child,
      /input requested by node tag: which tag\?\n {2}answer: yard (ex followup exec_\w+ -w wf_\w+) -m 'your answer'\n/,
    );
    assert.match(ok(await yard(approval[1]!.split(' '))).stdout, /approved exec_\w+/);
    const input = await asked;
    ok(await yard([...input[1]!.split(' '), '-m', 'v1.2.3']));
    const r = ok(await done);
    assert.match(r.stdout, /execution exec_\w+ succeeded/);
    // Each prompt once, though the stream and the detail both know of it.
    assert.equal(r.stderr.match(/approval requested by node gate/g)?.length, 1);
  });

  it('executions: list, get, retry, resume (approval), followup (input), delete', async () => {
    const marker = path.join(dir, 'flaky-marker');
    ok(
      await yard([
        'wf',
        'apply',
        '-f',
        file(
          'flaky.yaml',
          wfYaml(
            'flaky',
            '  - { id: once, type: command, run: \'test -f "$PARAM_MARKER" || { touch "$PARAM_MARKER"; exit 1; }\' }\n',
          ),
        ),
      ]),
    );
    ok(
      await yard([
        'wf',
        'apply',
        '-f',
        file(
          'gate.yaml',
          wfYaml(
            'gate',
            '  - { id: approve, type: approval, message: "ship it?" }\n  - { id: ask, type: input, needs: [approve] }\n  - { id: done, type: noop, needs: [ask] }\n',
          ),
        ),
      ]),
    );

    const failed = ok(await yard(['run', 'flaky', '--wait', '-q', '-p', `marker=${marker}`]), 1);
    const flakyId = execId(failed.stderr);
    const list = await yardJson(['ex', 'list', '--workflow', 'flaky']);
    assert.deepEqual(
      list.items.map((e: any) => [e.id, e.status]),
      [[flakyId, 'failed']],
    );
    assert.match(
      ok(await yard(['ex', 'list', '--status', 'failed'])).stdout,
      new RegExp(`${flakyId}\\s+wf_\\w+\\s+1\\s+failed`),
    );
    const retried = ok(await yard(['ex', 'retry', flakyId, '--wait']));
    assert.match(retried.stdout, /once\s+succeeded\s+2/);

    const gateRun = await yardJson(['run', 'gate']);
    await http().awaitEvent(
      gateRun.workflowId,
      gateRun.id,
      'execution.status',
      (e) => e.status === 'waiting',
    );
    const shown = ok(await yard(['ex', 'get', gateRun.id]));
    assert.match(shown.stdout, /approve\s+approval\s+waiting.*ship it\?/);
    ok(await yard(['ex', 'resume', gateRun.id]), 4);
    ok(await yard(['ex', 'followup', gateRun.id, '-m', 'too early']), 1);
    assert.match(
      ok(await yard(['ex', 'resume', gateRun.id, '--approve', '--comment', 'yes'])).stdout,
      /approved/,
    );
    await http().awaitEvent(
      gateRun.workflowId,
      gateRun.id,
      'node.status',
      (e) => e.nodeId === 'ask' && e.status === 'waiting',
    );
    const followed = await yardJson([
      'ex',
      'followup',
      `workflow-execution/${gateRun.id}`,
      '-m',
      'hello',
      '--data',
      '{"k":1}',
    ]);
    assert.equal(followed.id, gateRun.id);
    ok(await yard(['wait', gateRun.id, '-q']), 0);
    const detail = await yardJson(['ex', 'get', gateRun.id, '--workflow', 'gate']);
    assert.equal(detail.nodes.find((n: any) => n.nodeId === 'ask').outputs.message, 'hello');

    assert.match(ok(await yard(['ex', 'delete', gateRun.id])).stdout, /deleted/);
    const missing = ok(await yard(['ex', 'get', gateRun.id, '--workflow', 'gate']), 1);
    assert.match(missing.stderr, /ERR_EXECUTION_NOT_FOUND/);
  });

  it('dlq: list, show, retry, resolve', async () => {
    const m1 = path.join(dir, 'dlq-1');
    const m2 = path.join(dir, 'dlq-2');
    const [r1, r2] = await Promise.all([
      yard(['run', 'flaky', '--wait', '-q', '-p', `marker=${m1}`]),
      yard(['run', 'flaky', '--wait', '-q', '-p', `marker=${m2}`]),
    ]);
    const e1 = execId(ok(r1, 1).stderr);
    const e2 = execId(ok(r2, 1).stderr);
    const open = await yardJson(['dlq', 'list', '--status', 'open', '--workflow', 'flaky']);
    const entry1 = open.items.find((d: any) => d.executionId === e1);
    const entry2 = open.items.find((d: any) => d.executionId === e2);
    assert.ok(entry1 && entry2, JSON.stringify(open));
    assert.match(
      ok(await yard(['dlq', 'list', '--execution', e1])).stdout,
      new RegExp(`${entry1.id}\\s+${e1}\\s+once\\s+open`),
    );
    const shown = ok(await yard(['dlq', 'show', entry1.id]));
    assert.match(shown.stdout, /error:\s+.*ERR_NODE_EXIT/);
    assert.equal((await yardJson(['dlq', 'show', entry1.id])).status, 'open');

    assert.match(ok(await yard(['dlq', 'retry', entry1.id])).stdout, /queued again/);
    ok(await yard(['wait', e1, '-q']), 0);
    const resolved = await yardJson(['dlq', 'resolve', entry2.id, '--note', 'handled']);
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.note, 'handled');
    const again = ok(await yard(['dlq', 'resolve', entry2.id]), 1);
    assert.match(again.stderr, /ERR_DLQ_STATE/);
  });

  it('artifacts: list and download', async () => {
    ok(
      await yard([
        'wf',
        'apply',
        '-f',
        file(
          'art.yaml',
          wfYaml(
            'art',
            '  - { id: make, type: command, run: "mkdir -p sub && echo hello > out.txt && echo deep > sub/x.json", artifacts: [out.txt, "sub/*.json"] }\n',
          ),
        ),
      ]),
    );
    const run = ok(await yard(['run', 'art', '--wait', '-q']));
    const id = execId(run.stderr);
    const list = await yardJson(['artifacts', 'list', id]);
    assert.deepEqual(list.items.map((a: any) => [a.path, a.size]).sort(), [
      ['out.txt', 6],
      ['sub/x.json', 5],
    ]);
    assert.match(
      ok(await yard(['artifacts', 'list', id])).stdout,
      /out\.txt\s+6 B\s+text\/plain\s+make/,
    );
    ok(await yard(['artifacts', 'download', id, 'out.txt']));
    assert.equal(readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'hello\n');
    const target = path.join(dir, 'dl', 'x.json');
    ok(await yard(['artifacts', 'download', id, 'sub/x.json', '-o', target]));
    assert.equal(readFileSync(target, 'utf8'), 'deep\n');
    const toStdout = ok(await yard(['artifacts', 'download', id, 'out.txt', '-o', '-']));
    assert.equal(toStdout.stdout, 'hello\n');
    const none = ok(await yard(['artifacts', 'download', id, 'nope.txt']), 1);
    assert.match(none.stderr, /ERR_ARTIFACT_NOT_FOUND/);
  });

  it('token create, list, revoke; a token without permission gets a clear message', async () => {
    const created = await yardJson(['token', 'create', 'reader', '-p', 'workflows.read']);
    assert.match(created.token, /^sy_[0-9a-f]{40}$/);
    const human = ok(
      await yard(['token', 'create', 'runner', '-p', 'workflows.read,workflows.run']),
    );
    assert.match(human.stdout, /secret \(shown only now\): sy_[0-9a-f]{40}/);
    const list = await yardJson(['token', 'list']);
    assert.ok(list.items.some((t: any) => t.id === created.id && t.name === 'reader'));
    assert.ok(!JSON.stringify(list).includes(created.token));
    ok(await yard(['wf', 'list'], { YARD_TOKEN: created.token }));
    const forbidden = ok(await yard(['token', 'list'], { YARD_TOKEN: created.token }), 1);
    assert.match(forbidden.stderr, /ERR_AUTH_FORBIDDEN/);
    ok(await yard(['token', 'create', 'x']), 4);
    assert.match(ok(await yard(['token', 'revoke', created.id])).stdout, /revoked/);
    const revoked = ok(await yard(['wf', 'list'], { YARD_TOKEN: created.token }), 1);
    assert.match(revoked.stderr, /ERR_AUTH_INVALID/);
  });

  it('secrets set (value from stdin), list and delete, global and --workflow', async () => {
    const setWith = (args: string[], input: string): Promise<Result> => {
      const child = spawn(process.execPath, [bin, 'secrets', 'set', ...args], {
        cwd: dir,
        env: { ...process.env, ...baseEnv },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      child.stdin.end(input);
      return collect(child);
    };
    const wf = await http().call('POST', '/api/v1/workflows', { name: 'cli-secrets' });
    assert.equal(wf.status, 201);
    const multiLine = 'line one\nline two\n';
    assert.match(
      ok(await setWith(['CLI_TOKEN'], 'tok-cli-1\n')).stdout,
      /set secret CLI_TOKEN \(global\)/,
    );
    ok(await setWith(['CLI_KEY', '--workflow', 'cli-secrets'], `${multiLine}\n`));
    ok(await setWith(['bad-name'], 'x'), 1);

    // Stored sealed: the value is not in the database file, and the server's key opens it.
    const data = path.join(dir, 'data');
    const db = new Sqlite(path.join(data, 'switchyard.db'), { readonly: true });
    const rows = db.prepare('SELECT scope, name, ciphertext FROM secrets ORDER BY name').all() as {
      scope: string;
      name: string;
      ciphertext: string;
    }[];
    db.close();
    // The key every test server gets (test/helpers/process.ts).
    const key = parseSecretsKey(testSecretsKey);
    assert.deepEqual(
      rows.map((r) => [r.scope, r.name, openSecret(key, r.ciphertext)]),
      [
        [wf.json.id, 'CLI_KEY', multiLine],
        ['', 'CLI_TOKEN', 'tok-cli-1'],
      ],
    );
    assert.ok(!rows.some((r) => r.ciphertext.includes('tok-cli')));

    const list = ok(await yard(['secrets', 'list']));
    assert.match(list.stdout, /CLI_TOKEN\s+global/);
    assert.ok(!list.stdout.includes('tok-cli-1'));
    const own = await yardJson(['secrets', 'list', '--workflow', 'cli-secrets']);
    assert.deepEqual(
      own.items.map((s: any) => s.name),
      ['CLI_KEY'],
    );
    ok(await yard(['secrets', 'delete', 'CLI_KEY', '--workflow', 'cli-secrets']));
    const gone = ok(await yard(['secrets', 'delete', 'CLI_KEY', '--workflow', 'cli-secrets']), 1);
    assert.match(gone.stderr, /ERR_SECRET_NOT_FOUND/);
    ok(await yard(['secrets', 'delete', 'CLI_TOKEN']));
    assert.match(ok(await yard(['secrets', 'list'])).stdout, /no secrets/);
  });

  it('logs prints an execution’s lines (needs the logs route)', async (t) => {
    const run = ok(await yard(['run', 'ok', '--wait', '-q']));
    const id = execId(run.stderr);
    const wf = await yardJson(['wf', 'get', 'ok']);
    const skip = needsRoute(
      await routeServed(`/api/v1/workflows/${wf.id}/executions/${id}/logs`),
      'logs',
    );
    if (skip) return t.skip(skip);
    const logs = ok(await yard(['logs', id]));
    assert.match(logs.stdout, /^\[a\] hello from a$/m);
    const json = await yardJson(['logs', id, '--node', 'a']);
    assert.ok(json.some((l: any) => l.nodeId === 'a' && l.text === 'hello from a'));
    // -f on a finished execution replays its lines and ends.
    assert.match(ok(await yard(['logs', id, '-f'])).stdout, /\[a\] hello from a/);
  });

  it('run --follow streams node events and log lines (needs the stream and logs routes)', async (t) => {
    const probe = await yardJson(['run', 'ok']);
    await http().waitFor(probe.workflowId, probe.id, ['succeeded']);
    const skip = needsRoute(
      await routeServed(`/api/v1/workflows/${probe.workflowId}/executions/${probe.id}/stream`),
      'stream',
    );
    if (skip) return t.skip(skip);
    const r = ok(await yard(['run', 'ok', '--follow']));
    // Not a terminal: one line per event on stderr, the log lines, the outcome on stdout.
    assert.match(r.stderr, /node\.status a running/);
    assert.match(r.stderr, /node\.status b succeeded/);
    assert.match(r.stdout + r.stderr, /\[a\] hello from a/);
    assert.match(r.stdout, /execution exec_\w+ succeeded/);
    const failed = ok(await yard(['run', 'bad', '--follow']), 1);
    assert.match(failed.stdout + failed.stderr, /\[boom\] ! doomed/);
  });
});
