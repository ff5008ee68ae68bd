/**
 * Prefixed, time-sortable ids (`wf_…`, `exec_…`, `tok_…`): 10 characters of millisecond time and
 * 16 of randomness in Crockford base32, lowercase, like a ULID. Ids minted in the same
 * millisecond by one process stay ordered (the random part is incremented).
 */
import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

export type IdPrefix =
  'wf' | 'exec' | 'dlq' | 'tok' | 'etk' | 'art' | 'evt' | 'hook' | 'hdl' | 'rule' | 'rdl' | 'ses';

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = alphabet[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

let lastMs = -1;
let lastRandom: number[] = [];

function nextRandom(ms: number): number[] {
  if (ms === lastMs) {
    // Increment the previous random part so ids stay monotonic within one millisecond.
    const r = [...lastRandom];
    for (let i = r.length - 1; i >= 0; i--) {
      if (r[i]! < 31) {
        r[i] = r[i]! + 1;
        break;
      }
      r[i] = 0;
    }
    lastRandom = r;
    return r;
  }
  const bytes = randomBytes(16);
  lastMs = ms;
  lastRandom = Array.from(bytes, (b) => b % 32);
  return lastRandom;
}

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${encodeTime(now)}${nextRandom(now)
    .map((d) => alphabet[d])
    .join('')}`;
}
