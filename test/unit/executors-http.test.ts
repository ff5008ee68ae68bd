import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { after, before, describe, it } from 'node:test';
import type { GraphNode } from '../../src/definition/model.ts';
import {
  createExecFixture,
  runNode,
  startLocalServer,
  failed,
  succeeded,
} from '../helpers/exec-context.ts';

const http = (url: string, more: Record<string, unknown> = {}): GraphNode => ({
  id: 'call',
  type: 'http',
  url,
  ...more,
});

/** The test servers listen on loopback, which the egress policy refuses unless allowed. */
const loopback = { egressAllow: ['127.0.0.1'] };
const run = (node: GraphNode, opts: Parameters<typeof runNode>[1] = {}) =>
  runNode(node, { ...loopback, ...opts });

describe('http executor', () => {
  let server: Awaited<ReturnType<typeof startLocalServer>>;
  let base = '';
  /** Fires when a request reaches /hang (which never answers). */
  let hangReached: () => void = () => {};

  before(async () => {
    server = await startLocalServer((req, res, body) => {
      const url = new URL(req.url ?? '/', 'http://x');
      switch (url.pathname) {
        case '/json':
          res.writeHead(200, {
            'content-type': 'application/json; charset=utf-8',
            'X-Trace': 't1',
          });
          res.end(JSON.stringify({ ok: true, items: [1, 2] }));
          return;
        case '/text':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('hello');
          return;
        case '/echo':
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
          return;
        case '/status': {
          const headers: Record<string, string> = { 'content-type': 'text/plain' };
          const retryAfter = url.searchParams.get('retryAfter');
          if (retryAfter !== null) headers['retry-after'] = retryAfter;
          res.writeHead(Number(url.searchParams.get('code')), headers);
          res.end('status body');
          return;
        }
        case '/big':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('y'.repeat(2 * 1024 * 1024));
          return;
        case '/hang':
          hangReached();
          return;
        default:
          res.writeHead(404);
          res.end();
      }
    });
    base = server.url;
  });
  after(() => server.close());

  it('returns status, lowercased headers and a parsed JSON body, and logs the request', async () => {
    const { result, fixture } = await run(http(`${base}/json`));
    const outputs = succeeded(result);
    assert.equal(outputs.status, 200);
    assert.deepEqual(outputs.body, { ok: true, items: [1, 2] });
    const headers = outputs.headers as Record<string, string>;
    assert.equal(headers['x-trace'], 't1');
    assert.equal(headers['content-type'], 'application/json; charset=utf-8');
    const lines = fixture.text('system');
    assert.equal(lines.length, 1);
    assert.ok(lines[0]!.startsWith(`GET ${base}/json → 200 (`), lines[0]);
  });

  it('returns a text body as text', async () => {
    const outputs = succeeded((await run(http(`${base}/text`))).result);
    assert.equal(outputs.body, 'hello');
  });

  it('sends an object body as JSON and a string body as it is', async () => {
    const json = succeeded(
      (
        await run(
          http(`${base}/echo`, {
            method: 'POST',
            headers: { 'X-Token': 'abc' },
            body: { name: 'x', n: 1 },
          }),
        )
      ).result,
    );
    const echoed = json.body as { method: string; headers: Record<string, string>; body: string };
    assert.equal(json.status, 201);
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.headers['content-type'], 'application/json');
    assert.equal(echoed.headers['x-token'], 'abc');
    assert.deepEqual(JSON.parse(echoed.body), { name: 'x', n: 1 });

    const text = succeeded(
      (
        await run(
          http(`${base}/echo`, {
            method: 'PUT',
            headers: { 'content-type': 'text/csv' },
            body: 'a,b\n1,2',
          }),
        )
      ).result,
    );
    const raw = text.body as { headers: Record<string, string>; body: string };
    assert.equal(raw.headers['content-type'], 'text/csv');
    assert.equal(raw.body, 'a,b\n1,2');
  });

  it('fails on a status other than expectStatus, not retryable for a 2xx or 4xx', async () => {
    const error = failed((await run(http(`${base}/json`, { expectStatus: 202 }))).result);
    assert.equal(error.code, 'ERR_HTTP_STATUS');
    assert.equal(error.retryable, false);
    assert.match(error.message, /answered 200, expected 202/);

    const listed = await run(http(`${base}/status?code=404`, { expectStatus: [200, 404] }));
    assert.equal(succeeded(listed.result).status, 404);

    const notFound = await run(http(`${base}/status?code=404`));
    const notFoundError = failed(notFound.result);
    assert.equal(notFoundError.code, 'ERR_HTTP_STATUS');
    assert.equal(notFoundError.retryable, false);
    assert.match(notFoundError.message, /status body/);
    assert.equal(notFound.result.outputs?.status, 404);
  });

  it('marks 503 and 429 retryable and honours Retry-After', async () => {
    const unavailable = failed((await run(http(`${base}/status?code=503&retryAfter=7`))).result);
    assert.equal(unavailable.code, 'ERR_HTTP_STATUS');
    assert.equal(unavailable.retryable, true);
    assert.equal(unavailable.retryAfterMs, 7000);

    const date = new Date(Date.now() + 3_600_000).toUTCString();
    const limited = failed(
      (await run(http(`${base}/status?code=429&retryAfter=${encodeURIComponent(date)}`))).result,
    );
    assert.equal(limited.retryable, true);
    assert.ok(limited.retryAfterMs! > 0 && limited.retryAfterMs! <= 3_600_000);

    const noHeader = failed((await run(http(`${base}/status?code=500`))).result);
    assert.equal(noHeader.retryable, true);
    assert.equal(noHeader.retryAfterMs, undefined);
  });

  it('times out a request that gets no answer', async () => {
    const { result, fixture } = await run(http(`${base}/hang`), { timeoutMs: 200 });
    const error = failed(result);
    assert.equal(error.code, 'ERR_NODE_TIMEOUT');
    assert.equal(error.retryable, true);
    assert.match(fixture.text('system')[0]!, /→ timeout/);
  });

  it('stops a request when cancelled', async () => {
    const fixture = await createExecFixture(http(`${base}/hang`), loopback);
    try {
      hangReached = () => fixture.controller.abort('cancelled');
      const error = failed(await fixture.run());
      assert.equal(error.code, 'ERR_CANCELLED');
      assert.equal(error.retryable, false);
    } finally {
      hangReached = () => {};
      await fixture.dispose();
    }
  });

  it('reports a refused connection as a retryable network error', async () => {
    const closed = await startLocalServer(() => {});
    await closed.close();
    const error = failed((await run(http(`${closed.url}/x`))).result);
    assert.equal(error.code, 'ERR_HTTP_NETWORK');
    assert.equal(error.retryable, true);
    assert.match(error.message, /ECONNREFUSED/);
  });

  it('caps the body at 1 MiB with a log line', async () => {
    const { result, fixture } = await run(http(`${base}/big`));
    const outputs = succeeded(result);
    assert.equal((outputs.body as string).length, 1024 * 1024);
    assert.match(fixture.text('system').join('\n'), /larger than 1048576 bytes/);
  });

  it('refuses bad config without sending anything', async () => {
    for (const node of [
      http('ftp://127.0.0.1/x'),
      http(`${base}/json`, { body: { a: 1 } }),
      http(`http://user:pw@127.0.0.1/x`),
    ]) {
      const error = failed((await run(node)).result);
      assert.equal(error.code, 'ERR_NODE_CONFIG');
      assert.equal(error.retryable, false);
    }
  });
});

