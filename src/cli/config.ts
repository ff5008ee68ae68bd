/**
 * Where the CLI finds the server and its token. Each of URL and token is resolved on its own:
 * the `--url`/`--token` flags, else `YARD_URL`/`YARD_TOKEN`, else the config file that
 * `yard login` writes (`$XDG_CONFIG_HOME/yard/config.json`, default `~/.config/yard/config.json`),
 * else (URL only) http://127.0.0.1:3000.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { usageError } from './exit-codes.ts';

const defaultUrl = 'http://127.0.0.1:3000';

export interface SavedConfig {
  url?: string;
  token?: string;
}

export interface Connection {
  url: string;
  token: string | undefined;
  /** Where each value came from, for messages. */
  urlSource: string;
  tokenSource: string;
}

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config');
  return path.join(base, 'yard', 'config.json');
}

export function readSavedConfig(file = configFilePath()): SavedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    const { url, token } = value as Record<string, unknown>;
    return {
      ...(typeof url === 'string' && { url }),
      ...(typeof token === 'string' && { token }),
    };
  } catch {
    throw usageError(`${file} is not valid JSON; run \`yard login\` again or remove it`);
  }
}

/** Writes the config file with mode 0600 (its directory 0700); returns its path. */
export function writeSavedConfig(config: SavedConfig, file = configFilePath()): string {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // The mode option applies only on creation; an existing file is tightened too.
  chmodSync(file, 0o600);
  return file;
}

function normalizeUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`${source}: ${JSON.stringify(url)} is not a URL (e.g. http://127.0.0.1:3000)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usageError(`${source}: ${JSON.stringify(url)} must be an http or https URL`);
  }
  return parsed.toString().replace(/\/+$/, '');
}

export function resolveConnection(
  flags: { url?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  const file = configFilePath(env);
  const saved = readSavedConfig(file);
  const pick = (
    flag: string | undefined,
    envName: string,
    fromFile: string | undefined,
  ): [string | undefined, string] => {
    if (flag !== undefined && flag !== '') return [flag, 'flag'];
    const e = env[envName];
    if (e !== undefined && e !== '') return [e, envName];
    if (fromFile !== undefined && fromFile !== '') return [fromFile, file];
    return [undefined, 'default'];
  };
  const [url, urlSource] = pick(flags.url, 'YARD_URL', saved.url);
  const [token, tokenSource] = pick(flags.token, 'YARD_TOKEN', saved.token);
  return {
    url: normalizeUrl(url ?? defaultUrl, urlSource === 'flag' ? '--url' : urlSource),
    token,
    urlSource,
    tokenSource,
  };
}
