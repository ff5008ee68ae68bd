/**
 * The egress policy through the real server: `http` nodes run by the server's worker against
 * listeners this test starts on loopback. The policy does not depend on the database, so one
 * dialect is enough.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { skipFor } from '../helpers/dialects.ts';
import { startLocalServer } from '../helpers/exec-context.ts';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

type Listener = Awaited<ReturnType<typeof startLocalServer>>;

describe('egress policy of http nodes (sqlite)', { skip: await skipFor('sqlite') }, () => {
  let a: Listener;
  let b: Listener;
  const hits = { a: 0, b: 0 };
  let closed: Harness;
  let allowed: Harness;

  before(async () => {
    b = await startLocalServer((_req, res) => {
      hits.b += 1;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('b');
    });
    a = await startLocalServer((req, res) => {
      hits.a += 1;
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `${b.url}/landed` });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('a');
    });
    closed = await startHarness('sqlite');
    // Only listener A's port: B is another loopback port, refused even after a redirect.
    allowed = await startHarness('sqlite', {
      config: { egressAllow: [`127.0.0.1:${new URL(a.url).port}`] },
    });
  });
  after(async () => {
    await closed?.close();
    await allowed?.close();
    await a?.close();
    await b?.close();
  });

  /** Runs one http node (three attempts allowed) to its end; answers the node's detail. */
  const call = async (h: Harness, name: string, url: string) => {
    const wf = await createWorkflow(h, {
      name,
      graph: {
        nodes: [
          {
            id: 'call',
            type: 'http',
            url,
            retry: { maxAttempts: 3, initialInterval: '100ms' },
          },
        ],
      },
    });
    const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
    return { status: done.status, node: nodeOf(done, 'call') };
  };

  it('refuses a loopback listener by default, once, naming the address and the setting', async () => {
    hits.a = 0;
    const { status, node } = await call(closed, 'egress-default', `${a.url}/ok`);
    assert.equal(status, 'failed');
    assert.equal(node.error.code, 'ERR_EGRESS_FORBIDDEN');
    assert.equal(node.attempt, 1, 'not retried');
    const port = new URL(a.url).port;
    assert.match(node.error.message, new RegExp(`127\\.0\\.0\\.1 port ${port} is forbidden`));
    assert.match(node.error.message, /loopback/);
    assert.match(node.error.message, /egressAllow \(SWITCHYARD_EGRESS_ALLOW\)/);
    assert.equal(hits.a, 0, 'no connection reached the listener');
  });

  it('reaches the listener once egressAllow names its address and port', async () => {
    hits.a = 0;
    const { status, node } = await call(allowed, 'egress-allowed', `${a.url}/ok`);
    assert.equal(status, 'succeeded', JSON.stringify(node.error));
    assert.equal(node.outputs.status, 200);
    assert.equal(node.outputs.body, 'a');
    assert.equal(hits.a, 1);
  });

  it('refuses a redirect from the allowed listener to another loopback port', async () => {
    hits.a = 0;
    hits.b = 0;
    const { status, node } = await call(allowed, 'egress-redirect', `${a.url}/redirect`);
    assert.equal(status, 'failed');
    assert.equal(node.error.code, 'ERR_EGRESS_FORBIDDEN');
    assert.equal(node.attempt, 1, 'not retried');
    const port = new URL(b.url).port;
    assert.match(node.error.message, new RegExp(`127\\.0\\.0\\.1 port ${port} is forbidden`));
    assert.equal(hits.a, 1, 'the allowed listener answered the redirect');
    assert.equal(hits.b, 0, 'the redirect target was never contacted');
  });
});
