/**
 * The newcomer's papercuts of issue 9 §5, each through the `yard` CLI (a child process) against
 * one real server process: `run` prints the id alone on stdout, `-p` values are typed by the
 * declared inputs, approvers are enforced (with an admin's recorded override), `usage`, `dlq show`
 * labels log lines by attempt, `retry --wait` follows the new attempt only.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   the tests read --json output loosely */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Client, client } from '../helpers/http.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';
import { type Yard, expectExit, yardFor } from '../helpers/yard.ts';

const token = `sy_${'d'.repeat(40)}`;

let server: ServerProcess;
let dir: string;
let yard: Yard;
let http: Client;

const wfYaml = (name: string, body: string) => `name: ${name}\ntype: automation\n${body}`;

async function apply(name: string, body: string, publish = true): Promise<void> {
  const file = path.join(dir, `${name}-${Date.now()}.yaml`);
  writeFileSync(file, wfYaml(name, body));
  expectExit(await yard.run(['wf', 'apply', '-f', file, ...(publish ? ['--publish'] : [])]), 0);
}

describe('yard CLI papercuts (issue 9 §5)', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cli-papercuts-'));
    server = await startServer(['--data-dir', path.join(dir, 'data')], {
      SWITCHYARD_ADMIN_TOKEN: token,
      SWITCHYARD_LOCAL_ISOLATION: 'none',
      SWITCHYARD_RUNTIME: 'local',
    });
    yard = yardFor({ url: server.url, token, cwd: dir });
    http = client(server.url, token);
    await apply('hello', 'nodes:\n  - { id: a, type: command, run: "echo hi" }\n');
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('run prints the execution id alone on stdout; the sentence and progress go to stderr', async () => {
    const plain = expectExit(await yard.run(['run', 'hello']), 0);
    assert.match(plain.stdout, /^exec_[A-Za-z0-9_-]+\n$/);
    const id = plain.stdout.trim();
    assert.match(plain.stderr, new RegExp(`started ${id} \\(workflow wf_\\w+, version 1, `));

    const asJson = await yard.json(['run', 'hello']);
    assert.match(asJson.id, /^exec_/);
    assert.equal(asJson.version, 1);

    const waited = expectExit(await yard.run(['run', 'hello', '--wait']), 0);
    // stdout: the outcome only (node table, then the summary line); stderr: the rest.
    const lines = waited.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NODE\s+STATUS\s+ATTEMPT/);
    assert.match(lines[1]!, /^a\s+succeeded\s+1/);
    assert.match(lines.at(-1)!, /^execution exec_\S+ succeeded in /);
    assert.equal(lines.length, 3, waited.stdout);
    assert.match(waited.stderr, /started exec_/);
    assert.match(waited.stderr, /node\.status a succeeded/);
  });

  it('run types each -p value by the input the run’s version declares', async () => {
    const inputs = (refType: string) =>
      `triggers:\n  - type: manual\n    inputs:\n      ref: { type: ${refType} }\n      n: { type: integer, default: 1 }\n      dry: { type: boolean, default: false }\n      tags: { type: array, default: [] }\n      opts: { type: object, default: {} }\n      ratio: { type: number, default: 0.5 }\nnodes:\n  - { id: a, type: noop }\n`;
    await apply('typed', inputs('string'));
    // Version 2, not published: runs of the active version 1 still type `ref` as a string.
    await apply('typed', inputs('integer'), false);

    const params = async (args: string[]) => {
      const id = expectExit(await yard.run(['run', 'typed', ...args]), 0).stdout.trim();
      return (await yard.json(['ex', 'get', id])).params;
    };
    assert.deepEqual(
      await params([
        ...['-p', 'ref=123', '-p', 'n=7', '-p', 'dry=true', '-p', 'tags=["x"]'],
        ...['-p', 'opts={"k":1}', '-p', 'ratio=2.5'],
      ]),
      { ref: '123', n: 7, dry: true, tags: ['x'], opts: { k: 1 }, ratio: 2.5 },
    );
    assert.deepEqual((await params(['-p', 'ref=true'])).ref, 'true');
    assert.deepEqual((await params(['-p', 'ref=123', '--version', '2'])).ref, 123);

    const mismatches = [
      ['n=abc', 'an integer'],
      ['n=1.5', 'an integer'],
      ['dry=yes', 'a boolean'],
      ['tags={}', 'an array'],
      ['opts=[1]', 'an object'],
      ['ratio=fast', 'a number'],
    ] as const;
    const refused = await Promise.all(
      mismatches.map(([arg]) => yard.run(['run', 'typed', '-p', arg])),
    );
    mismatches.forEach(([arg, type], i) => {
      const r = expectExit(refused[i]!, 4);
      const name = arg.split('=')[0]!;
      assert.match(r.stderr, new RegExp(`-p ${name}: input ${name} is ${type}; "`), r.stderr);
    });
    const v2 = expectExit(await yard.run(['run', 'typed', '--version', '2', '-p', 'ref=main']), 4);
    assert.match(v2.stderr, /input ref is an integer; "main" is not/);

    // A name the workflow does not declare keeps the guess (JSON when it parses)…
    await apply('free', 'nodes:\n  - { id: a, type: noop }\n');
    const free = expectExit(await yard.run(['run', 'free', '-p', 'x=123', '-p', 'y=abc']), 0);
    assert.deepEqual((await yard.json(['ex', 'get', free.stdout.trim()])).params, {
      x: 123,
      y: 'abc',
    });
    // …and the server says whether it takes it.
    const unknown = expectExit(await yard.run(['run', 'typed', '-p', 'nope=1']), 1);
    assert.match(unknown.stderr, /params\.nope: is not an input of this workflow/);
  });

  it('ex resume names the approvers when refused; --override lets the admin decide, recorded', async () => {
    await apply(
      'guarded',
      'nodes:\n  - { id: gate, type: approval, approvers: [release-manager] }\n  - { id: b, type: noop, needs: [gate] }\n',
    );
    const run = await yard.json(['run', 'guarded']);
    await http.awaitEvent(
      run.workflowId,
      run.id,
      'execution.status',
      (e) => e.status === 'waiting',
    );
    const refused = expectExit(await yard.run(['ex', 'resume', run.id, '--approve']), 1);
    assert.match(
      refused.stderr,
      /Token admin is not an approver of node gate \(approvers: release-manager\).*\(ERR_APPROVAL_FORBIDDEN\)/,
    );
    const approved = expectExit(
      await yard.run(['ex', 'resume', run.id, '--approve', '--override']),
      0,
    );
    assert.match(approved.stdout, new RegExp(`approved ${run.id}`));
    expectExit(await yard.run(['wait', run.id, '-q']), 0);
    const gate = (await yard.json(['ex', 'get', run.id])).nodes.find(
      (n: any) => n.nodeId === 'gate',
    );
    assert.equal(gate.outputs.actor, 'admin');
    assert.equal(gate.outputs.override, true);
  });

  it('usage prints a workflow’s usage as a table, per group, and as JSON', async () => {
    await apply(
      'metered',
      'nodes:\n  - { id: a, type: command, run: "echo a" }\n  - { id: b, type: command, run: "echo b", needs: [a] }\n',
    );
    for (let i = 0; i < 2; i++) expectExit(await yard.run(['run', 'metered', '--wait', '-q']), 0);

    const byNode = expectExit(await yard.run(['usage', 'metered', '--group-by', 'node']), 0);
    const lines = byNode.stdout.trimEnd().split('\n');
    assert.match(
      lines[0]!,
      /^NODE\s+ATTEMPTS\s+COMPUTE S\s+PROMPT TOKENS\s+COMPLETION TOKENS\s+TOKENS\s+EST\. USD$/,
    );
    assert.match(lines[1]!, /^a\s+2\s+[\d.]+\s+0\s+0\s+0\s+\$\d+\.\d{6}$/);
    assert.match(lines[2]!, /^b\s+2\s/);
    assert.match(lines[3]!, /^total\s+4\s/);

    const json = await yard.json(['usage', 'metered', '--since', '1d', '--group-by', 'day']);
    assert.equal(json.total.attempts, 4);
    assert.equal(json.groupBy, 'day');
    assert.equal(json.groups.length, 1);
    assert.match(json.since, /^\d{4}-\d{2}-\d{2}T/);
    const old = await yard.json(['usage', 'metered', '--until', '2000-01-01']);
    assert.equal(old.until, '2000-01-01T00:00:00.000Z');
    assert.equal(old.total.attempts, 0);
    assert.match(
      expectExit(await yard.run(['usage', 'metered']), 0).stdout,
      /^USAGE\s+ATTEMPTS.*\ntotal\s+4\s/,
    );

    const badGroup = expectExit(await yard.run(['usage', 'metered', '--group-by', 'hour']), 4);
    assert.match(badGroup.stderr, /expected one of day, version, node, model/);
    const badTime = expectExit(await yard.run(['usage', 'metered', '--since', 'yesterday']), 4);
    assert.match(badTime.stderr, /expected an RFC 3339 time/);
    const missing = expectExit(await yard.run(['usage', 'nope']), 1);
    assert.match(missing.stderr, /no workflow named "nope"/);
  });

  it('dlq show labels each log line with the attempt that wrote it', async () => {
    await apply(
      'twice',
      'nodes:\n  - id: boom\n    type: command\n    retry: { max_attempts: 2, initial_interval: 100ms }\n    run: \'echo "try $SWITCHYARD_ATTEMPT"; echo "no luck"; exit 1\'\n',
    );
    const run = expectExit(await yard.run(['run', 'twice', '--wait', '-q']), 1);
    const execId = /started (exec_\S+)/.exec(run.stderr)![1]!;
    const page = await yard.json(['dlq', 'list', '--execution', execId]);
    assert.equal(page.items.length, 1, JSON.stringify(page));
    const shown = expectExit(await yard.run(['dlq', 'show', page.items[0].id]), 0);
    // One stream (stdout), so the lines keep the order they were written in.
    const tail = shown.stdout.slice(shown.stdout.indexOf('last log lines:'));
    assert.deepEqual(tail.trimEnd().split('\n').slice(1), [
      '  [attempt 1] [stdout] try 1',
      '  [attempt 1] [stdout] no luck',
      '  [attempt 2] [stdout] try 2',
      '  [attempt 2] [stdout] no luck',
    ]);
    const json = await yard.json(['dlq', 'show', page.items[0].id]);
    assert.deepEqual(
      json.logLines.map((l: any) => l.attempt),
      [1, 1, 2, 2],
    );
  });

  it('ex retry --wait shows the new attempt’s events only, not the failed run again', async () => {
    const marker = path.join(dir, 'retry-marker');
    await apply(
      'second-time',
      `nodes:\n  - { id: prep, type: command, run: "echo prep" }\n  - { id: once, type: command, needs: [prep], run: 'test -f "${marker}" || { touch "${marker}"; exit 1; }' }\n`,
    );
    const failed = expectExit(await yard.run(['run', 'second-time', '--wait']), 1);
    const execId = /started (exec_\S+)/.exec(failed.stderr)![1]!;
    // The first run's view showed the failure…
    assert.match(failed.stderr, /node\.status once failed attempt 1/);

    const retried = expectExit(await yard.run(['ex', 'retry', execId, '--wait']), 0);
    // …the retry's view shows only what the retry does.
    const events = retried.stderr.split('\n').filter((l) => /^\d\d:\d\d:\d\d /.test(l));
    assert.ok(events.length > 0, retried.stderr);
    assert.doesNotMatch(retried.stderr, /failed/, retried.stderr);
    assert.doesNotMatch(retried.stderr, /prep/, retried.stderr);
    assert.doesNotMatch(retried.stderr, /once \w+ attempt 1/, retried.stderr);
    assert.match(retried.stderr, /node\.status once succeeded attempt 2/);
    assert.match(retried.stdout, /^once\s+succeeded\s+2/m);
    assert.match(retried.stdout, /execution exec_\S+ succeeded/);
  });
});
