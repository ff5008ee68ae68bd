/**
 * The egress connector with a scripted resolver (the DNS answers a rebinding attacker would give)
 * and a real listener on 127.0.0.1: the connection goes to the address that was checked.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fetch } from 'undici';
import {
  type AddressLookup,
  EgressForbiddenError,
  createEgressClients,
} from '../../src/egress/dispatcher.ts';
import { startLocalServer } from '../helpers/exec-context.ts';

describe('egress dispatcher', () => {
  let server: Awaited<ReturnType<typeof startLocalServer>>;
  let port = '';
  const hosts: string[] = [];
  const sockets = new Set<Socket>();

  before(async () => {
    server = await startLocalServer((req, res) => {
      hosts.push(req.headers.host ?? '');
      sockets.add(req.socket);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('pinned');
    });
    port = new URL(server.url).port;
  });
  after(() => server.close());

  /** Answers `answers` for every name, counting the lookups. */
  const scripted = (answers: string[]) => {
    const names: string[] = [];
    const resolve: AddressLookup = (hostname) => {
      names.push(hostname);
      return Promise.resolve(answers);
    };
    return { resolve, names };
  };

  it('connects to the first allowed address of the answer, keeping the host name', async () => {
    const dns = scripted(['169.254.169.254', '127.0.0.1']);
    const clients = createEgressClients(
      { egressAllow: ['127.0.0.1/32'], llmBaseUrls: [] },
      dns.resolve,
    );
    try {
      hosts.length = 0;
      sockets.clear();
      for (let i = 0; i < 4; i++) {
        const response = await fetch(`http://app.test:${port}/`, { dispatcher: clients.workflow });
        assert.equal(await response.text(), 'pinned');
      }
      // app.test exists only in the scripted answer: reaching the listener means the connector
      // connected to the address it checked. One lookup per new connection, none per request.
      assert.equal(dns.names.length, sockets.size);
      assert.ok(sockets.size < 4, `keep-alive reuses connections (${sockets.size} for 4 requests)`);
      assert.deepEqual(hosts, Array(4).fill(`app.test:${port}`));
    } finally {
      await clients.close();
    }
  });

  it('fails with every refused address and why when none is allowed', async () => {
    const dns = scripted(['127.0.0.1', 'fd00::5']);
    const clients = createEgressClients({ egressAllow: [], llmBaseUrls: [] }, dns.resolve);
    try {
      hosts.length = 0;
      const error = await fetch(`http://app.test:${port}/`, { dispatcher: clients.workflow }).then(
        () => assert.fail('the request went through'),
        (err: unknown) => (err as { cause?: unknown }).cause,
      );
      assert.ok(error instanceof EgressForbiddenError, String(error));
      assert.equal(error.hostname, 'app.test');
      assert.equal(error.port, Number(port));
      assert.deepEqual(
        error.refused.map((r) => r.address),
        ['127.0.0.1', 'fd00::5'],
      );
      assert.match(error.message, /127\.0\.0\.1 is loopback .*fd00::5 is unique local/);
      assert.match(error.message, /add the address or the host name to egressAllow/);
      assert.deepEqual(hosts, []);
    } finally {
      await clients.close();
    }
  });

  it('trusts a provider origin for llm calls only', async () => {
    const dns = scripted(['127.0.0.1']);
    const clients = createEgressClients(
      { egressAllow: [], llmBaseUrls: [`http://llm.test:${port}/v1`] },
      dns.resolve,
    );
    try {
      const viaLlm = await fetch(`http://llm.test:${port}/v1/x`, { dispatcher: clients.llm });
      assert.equal(await viaLlm.text(), 'pinned');
      await assert.rejects(
        fetch(`http://llm.test:${port}/v1/x`, { dispatcher: clients.workflow }),
        (err: { cause?: unknown }) => err.cause instanceof EgressForbiddenError,
      );
    } finally {
      await clients.close();
    }
  });
});
