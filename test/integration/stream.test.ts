/**
 * The event and log streams over a real socket on both dialects, with a real EventSource client:
 * resume by Last-Event-ID and ?from= without gaps or duplicates, replay after the end,
 * heartbeats, a stalled client dropped with a bounded buffer, and logs (JSON, text, filters,
 * live follow) that appear while their node still runs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import {
  createWorkflow,
  executionUrl,
  runWorkflow,
  awaitLogs,
  waitForNode,
  waitForStatus,
} from '../helpers/executions.ts';
import { eventually } from '../helpers/eventually.ts';
import { type Harness, adminToken, startHarness } from '../helpers/harness.ts';
import { type SseEvent, follow, parseFrames, readToClose } from '../helpers/sse.ts';

const auth = { authorization: `Bearer ${adminToken}` };

/** A chain of command nodes that each sleep a little, so a stream sees them one by one. */
const chain = (name: string, n: number) => ({
  name,
  graph: {
    nodes: Array.from({ length: n }, (_, i) => ({
      id: `step${i + 1}`,
      type: 'command',
      run: `sleep 0.2; echo step ${i + 1}`,
      ...(i > 0 && { needs: [`step${i}`] }),
    })),
  },
});

function assertSeqs(events: SseEvent[], from: number, to: number): void {
  assert.deepEqual(
    events.map((e) => Number(e.id)),
    Array.from({ length: to - from + 1 }, (_, i) => from + i),
  );
}

