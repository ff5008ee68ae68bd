/**
 * Webhook signatures (CLARIFICATIONS, "Workflows start themselves"). Generic hooks and outbound
 * deliveries: `X-Switchyard-Timestamp: <unix seconds>` and `X-Switchyard-Signature:
 * sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`, valid for `windowSeconds` either
 * side of now. GitHub hooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
 * Comparisons are constant-time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const signatureWindowSeconds = 300;

function hmacHex(secret: string, payload: Buffer | string): string {
  return createHmac('sha256', secret).update(payload).digest('hex');
}

/** The headers of a generic delivery of `body` at `nowSeconds`. */
export function signGeneric(
  secret: string,
  body: Buffer | string,
  nowSeconds: number,
): { 'x-switchyard-timestamp': string; 'x-switchyard-signature': string } {
  const timestamp = String(Math.floor(nowSeconds));
  const payload = Buffer.concat([Buffer.from(`${timestamp}.`), Buffer.from(body)]);
  return {
    'x-switchyard-timestamp': timestamp,
    'x-switchyard-signature': `sha256=${hmacHex(secret, payload)}`,
  };
}

export type Verdict = { ok: true; signature: string } | { ok: false; reason: string };

/** Checks a generic delivery; `signature` (the hex) is what replay detection keys on. */
export function verifyGeneric(
  secret: string,
  body: Buffer,
  headers: { timestamp: string | undefined; signature: string | undefined },
  nowSeconds: number,
  windowSeconds = signatureWindowSeconds,
): Verdict {
  if (headers.timestamp === undefined || headers.signature === undefined)
    return { ok: false, reason: 'X-Switchyard-Timestamp and X-Switchyard-Signature are required' };
  if (!/^\d{1,12}$/.test(headers.timestamp))
    return { ok: false, reason: 'X-Switchyard-Timestamp must be unix seconds' };
  if (Math.abs(nowSeconds - Number(headers.timestamp)) > windowSeconds)
    return { ok: false, reason: `the timestamp is more than ${windowSeconds} s from now` };
  const payload = Buffer.concat([Buffer.from(`${headers.timestamp}.`), body]);
  return compare(headers.signature, hmacHex(secret, payload));
}

export function verifyGithub(secret: string, body: Buffer, header: string | undefined): Verdict {
  if (header === undefined) return { ok: false, reason: 'X-Hub-Signature-256 is required' };
  return compare(header, hmacHex(secret, body));
}

function compare(header: string, expectedHex: string): Verdict {
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (m === null) return { ok: false, reason: 'the signature must be sha256=<64 hex digits>' };
  const given = Buffer.from(m[1]!.toLowerCase(), 'hex');
  const expected = Buffer.from(expectedHex, 'hex');
  return timingSafeEqual(given, expected)
    ? { ok: true, signature: expectedHex }
    : { ok: false, reason: 'the signature does not match' };
}
