import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { githubPayload, mapGithubDelivery } from '../../src/triggers/github.ts';
import { signGeneric, verifyGeneric, verifyGithub } from '../../src/triggers/signature.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/github/${name}.json`, import.meta.url));

describe('webhook signatures', () => {
  const secret = 'whsec_test';
  const body = Buffer.from('{"hello":"world"}');
  const now = 1_800_000_000;

  it('a generic delivery signed over "<timestamp>.<body>" passes inside the window', () => {
    const h = signGeneric(secret, body, now);
    const expected = createHmac('sha256', secret).update(`${now}.{"hello":"world"}`).digest('hex');
    assert.equal(h['x-switchyard-signature'], `sha256=${expected}`);
    const headers = {
      timestamp: h['x-switchyard-timestamp'],
      signature: h['x-switchyard-signature'],
    };
    assert.deepEqual(verifyGeneric(secret, body, headers, now + 299), {
      ok: true,
      signature: expected,
    });
    assert.equal(verifyGeneric(secret, body, headers, now - 299).ok, true);
  });

  it('refuses a wrong secret, a changed body, an old or future timestamp, missing headers', () => {
    const h = signGeneric(secret, body, now);
    const headers = {
      timestamp: h['x-switchyard-timestamp'],
      signature: h['x-switchyard-signature'],
    };
    const cases: [string, ReturnType<typeof verifyGeneric>, RegExp][] = [
      ['other secret', verifyGeneric('other', body, headers, now), /does not match/],
      [
        'changed body',
        verifyGeneric(secret, Buffer.from('{"hello":"x"}'), headers, now),
        /does not match/,
      ],
      ['too old', verifyGeneric(secret, body, headers, now + 301), /300 s/],
      ['from the future', verifyGeneric(secret, body, headers, now - 301), /300 s/],
      [
        'no signature',
        verifyGeneric(secret, body, { ...headers, signature: undefined }, now),
        /required/,
      ],
      [
        'bad format',
        verifyGeneric(secret, body, { ...headers, signature: 'md5=abc' }, now),
        /sha256=/,
      ],
      [
        'timestamp moved',
        verifyGeneric(secret, body, { ...headers, timestamp: String(now + 1) }, now),
        /does not match/,
      ],
    ];
    for (const [name, verdict, why] of cases) {
      assert.equal(verdict.ok, false, name);
      if (!verdict.ok) assert.match(verdict.reason, why, name);
    }
  });

  it("checks GitHub's X-Hub-Signature-256 over the raw body", () => {
    const raw = fixture('push');
    const sig = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
    assert.equal(verifyGithub(secret, raw, sig).ok, true);
    assert.equal(verifyGithub(secret, raw, sig.toUpperCase().replace('SHA256', 'sha256')).ok, true);
    assert.equal(verifyGithub('wrong', raw, sig).ok, false);
    assert.equal(verifyGithub(secret, raw, undefined).ok, false);
  });
});

describe('GitHub deliveries as platform events', () => {
  it('maps push to git.push with the branch, every changed path and the repository', () => {
    const out = mapGithubDelivery('push', githubPayload(fixture('push'), 'application/json'));
    assert.equal(out.kind, 'event');
    if (out.kind !== 'event') return;
    assert.equal(out.type, 'git.push');
    assert.equal(out.subject, 'octo-org/octo-repo@main');
    assert.equal(out.data.branch, 'main');
    assert.deepEqual(out.data.paths, ['README.md', 'scripts/old.sh', 'src/new.ts']);
    assert.equal(out.data.repository, 'octo-org/octo-repo');
    assert.equal(out.data.commits, 2);
  });

  it('reads form-encoded deliveries (payload=) like JSON ones', () => {
    const form = Buffer.from(`payload=${encodeURIComponent(fixture('push').toString())}`);
    const out = mapGithubDelivery('push', githubPayload(form, 'application/x-www-form-urlencoded'));
    assert.equal(out.kind === 'event' && out.type, 'git.push');
  });

  it('maps pull_request actions to pr.opened, pr.updated, pr.merged and pr.closed', () => {
    const merged = JSON.parse(fixture('pull_request-closed-merged').toString());
    const out = mapGithubDelivery('pull_request', merged);
    assert.equal(out.kind, 'event');
    if (out.kind !== 'event') return;
    assert.equal(out.type, 'pr.merged');
    assert.equal(out.subject, 'pr/42');
    assert.equal(out.data.branch, 'main', 'branches: filters match the base branch');
    assert.equal(out.data.headBranch, 'changes');
    assert.equal(out.data.repository, 'octo-org/octo-repo');
    const as = (action: string, prMerged: boolean) =>
      mapGithubDelivery('pull_request', {
        ...merged,
        action,
        pull_request: { ...merged.pull_request, merged: prMerged },
      });
    const typeOf = (o: ReturnType<typeof mapGithubDelivery>) =>
      o.kind === 'event' ? o.type : o.kind;
    assert.equal(typeOf(as('opened', false)), 'pr.opened');
    assert.equal(typeOf(as('reopened', false)), 'pr.opened');
    assert.equal(typeOf(as('synchronize', false)), 'pr.updated');
    assert.equal(typeOf(as('closed', false)), 'pr.closed');
    assert.equal(typeOf(as('labeled', false)), 'ignored');
  });

  it('answers ping, maps tags, and ignores deleted refs and unmapped events', () => {
    assert.deepEqual(mapGithubDelivery('ping', { zen: 'Design for failure.' }), {
      kind: 'ping',
      zen: 'Design for failure.',
    });
    const push = JSON.parse(fixture('push').toString());
    const tag = mapGithubDelivery('push', { ...push, ref: 'refs/tags/v1.2.0' });
    assert.equal(tag.kind === 'event' && tag.type, 'git.tag');
    assert.equal(mapGithubDelivery('push', { ...push, deleted: true }).kind, 'ignored');
    assert.equal(mapGithubDelivery('issues', { action: 'opened' }).kind, 'ignored');
    assert.equal(githubPayload(Buffer.from('not json'), 'application/json'), undefined);
  });
});
