/** The `x-format` checks of the definition walk: CEL, durations, cron, time zones, quantities, URLs. */
import { Cron } from 'croner';
import { durationHint, isDuration } from './duration.ts';
import { QuantityError, parseCpu, parseMemory } from './quantity.ts';
import { conditionError } from './expressions.ts';
import { quote } from './keys.ts';
import type { Format } from './model.ts';

export type Kind = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object' | 'other';

export function kindOf(value: unknown): Kind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const t = typeof value;
  if (t === 'string' || t === 'number' || t === 'boolean') return t;
  if (t === 'object') return 'object';
  return 'other';
}

/** How a value that is not what a field takes is shown after the message (`, got 3`). */
export function got(value: unknown): string {
  const kind = kindOf(value);
  if (kind === 'object' || kind === 'array' || kind === 'other')
    return ` (got ${kind === 'array' ? 'a list' : kind === 'object' ? 'an object' : typeof value})`;
  return ` (got ${quote(value)})`;
}

type FormatResult = { value: unknown } | { error: string };

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const zones = new Map<string, boolean>();

export function checkFormat(format: Format, value: unknown): FormatResult {
  switch (format) {
    case 'duration':
      return isDuration(value as string)
        ? { value }
        : { error: `must be ${durationHint}${got(value)}` };
    case 'cel': {
      const error = conditionError(value as string);
      return error === undefined ? { value } : { error };
    }
    case 'timestamp-or-cel': {
      const text = value as string;
      if (rfc3339.test(text) && !Number.isNaN(Date.parse(text))) return { value };
      const error = conditionError(text);
      return error === undefined
        ? { value }
        : { error: `must be an RFC 3339 time or a CEL expression: ${error}` };
    }
    case 'cron':
      return checkCron(value as string);
    case 'timezone':
      return isTimeZone(value as string)
        ? { value }
        : { error: `unknown time zone ${quote(value)} (use an IANA name like Europe/Berlin)` };
    case 'cpu':
      return quantity(value, parseCpu);
    case 'memory':
      return quantity(value, parseMemory);
    case 'http-url':
      return checkUrl(value as string);
  }
}

function checkCron(text: string): FormatResult {
  if (text.length > 200) return { error: 'is too long for a cron expression' };
  try {
    new Cron(text, { paused: true });
    return { value: text };
  } catch (err) {
    return {
      error: `invalid cron expression ${quote(text)}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  let known = zones.get(zone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      known = true;
    } catch {
      known = false;
    }
    if (zones.size < 1000) zones.set(zone, known);
  }
  return known;
}

/** A cpu or memory quantity (quantity.ts); kept as text, a number becomes a string. */
function quantity(value: unknown, parse: (value: unknown) => number | undefined): FormatResult {
  try {
    parse(value);
  } catch (err) {
    if (err instanceof QuantityError) return { error: err.message };
    throw err;
  }
  return { value: typeof value === 'number' ? String(value) : (value as string).trim() };
}

function checkUrl(text: string): FormatResult {
  if (text.includes('${{')) return { value: text };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: `must be an absolute http(s) URL${got(text)}` };
  }
  return url.protocol === 'http:' || url.protocol === 'https:'
    ? { value: text }
    : { error: `must be an http or https URL${got(text)}` };
}
