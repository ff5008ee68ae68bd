/**
 * The events a stream serves from the worker's hand-over (services/stream-tail.ts): whatever
 * this process's worker and other writers commit, in any order, a read served from the tail is
 * exactly what the table holds after the cursor, and the end is reported only at the real end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ExecutionStatus } from '../../src/engine/status.ts';
import { type StreamEvent, StreamTails } from '../../src/services/stream-tail.ts';

const ev = (seq: number): StreamEvent => ({
  seq,
  type: 'node.status',
  data: `{"seq":${seq}}`,
  at: '2026-12-07T00:00:00.000Z',
});

describe('stream tails', () => {
  it('serves consecutive hand-overs and reads the table once another writer was heard', () => {
    const tails = new StreamTails();
    tails.committed('e', [ev(2), ev(3)], 'running');
    tails.committed('e', [ev(4)], 'running');
    assert.deepEqual(tails.read('e', 2, 10), { items: [ev(3), ev(4)], end: null });
    assert.deepEqual(tails.read('e', 4, 10), { items: [], end: null });
    // A cursor before the tail, or past it (another writer's rows were read), reads the table.
    assert.equal(tails.read('e', 0, 10), undefined);
    assert.equal(tails.read('e', 5, 10), undefined);
    assert.deepEqual(tails.read('e', 1, 2), { items: [ev(2), ev(3)], end: null });
    // A hand-over that does not follow the tail starts it anew.
    tails.committed('e', [ev(7)], 'succeeded');
    assert.equal(tails.read('e', 4, 10), undefined);
    assert.deepEqual(tails.read('e', 6, 10), { items: [ev(7)], end: 'succeeded' });
    tails.forget('e');
    assert.equal(tails.read('e', 6, 10), undefined);
  });

  it('never serves anything but the table after the cursor (any interleaving)', () => {
    const op = fc.oneof(
      fc.record({ who: fc.constant('own' as const), n: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ who: fc.constant('other' as const), n: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ who: fc.constant('read' as const), after: fc.nat(40), limit: fc.nat(5) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.boolean(), (ops, endsAtLast) => {
        const tails = new StreamTails();
        const table: StreamEvent[] = [];
        let status: ExecutionStatus = 'running';
        ops.forEach((o, i) => {
          if (o.who === 'read') {
            const got = tails.read('e', o.after, o.limit);
            if (got === undefined) return;
            const want = table.filter((e) => e.seq > o.after).slice(0, o.limit);
            assert.deepEqual(got.items, want);
            const reached = want.at(-1)?.seq ?? o.after;
            const atEnd = status !== 'running' && reached >= table.length;
            assert.equal(got.end, atEnd ? status : null);
            return;
          }
          const rows = Array.from({ length: o.n }, (_, k) => ev(table.length + k + 1));
          table.push(...rows);
          if (endsAtLast && i === ops.length - 1) status = 'succeeded';
          // The worker hands over what it committed; another writer's commit is heard later.
          if (o.who === 'own') tails.committed('e', rows, status);
          else tails.forget('e');
        });
      }),
    );
  });
});
