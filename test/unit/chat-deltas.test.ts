/**
 * The streamed reply of a chat turn (src/worker/chat-deltas.ts): what a node writes is sent in
 * merged pieces that make up the whole text, masked, with a secret value split across two writes
 * still masked (held back until it is whole).
 */
import assert from 'node:assert/strict';
import { describe, it } from '../helpers/suite.ts';
import { SecretMasker } from '../../src/secrets/masker.ts';
import { ReplyDeltas } from '../../src/worker/chat-deltas.ts';

const secret = 'hunter2-swordfish';

/** ReplyDeltas whose sends are recorded; `sent(n)` resolves once n pieces were sent. */
function recorder(masker: SecretMasker) {
  const pieces: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const deltas = new ReplyDeltas(
    masker,
    (text) => {
      pieces.push(text);
      for (const w of waiters.filter((w) => pieces.length >= w.n)) w.resolve();
      return Promise.resolve();
    },
    (err) => assert.fail(String(err)),
  );
  const sent = (n: number) =>
    pieces.length >= n
      ? Promise.resolve()
      : new Promise<void>((r) => waiters.push({ n, resolve: r }));
  return { deltas, pieces, sent };
}

describe('chat reply deltas', () => {
  it('sends what was written, merged, and everything left at the close', async () => {
    const { deltas, pieces } = recorder(new SecretMasker([]));
    for (const t of ['Par', 'is is ', 'the capital', '.']) deltas.push(t);
    await deltas.close();
    assert.equal(pieces.join(''), 'Paris is the capital.');
    // Written within one merge interval: one piece, not one per write.
    assert.equal(pieces.length, 1);
    deltas.push('late');
    assert.equal(pieces.join(''), 'Paris is the capital.');
  });

  it('masks a secret value split across two merges', async () => {
    const masker = new SecretMasker([secret]);
    const { deltas, pieces, sent } = recorder(masker);
    const first = `A preamble long enough to be sent before the rest arrives. The key is ${secret.slice(0, 8)}`;
    const second = `${secret.slice(8)}, keep it safe.`;
    deltas.push(first);
    await sent(1);
    deltas.push(second);
    await deltas.close();
    assert.ok(pieces.length >= 2, JSON.stringify(pieces));
    assert.ok(
      pieces.every((p) => !p.includes(secret.slice(0, 6)) && !p.includes(secret.slice(-6))),
      JSON.stringify(pieces),
    );
    assert.equal(pieces.join(''), masker.mask(first + second));
    assert.match(pieces.join(''), /The key is \*\*\*, keep it safe\.$/);
  });

  it('cuts a stream before a value that straddles the held-back tail', () => {
    const masker = new SecretMasker([secret]);
    const text = `abc ${secret}${'x'.repeat(5)}`;
    const cut = masker.safeCut(text);
    assert.ok(cut <= 4, `cut at ${cut}`);
    assert.equal(new SecretMasker([]).safeCut(text), text.length);
  });
});
