/**
 * `yard chat` and `yard executions followup` end to end against a real server process and the
 * scripted LLM provider: a session driven through stdin sends two messages (the first starts the
 * execution), prints each reply, and `/exit` leaves the execution waiting; a follow-up from
 * `yard ex followup` prints its reply; `yard chat --execution` continues the chat until EOF.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FakeLlm, startFakeLlm } from '../helpers/fake-llm.ts';
import { client } from '../helpers/http.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/yard.js');
const token = `sy_${'d'.repeat(40)}`;

let server: ServerProcess;
let llm: FakeLlm;
let dir: string;

function spawnYard(args: string[]): ChildProcess {
  return spawn(process.execPath, [bin, ...args], {
    cwd: dir,
    env: {
      ...process.env,
      YARD_URL: server.url,
      YARD_TOKEN: token,
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      HOME: dir,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

interface Output {
  stdout: string;
  stderr: string;
  /** Resolves once stdout matches `re`; rejects when the process exits first. */
  printed(re: RegExp): Promise<void>;
  closed: Promise<number | null>;
}

function watch(child: ChildProcess): Output {
  const out: Output = {
    stdout: '',
    stderr: '',
    printed: (re) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!re.test(out.stdout)) return;
          child.stdout!.off('data', check);
          resolve();
        };
        child.stdout!.on('data', check);
        void out.closed.then((code) =>
          reject(new Error(`exited ${code} before printing ${re}:\n${out.stdout}\n${out.stderr}`)),
        );
        check();
      }),
    closed: new Promise((resolve) => child.once('close', resolve)),
  };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  return out;
}

describe('yard chat', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cli-chat-'));
    llm = await startFakeLlm();
    server = await startServer(['--data-dir', path.join(dir, 'data')], {
      SWITCHYARD_ADMIN_TOKEN: token,
      SWITCHYARD_LOCAL_ISOLATION: 'none',
      SWITCHYARD_RUNTIME: 'local',
      SWITCHYARD_LLM_PROVIDERS: JSON.stringify({
        fake: { kind: 'openai', baseUrl: `${llm.url}/v1`, default: true },
      }),
    });
  });

  after(async () => {
    await server?.stop();
    await llm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a session of two messages and /exit keeps the execution; followup and --execution continue it', async () => {
    const api = client(server.url, token);
    const wf = await api.call('POST', '/api/v1/workflows', {
      name: 'cli-chat',
      type: 'chat',
      graph: { nodes: [{ id: 'answer', type: 'llm', model: 'm', system: 'Be brief.' }] },
    });
    assert.equal(wf.status, 201, JSON.stringify(wf.json));
    llm.script([
      { text: 'Hello, human.', chunks: 3 },
      { text: 'Two plus two is four.', chunks: 3 },
      { text: 'Four times two is eight.', chunks: 3 },
      { text: 'Goodbye then.', chunks: 3 },
    ]);

    // Only a chat workflow takes a session.
    const other = await api.call('POST', '/api/v1/workflows', { name: 'cli-not-chat' });
    assert.equal(other.status, 201);
    const refused = watch(spawnYard(['chat', 'cli-not-chat']));
    assert.equal(await refused.closed, 4);
    assert.match(
      refused.stderr,
      /cli-not-chat is an automation workflow; yard chat needs a chat workflow/,
    );

    const chat = spawnYard(['chat', 'cli-chat']);
    const session = watch(chat);
    chat.stdin!.write('Hi\n');
    await session.printed(/Hello, human\.\n/);
    chat.stdin!.write('What is two plus two?\n');
    await session.printed(/Two plus two is four\.\n/);
    chat.stdin!.write('/exit\n');
    assert.equal(await session.closed, 0, session.stderr);
    assert.equal(session.stdout, 'Hello, human.\nTwo plus two is four.\n');
    const id = /started (exec_[A-Za-z0-9]+)/.exec(session.stderr)?.[1];
    assert.ok(id, session.stderr);
    assert.match(session.stderr, new RegExp(`left ${id}`));

    // The execution stays, waiting for the next message; the second call got the conversation.
    const detail = await api.call('GET', `/api/v1/workflows/${wf.json.id}/executions/${id}`);
    assert.equal(detail.json.status, 'waiting');
    assert.equal(detail.json.conversation.length, 4);
    assert.deepEqual(llm.requests[1]!.body.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello, human.' },
      { role: 'user', content: 'What is two plus two?' },
    ]);

    // `yard ex followup` prints the reply to its message.
    const followup = watch(spawnYard(['ex', 'followup', id, '-m', 'And times two?']));
    assert.equal(await followup.closed, 0, followup.stderr);
    assert.equal(followup.stdout, 'Four times two is eight.\n');

    // `yard chat --execution` continues the same execution; the end of the input ends the session.
    const more = spawnYard(['chat', 'cli-chat', '--execution', id]);
    const continued = watch(more);
    more.stdin!.end('Bye\n');
    assert.equal(await continued.closed, 0, continued.stderr);
    assert.equal(continued.stdout, 'Goodbye then.\n');
    const last = await api.call('GET', `/api/v1/workflows/${wf.json.id}/executions/${id}`);
    assert.equal(last.json.status, 'waiting');
    assert.equal(last.json.conversation.length, 8);
    assert.deepEqual(
      (last.json.conversation as { role: string; content: string }[]).map((e) => e.content),
      [
        'Hi',
        'Hello, human.',
        'What is two plus two?',
        'Two plus two is four.',
        'And times two?',
        'Four times two is eight.',
        'Bye',
        'Goodbye then.',
      ],
    );
  });
});
