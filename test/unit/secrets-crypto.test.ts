import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateSecretsKey,
  isSealedColumnValue,
  keyFingerprint,
  openColumnValue,
  openSecret,
  parseSecretsKey,
  sealColumnValue,
  sealSecret,
} from '../../src/secrets/crypto.ts';

describe('secrets crypto (AES-256-GCM)', () => {
  const key = generateSecretsKey();
  const value = 'line one\nline two: p@ss "quoted" ünïcode\n';

  it('round-trips a value, with a fresh nonce each time', () => {
    const a = sealSecret(key, value);
    const b = sealSecret(key, value);
    assert.notEqual(a, b, 'two seals of one value differ');
    assert.equal(openSecret(key, a), value);
    assert.equal(openSecret(key, b), value);
    assert.ok(!Buffer.from(a, 'base64').toString('utf8').includes('line one'));
    // nonce 12 + ciphertext (as long as the UTF-8 value) + tag 16
    assert.equal(Buffer.from(a, 'base64').length, 12 + Buffer.byteLength(value) + 16);
    assert.equal(openSecret(key, sealSecret(key, '')), '');
  });

  it('refuses a changed ciphertext, nonce or tag', () => {
    const sealed = Buffer.from(sealSecret(key, value), 'base64');
    for (const at of [0, 12, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at] = bad[at]! ^ 1;
      assert.throws(() => openSecret(key, bad.toString('base64')));
    }
    assert.throws(() => openSecret(key, sealed.subarray(0, 20).toString('base64')), /too short/);
  });

  it('refuses another key, whose fingerprint differs', () => {
    const other = generateSecretsKey();
    assert.throws(() => openSecret(other, sealSecret(key, value)));
    assert.notEqual(keyFingerprint(key), keyFingerprint(other));
    assert.match(keyFingerprint(key), /^[0-9a-f]{16}$/);
    assert.equal(keyFingerprint(key), keyFingerprint(Buffer.from(key)));
  });

  it('parses a base64 key of 32 bytes only', () => {
    const text = key.toString('base64');
    assert.deepEqual(parseSecretsKey(`${text}\n`), key);
    assert.throws(
      () => parseSecretsKey(generateSecretsKey().subarray(0, 16).toString('base64')),
      /32 bytes/,
    );
    assert.throws(() => parseSecretsKey(`${text.slice(0, 40)}!!!=`), /32 bytes/);
    assert.throws(() => parseSecretsKey(''), /32 bytes/);
  });

  it('tells sealed column values from the plaintext an earlier version stored', () => {
    const plain = `whsec_${'0f'.repeat(24)}`;
    const sealed = sealColumnValue(key, plain);
    assert.match(sealed, /^sealed:v1:/);
    assert.ok(!sealed.includes(plain));
    assert.ok(isSealedColumnValue(sealed));
    assert.ok(!isSealedColumnValue(plain));
    assert.equal(openColumnValue(key, sealed), plain);
    // Plaintext is read as it is, until the next start seals it.
    assert.equal(openColumnValue(key, plain), plain);
    assert.throws(
      () => openColumnValue(generateSecretsKey(), sealed),
      /does not open with this server's secrets key/,
    );
    const at = 'sealed:v1:'.length + 20;
    const tampered = `${sealed.slice(0, at)}${sealed[at] === 'A' ? 'B' : 'A'}${sealed.slice(at + 1)}`;
    assert.throws(() => openColumnValue(key, tampered), /does not open/);
  });
});
