/**
 * Encryption of secret values at rest: AES-256-GCM with a 32-byte key. A sealed value is
 * base64 of `nonce (12 bytes) | ciphertext | tag (16 bytes)`; the nonce is random per value, so
 * sealing the same value twice gives different text. Opening checks the tag: a changed byte or
 * another key fails instead of giving wrong plaintext. Pure: no files, no database.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

const keyBytes = 32;
const nonceBytes = 12;
const tagBytes = 16;

/** A key from its base64 form (config `secretsKey` or the key file); throws unless 32 bytes. */
export function parseSecretsKey(base64: string): Buffer {
  const text = base64.trim();
  const key = Buffer.from(text, 'base64');
  // Buffer.from skips bad characters silently: a round trip proves the text was base64.
  if (
    key.length !== keyBytes ||
    key.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')
  )
    throw new Error(
      `A secrets key is ${keyBytes} bytes in base64 (44 characters, e.g. from \`openssl rand -base64 32\`).`,
    );
  return key;
}

export function generateSecretsKey(): Buffer {
  return randomBytes(keyBytes);
}

/**
 * Names a key without revealing it: servers sharing a database compare fingerprints, and each
 * stored value records the fingerprint of the key that sealed it.
 */
export function keyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('switchyard-secrets').digest('hex').slice(0, 16);
}

export function sealSecret(key: Buffer, plaintext: string): string {
  const nonce = randomBytes(nonceBytes);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

/** The plaintext of a sealed value; throws when the key is another or the text was changed. */
export function openSecret(key: Buffer, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length < nonceBytes + tagBytes) throw new Error('The sealed secret is too short.');
  const nonce = raw.subarray(0, nonceBytes);
  const tag = raw.subarray(raw.length - tagBytes);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(tag);
  const body = raw.subarray(nonceBytes, raw.length - tagBytes);
  return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
}

/**
 * Marks a sealed value in a column that held plaintext before this version (`hooks.secret`,
 * `trigger_rules.secret`): an upgraded database holds both until the next start seals the rest,
 * and a plaintext secret (`whsec_…`) never starts with it.
 */
const sealedColumnPrefix = 'sealed:v1:';

/** Whether a column value is sealed (else it is a plaintext left by an earlier version). */
export function isSealedColumnValue(text: string): boolean {
  return text.startsWith(sealedColumnPrefix);
}

/** Seals a value for a column that may also hold plaintext (see `isSealedColumnValue`). */
export function sealColumnValue(key: Buffer, plaintext: string): string {
  return `${sealedColumnPrefix}${sealSecret(key, plaintext)}`;
}

/**
 * The plaintext of a column value: opened when sealed, as it is when an earlier version wrote it
 * (a server of that version may still be running during an upgrade; the next start seals it).
 */
export function openColumnValue(key: Buffer, text: string): string {
  if (!isSealedColumnValue(text)) return text;
  try {
    return openSecret(key, text.slice(sealedColumnPrefix.length));
  } catch (err) {
    throw new Error(
      `A stored secret does not open with this server's secrets key (fingerprint ${keyFingerprint(key)}): ` +
        'the key was rotated since this server started, or the value was changed. Restart the server with the current key.',
      { cause: err },
    );
  }
}
