/**
 * Webhook retries of trigger rules survive a restart, on both dialects: a delivery answered 503
 * leaves its next attempt in the database; the server stops; a new server on the same database,
 * driven by the same fake clock, sends that attempt when it is due, and the receiver sees it once.
 */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from '../helpers/suite.ts';
import { type DialectPlace, dialectNames, freshPlace, skipFor } from '../helpers/dialects.ts';
import { adminToken, composeOn } from '../helpers/harness.ts';
import type { Switchyard } from '../../src/server.ts';

const T0 = Date.parse('2026-04-01T12:00:00.000Z');

for (const dialect of dialectNames) {
  describe(
    `trigger rule retries across a restart (${dialect})`,
    { skip: await skipFor(dialect) },
    () => {
      let t = T0;
      const clock = { now: () => new Date(t) };
      let place: DialectPlace;
      let server: Server;
      let url: string;
      const received: string[] = [];
      const answers = [503];
      before(async () => {
        place = freshPlace(dialect);
        server = createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            received.push(Buffer.concat(chunks).toString('utf8'));
            res.writeHead(answers.shift() ?? 204).end();
          });
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
      });
      after(async () => {
        server?.closeAllConnections();
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
        await place?.cleanup();
      });

      /** A server on the test's database; the worker is off: only the rules loop matters here. */
      const compose = (): Promise<Switchyard> =>
        composeOn(place, { clock, config: { egressAllow: ['127.0.0.1'] }, startWorker: false });

      const call = (yard: Switchyard, method: 'GET' | 'POST', path: string, body?: object) =>
        yard.app.inject({
          method,
          url: path,
          headers: { authorization: `Bearer ${adminToken}` },
          ...(body !== undefined && { payload: body }),
        });

      it('sends the stored next attempt from the new server', async () => {
        const first = await compose();
        let ruleId: string;
        try {
          const created = await call(first, 'POST', '/api/v1/triggers', {
            name: 'notify',
            event: 'build.done',
            action: { type: 'webhook', url },
          });
          assert.equal(created.statusCode, 201, created.body);
          ruleId = created.json<{ id: string }>().id;
          const event = await call(first, 'POST', '/api/v1/events', { type: 'build.done' });
          assert.equal(event.statusCode, 201, event.body);
          await first.rules.tick();
          assert.equal(received.length, 1);
        } finally {
          await first.close();
        }

        const second = await compose();
        try {
          t += 1000;
          await second.rules.tick();
          assert.equal(received.length, 2, 'the retry was sent by the new server');
          assert.equal(received[1], received[0], 'the same event');
          await second.rules.tick();
          assert.equal(received.length, 2, 'once');
          const res = await call(second, 'GET', `/api/v1/triggers/${ruleId}/deliveries`);
          const items = res.json<{
            items: { attempt: number; state: string; httpStatus: number }[];
          }>().items;
          assert.deepEqual(items.map((d) => [d.attempt, d.state, d.httpStatus]).sort(), [
            [1, 'retried', 503],
            [2, 'delivered', 204],
          ]);
        } finally {
          await second.close();
        }
      });
    },
  );
}
