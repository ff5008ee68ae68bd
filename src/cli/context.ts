/** What every command shares: the global options, the client they give, option parsers. */
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../definition/duration.ts';
import { ApiClient } from './client.ts';
import { resolveConnection } from './config.ts';

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export function clientFor(g: GlobalOptions): ApiClient {
  return new ApiClient(
    resolveConnection({
      ...(g.url !== undefined && { url: g.url }),
      ...(g.token !== undefined && { token: g.token }),
    }),
  );
}

export function intOption(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a positive integer');
  }
  return Number(value);
}

/** Durations: `30s`, `5m`, `1h30m`, `500ms`, or a bare number of seconds. */
export function durationOption(value: string): number {
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : parseDuration(value);
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    throw new InvalidArgumentError('expected a duration like 30s, 5m or 1h30m');
  }
  return ms;
}

/** Repeatable string option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A JSON value when the text parses as JSON, else the text itself. */
export function jsonOrString(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function jsonOption(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new InvalidArgumentError('expected JSON');
  }
}