for (const dialect of dialectNames) {
  describe(`streams (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let base: string;
    let scratch: string;
    before(async () => {
      h = await startHarness(dialect, {
        config: { sseHeartbeatMs: 100, maxLogBytesPerNode: 64 * 1024 * 1024 },
      });
      base = await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
      scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-stream-test-'));
    });
    after(async () => {
      await h?.close();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it('resumes with Last-Event-ID: every event once, in seq order, then end', async () => {
      const wf = await createWorkflow(h, chain('resume-last-event-id', 4));
      const ex = await runWorkflow(h, wf.id);
      const url = `${base}${executionUrl(wf.id, ex.id)}/stream`;
      const first = follow(url, adminToken);
      await first.received(3);
      first.close();
      const lastId = first.events.at(-1)!.id;
      // Events happen while no one listens.
      await waitForNode(h, wf.id, ex.id, 'step2', ['succeeded']);
      const second = follow(url, adminToken, lastId);
      const end = await second.ended;
      assert.equal(end.status, 'succeeded');
      const all = [...first.events, ...second.events];
      assertSeqs(all, 1, all.length);
      assert.equal(all[0]!.type, 'execution.status');
      assert.deepEqual(JSON.parse(all[0]!.data), {
        seq: 1,
        executionId: ex.id,
        status: 'pending',
        at: JSON.parse(all[0]!.data).at,
      });
      const last = JSON.parse(all.at(-1)!.data) as { status: string; seq: number };
      assert.equal(all.at(-1)!.type, 'execution.status');
      assert.equal(last.status, 'succeeded');
      for (const e of all) assert.equal((JSON.parse(e.data) as { seq: number }).seq, Number(e.id));
      const steps = all.filter(
        (e) => e.type === 'node.status' && JSON.parse(e.data).status === 'succeeded',
      );
      assert.deepEqual(
        steps.map((e) => (JSON.parse(e.data) as { nodeId: string }).nodeId),
        ['step1', 'step2', 'step3', 'step4'],
      );

      // A stream opened after the end replays everything, ends, and the server closes it.
      const replay = await readToClose(url, auth);
      assert.equal(replay.status, 200);
      assert.match(replay.contentType, /^text\/event-stream/);
      assert.deepEqual(
        replay.frames.slice(0, -1).map((f) => [f.id, f.type, f.data]),
        all.map((e) => [e.id, e.type, e.data]),
      );
      assert.deepEqual(replay.frames.at(-1), {
        id: '',
        type: 'end',
        data: '{"status":"succeeded"}',
      });
    });

    it('resumes with ?from= (inclusive); Last-Event-ID wins over it', async () => {
      const wf = await createWorkflow(h, chain('resume-from', 3));
      const ex = await runWorkflow(h, wf.id);
      const url = `${base}${executionUrl(wf.id, ex.id)}/stream`;
      const first = follow(url, adminToken);
      await first.received(2);
      first.close();
      const next = Number(first.events.at(-1)!.id) + 1;
      const second = follow(`${url}?from=${next}`, adminToken);
      assert.equal((await second.ended).status, 'succeeded');
      const all = [...first.events, ...second.events];
      assertSeqs(all, 1, all.length);

      const fromOnly = await readToClose(`${url}?from=3`, auth);
      assert.equal(fromOnly.frames[0]!.id, '3');
      const both = await readToClose(`${url}?from=3`, { ...auth, 'last-event-id': '5' });
      assert.equal(both.frames[0]!.id, '6');
      assertSeqs(both.frames.slice(0, -1), 6, all.length);
      const pastEnd = await readToClose(url, { ...auth, 'last-event-id': String(all.length) });
      assert.deepEqual(
        pastEnd.frames.map((f) => f.type),
        ['end'],
      );
    });

    it('sends heartbeats on a quiet stream and ends when the execution is cancelled', async () => {
      const wf = await createWorkflow(h, {
        name: 'quiet',
        graph: { nodes: [{ id: 'gate', type: 'approval', message: 'ok?' }] },
      });
      const ex = await runWorkflow(h, wf.id);
      await waitForStatus(h, wf.id, ex.id, ['waiting']);
      const controller = new AbortController();
      const res = await fetch(`${base}${executionUrl(wf.id, ex.id)}/stream`, {
        headers: auth,
        signal: controller.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while ((text.match(/^: heartbeat$/gm) ?? []).length < 2) {
        const { value, done } = await reader.read();
        assert.equal(done, false, `stream closed early: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
      const cancel = await h.call('POST', `${executionUrl(wf.id, ex.id)}/cancel`, {});
      assert.equal(cancel.statusCode, 200, cancel.body);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      const frames = parseFrames(text);
      assert.deepEqual(frames.at(-1), { id: '', type: 'end', data: '{"status":"cancelled"}' });
      assert.ok(frames.some((f) => f.type === 'approval.requested'));
    });

    it('answers 404 for an execution of another workflow, 401 without a token, 400 for a bad Last-Event-ID', async () => {
      const wf = await createWorkflow(h, chain('not-mine', 1));
      const other = await createWorkflow(h, chain('other', 1));
      const ex = await runWorkflow(h, wf.id);
      for (const suffix of ['stream', 'logs', 'logs?follow=1']) {
        const wrong = await fetch(`${base}${executionUrl(other.id, ex.id)}/${suffix}`, {
          headers: auth,
        });
        assert.equal(wrong.status, 404);
        assert.equal(((await wrong.json()) as { code: string }).code, 'ERR_EXECUTION_NOT_FOUND');
        const anonymous = await fetch(`${base}${executionUrl(wf.id, ex.id)}/${suffix}`);
        assert.equal(anonymous.status, 401);
        await anonymous.body?.cancel();
      }
      const bad = await fetch(`${base}${executionUrl(wf.id, ex.id)}/stream`, {
        headers: { ...auth, 'last-event-id': 'abc' },
      });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      await waitForStatus(h, wf.id, ex.id, ['succeeded']);
    });

    it('drops a client that stops reading, with a bounded buffer and a reason', async () => {
      // ~24 MB of log lines: more than the kernel's socket buffers absorb for a paused reader.
      const wf = await createWorkflow(h, {
        name: 'loud',
        graph: {
          nodes: [
            {
              id: 'loud',
              type: 'command',
              run: `line=$(head -c 16000 /dev/zero | tr '\\0' x); i=0; while [ $i -lt 1500 ]; do echo "$line"; i=$((i+1)); done`,
            },
          ],
        },
      });
      const ex = await runWorkflow(h, wf.id);
      await waitForStatus(h, wf.id, ex.id, ['succeeded'], 60_000);
      const droppedBefore = h.yard.sse.stats.dropped.slow_client ?? 0;
      const { port } = new URL(base);
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(
        `GET ${executionUrl(wf.id, ex.id)}/logs HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${adminToken}\r\n\r\n`,
      );
      socket.pause(); // never reads
      await eventually(
        'the server to drop the stalled client',
        () => ((h.yard.sse.stats.dropped.slow_client ?? 0) > droppedBefore ? true : undefined),
        60_000,
      );
      // What the server kept for it stayed within the bound (1 MiB plus one frame).
      assert.ok(
        h.yard.sse.stats.maxUnsentAtDrop <= 1024 * 1024 + 64 * 1024,
        `${h.yard.sse.stats.maxUnsentAtDrop} bytes unsent`,
      );
      // Reading now yields what was in flight, the reason, and the end of the connection.
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.resume();
      await closed;
      const text = Buffer.concat(chunks).toString();
      assert.match(text, /^HTTP\/1\.1 200/);
      assert.match(text, /event: dropped\ndata: \{"reason":"slow_client"/);
      assert.doesNotMatch(text, /event: end/);
    });

    it('shows logs while the node runs: JSON, text, filters and follow with resume', async () => {
      const release = path.join(scratch, 'release');
      const wf = await createWorkflow(h, {
        name: 'logs',
        graph: {
          nodes: [
            {
              id: 'talk',
              type: 'command',
              run: `echo one; echo two >&2; while [ ! -f ${release} ]; do sleep 0.05; done; echo three`,
            },
            { id: 'after', type: 'command', needs: ['talk'], run: 'echo four' },
          ],
        },
      });
      const ex = await runWorkflow(h, wf.id);
      const logsUrl = `${executionUrl(wf.id, ex.id)}/logs`;
      // The first lines are there while the node still runs.
      await awaitLogs(h, ex.id, 'the first two lines', (lines) => lines.length >= 2);
      const early = (await h.call('GET', logsUrl)).json<{ items: { text: string }[] }>();
      assert.equal(
        (await h.call('GET', executionUrl(wf.id, ex.id)))
          .json<{ nodes: { nodeId: string; status: string }[] }>()
          .nodes.find((n) => n.nodeId === 'talk')!.status,
        'running',
      );
      assert.deepEqual(early.items.map((l) => l.text).sort(), ['one', 'two']);

      // Follow live, disconnect, resume with Last-Event-ID.
      const liveUrl = `${base}${logsUrl}?follow=1`;
      const first = follow(liveUrl, adminToken);
      await first.received(2);
      first.close();
      assert.ok(!existsSync(release));
      writeFileSync(release, '');
      const second = follow(`${base}${logsUrl}`, adminToken, first.events.at(-1)!.id);
      // A plain EventSource asks with Accept: text/event-stream.
      assert.equal((await second.ended).status, 'succeeded');
      const lines = [...first.events, ...second.events];
      assertSeqs(lines, 1, 4);
      assert.deepEqual(lines.map((e) => (JSON.parse(e.data) as { text: string }).text).slice(2), [
        'three',
        'four',
      ]);
      const line1 = JSON.parse(lines[0]!.data) as Record<string, unknown>;
      assert.deepEqual(Object.keys(line1).sort(), [
        'at',
        'attempt',
        'line',
        'nodeId',
        'stream',
        'text',
      ]);

      const all = (await h.call('GET', logsUrl)).json<{
        items: { line: number; nodeId: string; attempt: number; stream: string; text: string }[];
        nextAfter: number | null;
      }>();
      assert.equal(all.nextAfter, null);
      assert.deepEqual(
        all.items.map((l) => [l.line, l.nodeId, l.attempt, l.text]),
        lines.map((e) => {
          const l = JSON.parse(e.data) as {
            line: number;
            nodeId: string;
            attempt: number;
            text: string;
          };
          return [l.line, l.nodeId, l.attempt, l.text];
        }),
      );
      assert.equal(all.items.find((l) => l.text === 'two')!.stream, 'stderr');
      const byNode = (await h.call('GET', `${logsUrl}?node=after`)).json<{
        items: { text: string }[];
      }>();
      assert.deepEqual(
        byNode.items.map((l) => l.text),
        ['four'],
      );
      const byAttempt = (await h.call('GET', `${logsUrl}?node=talk&attempt=2`)).json<{
        items: unknown[];
      }>();
      assert.deepEqual(byAttempt.items, []);
      const afterTwo = (await h.call('GET', `${logsUrl}?after=2&limit=1`)).json<{
        items: { line: number }[];
        nextAfter: number | null;
      }>();
      assert.deepEqual(
        afterTwo.items.map((l) => l.line),
        [3],
      );
      assert.equal(afterTwo.nextAfter, 3);

      const text = await h.call('GET', `${logsUrl}?node=talk&attempt=1`, undefined, {
        headers: { accept: 'text/plain' },
      });
      assert.equal(text.statusCode, 200);
      assert.match(text.headers['content-type'] as string, /^text\/plain/);
      const textLines = text.body.split('\n').filter(Boolean);
      assert.equal(textLines.length, 3);
      assert.ok(textLines.includes('[talk#1 stdout] one'));
      assert.ok(textLines.includes('[talk#1 stderr] two'));
      assert.equal(textLines.at(-1), '[talk#1 stdout] three');

      // Following a finished execution with a resume point sends the rest and ends.
      const tail = await readToClose(`${base}${logsUrl}?after=3`, {
        ...auth,
        accept: 'text/event-stream',
      });
      assert.deepEqual(
        tail.frames.map((f) => [f.id, f.type]),
        [
          ['4', 'log'],
          ['', 'end'],
        ],
      );
    });
  });
}
