/**
 * Configuration, resolved as explicit (flags or the overrides passed in) > environment > config
 * file > defaults, and validated once at start with a message that names the bad value and its
 * source.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseUidRange, resolveUser } from './runtime/identity.ts';
import {
  type Config,
  ConfigError,
  type Key,
  coerce,
  defaultConfig,
  fileKey,
  settings,
} from './config-settings.ts';

export { type Config, ConfigError, defaultConfig };

/**
 * Parses `--name value` and `--name=value` flags; unknown flags are an error. A boolean flag
 * alone (`--allow-docker-socket`, followed by nothing or another flag) means true.
 */
export function parseFlags(argv: string[]): {
  values: Partial<Record<Key, string>>;
  configFile?: string;
} {
  const byFlag = new Map(Object.entries(settings).map(([k, s]) => [s.flag, k as Key]));
  const values: Partial<Record<Key, string>> = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new ConfigError(`config: unexpected argument '${arg}'`);
    const name = m[1] ?? '';
    let value = m[2];
    const key0 = byFlag.get(name);
    if (
      value === undefined &&
      key0 !== undefined &&
      settings[key0].kind === 'bool' &&
      (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))
    ) {
      value = 'true';
    }
    if (value === undefined) {
      value = argv[i + 1];
      i++;
      if (value === undefined) throw new ConfigError(`config: --${name} needs a value`);
    }
    if (name === 'config') {
      configFile = value;
      continue;
    }
    const key = byFlag.get(name);
    if (!key) throw new ConfigError(`config: unknown flag --${name}`);
    values[key] = value;
  }
  return configFile === undefined ? { values } : { values, configFile };
}

/** Whether server flags ask for help (`switchyard serve --help`, `yard serve -h`) instead of a start. */
export function asksForHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** The help of `serve`/`migrate`: every flag with its environment variables and default. */
export function serverFlagsHelp(command: 'serve' | 'migrate'): string {
  const what =
    command === 'serve' ? 'run the server' : 'apply pending database migrations and exit';
  const rows = Object.entries(settings).map(([key, s]) => {
    const d: unknown = defaultConfig[key as Key];
    const shown = typeof d === 'string' ? (d === '' ? '(empty)' : d) : JSON.stringify(d);
    return [`--${s.flag}`, s.env.join(', '), shown] as const;
  });
  rows.unshift(['--config FILE', 'SWITCHYARD_CONFIG', './switchyard.yaml when it exists']);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return [
    `Usage: switchyard ${command} [flags]   ${what}`,
    '',
    'Each setting comes from its flag, else its environment variable, else the config file, else',
    'the default (README, "Configuration"). Flags take `--name value` or `--name=value`.',
    '',
    ...rows.map(([f, e, d]) => `  ${f.padEnd(w0)}  ${e.padEnd(w1)}  ${d}`),
    '',
  ].join('\n');
}

export interface LoadOptions {
  /** Explicit values (from flags or a caller); they win over everything. */
  overrides?: Partial<Record<Key, unknown>>;
  env?: NodeJS.ProcessEnv;
  /** Config file path; else `SWITCHYARD_CONFIG`, else `./switchyard.yaml` when it exists. */
  configFile?: string;
  cwd?: string;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const config: Config = { ...defaultConfig };
  const set = <K extends Key>(key: K, value: unknown, source: string): void => {
    config[key] = coerce(key, value, source) as Config[K];
  };

  const explicitFile = opts.configFile ?? env.SWITCHYARD_CONFIG;
  const file =
    explicitFile ?? (existsSync(path.join(cwd, 'switchyard.yaml')) ? 'switchyard.yaml' : undefined);
  if (file !== undefined) {
    const full = path.resolve(cwd, file);
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(full, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config: cannot read config file ${file}: ${(err as Error).message}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc))
        throw new ConfigError(`config: ${file} must hold a mapping`);
      for (const [raw, value] of Object.entries(doc)) {
        const key = fileKey(raw);
        if (!key) throw new ConfigError(`config: unknown key '${raw}' in ${file}`);
        set(
          key,
          typeof value === 'number' && settings[key].kind === 'string' ? String(value) : value,
          file,
        );
      }
    }
  }
  for (const key of Object.keys(settings) as Key[]) {
    for (const name of settings[key].env) {
      const v = env[name];
      if (v !== undefined && v !== '') {
        set(key, v, `$${name}`);
        break;
      }
    }
  }
  for (const [key, value] of Object.entries(opts.overrides ?? {})) {
    if (!(key in settings)) throw new ConfigError(`config: unknown setting '${key}'`);
    if (value !== undefined) set(key as Key, value, `--${settings[key as Key].flag}`);
  }
  try {
    parseUidRange(config.sandboxUidRange);
    if (config.sandboxUser !== 'auto' && config.sandboxUser !== '') resolveUser(config.sandboxUser);
  } catch (err) {
    throw new ConfigError(`config: ${(err as Error).message}`);
  }
  if (config.databaseUrl !== '' && !/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new ConfigError(
      `config: databaseUrl must start with postgres:// (got '${redactUrl(config.databaseUrl)}')`,
    );
  }
  return config;
}

/** Hides a password in a database URL for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