describe('http executor and the egress policy', () => {
  let server: Awaited<ReturnType<typeof startLocalServer>>;
  let port = '';
  let hits = 0;

  before(async () => {
    server = await startLocalServer((_req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('reached');
    });
    port = new URL(server.url).port;
  });
  after(() => server.close());

  it('refuses loopback by default without connecting, naming the address and the setting', async () => {
    hits = 0;
    const { result, fixture } = await runNode(http(`${server.url}/x`));
    const error = failed(result);
    assert.equal(error.code, 'ERR_EGRESS_FORBIDDEN');
    assert.equal(error.retryable, false);
    assert.match(
      error.message,
      new RegExp(
        `^GET ${server.url}/x: egress to 127\\.0\\.0\\.1 port ${port} is forbidden: 127\\.0\\.0\\.1 is loopback .*add it to egressAllow \\(SWITCHYARD_EGRESS_ALLOW\\)`,
      ),
    );
    assert.match(fixture.text('system')[0]!, /→ error: egress to 127\.0\.0\.1/);
    assert.equal(hits, 0);
  });

  it('checks the address a host name resolves to, and IPv6 and IPv4-mapped literals', async () => {
    const viaName = failed((await runNode(http(`http://localhost:${port}/x`))).result);
    assert.equal(viaName.code, 'ERR_EGRESS_FORBIDDEN');
    assert.match(
      viaName.message,
      /egress to localhost port \d+ is forbidden: (127\.0\.0\.1|::1) is loopback/,
    );
    assert.match(viaName.message, /add the address or the host name to egressAllow/);
    for (const url of [`http://[::1]:${port}/x`, `http://[::ffff:127.0.0.1]:${port}/x`]) {
      const error = failed((await runNode(http(url))).result);
      assert.equal(error.code, 'ERR_EGRESS_FORBIDDEN', url);
      assert.match(error.message, /is loopback/);
    }
    assert.equal(hits, 0);
  });

  it('lets through what egressAllow names: the address and port, or the host name', async (t) => {
    hits = 0;
    const byPort = await runNode(http(`${server.url}/x`), { egressAllow: [`127.0.0.1:${port}`] });
    assert.equal(succeeded(byPort.result).body, 'reached');
    // The connector takes the first address the name resolves to; the server is on 127.0.0.1 only.
    if ((await lookup('localhost')).address === '127.0.0.1') {
      const byName = await runNode(http(`http://localhost:${port}/x`), {
        egressAllow: [`localhost:${port}`],
      });
      assert.equal(succeeded(byName.result).body, 'reached');
    } else {
      t.diagnostic('localhost resolves to ::1 first here; the host-name entry is not exercised');
      hits += 1;
    }
    assert.equal(hits, 2);
    const otherPort = await runNode(http(`${server.url}/x`), { egressAllow: ['127.0.0.1:1'] });
    assert.equal(failed(otherPort.result).code, 'ERR_EGRESS_FORBIDDEN');
    assert.equal(hits, 2);
  });
});
