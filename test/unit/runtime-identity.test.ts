/** Who sandboxed commands run as (src/runtime/identity.ts): policies, uid allocation, ownership. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  IdentityAllocator,
  identityPolicy,
  parseUidRange,
  resolveUser,
} from '../../src/runtime/identity.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'sy-identity-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('sandbox identity', () => {
  it('parses uid ranges and users, refusing root and nonsense', () => {
    assert.deepEqual(parseUidRange('200000-200009'), [200000, 200009]);
    assert.deepEqual(parseUidRange(''), [3_000_000, 3_999_999]);
    for (const bad of ['5-1', '0-10', 'abc', '100000-99999', '1000'])
      assert.throws(() => parseUidRange(bad), /sandboxUidRange/, bad);
    assert.deepEqual(resolveUser('nobody'), { uid: 65534, gid: 65534, name: 'nobody' });
    assert.deepEqual(resolveUser('1234:5678'), { uid: 1234, gid: 5678, name: 'sandbox' });
    assert.throws(() => resolveUser('root'), /root/);
    assert.throws(() => resolveUser('0'), /root/);
    assert.throws(() => resolveUser('no-such-user-here'), /not a user/);
  });

  it('switches users only on a root server', () => {
    assert.deepEqual(identityPolicy('auto', '', 1000), { kind: 'server' });
    assert.deepEqual(identityPolicy('auto', '', 0), {
      kind: 'range',
      first: 3_000_000,
      last: 3_999_999,
    });
    assert.equal(identityPolicy('nobody', '', 0).kind, 'fixed');
  });

  it('gives live executions distinct uids, keeps a uid across restarts, and frees it', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('chown needs root');
    // A range of two: the second execution must not get the first one's uid.
    const policy = identityPolicy('auto', '4100000-4100001', 0);
    const first = new IdentityAllocator(policy);
    const wsA = path.join(scratch, 'a');
    const wsB = path.join(scratch, 'b');
    const a = await first.claim('exec_a', wsA);
    const b = await first.claim('exec_b', wsB);
    assert.ok(a && b);
    assert.notEqual(a.uid, b.uid);
    assert.equal(statSync(wsA).uid, a.uid);
    assert.equal(statSync(wsA).mode & 0o777, 0o700);
    await assert.rejects(first.claim('exec_c', path.join(scratch, 'c')), /in use/);
    first.release('exec_a');
    assert.ok(await first.claim('exec_c', path.join(scratch, 'c')));
    // A restarted server finds the uid in the workspace's owner.
    const again = new IdentityAllocator(policy);
    assert.equal((await again.claim('exec_b', wsB))?.uid, b.uid);
  });
});
