/**
 * Masking of secret values (src/secrets/masker.ts) and the scan of which secrets a text names
 * (src/secrets/references.ts): the forms masked, the lines of a multi-line value, base64 inside
 * longer base64 text at each byte offset, every string of an output.
 */
import assert from 'node:assert/strict';
import { describe, it } from '../helpers/suite.ts';
import { SecretMasker } from '../../src/secrets/masker.ts';
import { secretNamesIn } from '../../src/secrets/references.ts';

describe('secret masker', () => {
  const value = 'p@ss w/rd+"x"';
  const masker = new SecretMasker([value]);

  it('masks the value, JSON-escaped and URL-encoded', () => {
    assert.equal(masker.mask(`a ${value} b`), 'a *** b');
    assert.equal(masker.mask(JSON.stringify({ v: value })), '{"v":"***"}');
    assert.equal(masker.mask(`u=${encodeURIComponent(value)}`), 'u=***');
    assert.equal(masker.mask(new URLSearchParams({ u: value }).toString()), 'u=***');
  });

  it('masks base64 alone and inside longer base64 text at each byte offset', () => {
    assert.equal(masker.mask(Buffer.from(value).toString('base64')), '***');
    for (const prefix of ['', 'a', 'ab', 'abc', 'user:']) {
      const encoded = Buffer.from(`${prefix}${value}!tail`).toString('base64');
      const masked = masker.mask(encoded);
      assert.match(masked, /\*\*\*/, `${prefix}: ${encoded}`);
      // Only the 4-character groups that also encode bytes before the value remain before it.
      const left = masked.slice(0, masked.indexOf('***'));
      assert.ok(left.length <= 4 * Math.ceil(prefix.length / 3), `${prefix}: ${masked}`);
    }
  });

  it('masks a multi-line value whole and line by line, leaving short lines alone', () => {
    const m = new SecretMasker(['-----BEGIN-----\nline two here\n}\n\n-----END-----\n']);
    assert.equal(m.mask('line two here'), '***');
    assert.equal(m.mask('x -----END----- y'), 'x *** y');
    assert.equal(m.mask('}'), '}');
    assert.equal(m.mask('-----BEGIN-----\nline two here\n}\n\n-----END-----\n'), '***');
  });

  it('masks every string of an output, keys included', () => {
    assert.deepEqual(masker.maskDeep({ [value]: [value, 1, { v: `=${value}` }], n: null }), {
      '***': ['***', 1, { v: '=***' }],
      n: null,
    });
  });

  it('holds back the longest form minus one; masks nothing without values', () => {
    const empty = new SecretMasker([]);
    assert.equal(empty.empty, true);
    assert.equal(empty.holdback, 0);
    assert.equal(empty.mask('anything'), 'anything');
    // The longest form of 'abcd' is its padded base64, YWJjZA==.
    assert.equal(new SecretMasker(['abcd']).holdback, 7);
    assert.equal(new SecretMasker(['ab']).empty, true);
  });
});

describe('secret names in a text', () => {
  it('finds names inside expressions only, in each form, JSON-escaped too', () => {
    const text = JSON.stringify({
      env: {
        A: '${{ secrets.ONE }} and ${{ secrets["TWO"] + secrets[\'THREE\'] }}',
        B: 'secrets.OUTSIDE ${{ vars.x }}',
      },
    });
    assert.deepEqual(secretNamesIn(text), ['ONE', 'TWO', 'THREE']);
    assert.deepEqual(secretNamesIn('${{ secrets.ONE_LONGER }}'), ['ONE_LONGER']);
  });
});
