/**
 * Every setting: its type, default, environment variables and flag, and how a raw value
 * (flag, environment, file) becomes a typed one with a message naming the bad value and its source.
 */
import path from 'node:path';
import { parseEgressAllow } from './egress/ranges.ts';
import {
  type LlmProviderSetting,
  defaultsProblem,
  providerProblem,
} from './config-llm-providers.ts';

export interface Config {
  /** TCP port of the HTTP server (0 picks a free one). */
  port: number;
  /** Address the HTTP server binds to. */
  host: string;
  /** Directory for the SQLite database, the admin token and artifacts. */
  dataDir: string;
  /** PostgreSQL URL; when empty, SQLite under `dataDir` is used. */
  databaseUrl: string;
  /**
   * Where artifact content is kept: `auto` (the database on PostgreSQL, so every server reads
   * it; the data directory on SQLite), `database` or `files` (the data directory of the server
   * that collected it).
   */
  artifactStore: string;
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  logLevel: string;
  /** Largest request body in bytes (JSON or YAML). */
  bodyLimitBytes: number;
  /** Largest webhook delivery in bytes (GitHub sends up to 25 MB). */
  hookBodyLimitBytes: number;
  /** Most nodes a graph may have. */
  maxGraphNodes: number;
  /** Deepest nesting a YAML document may have. */
  maxYamlDepth: number;
  /** Most alias expansions a YAML document may use (alias bombs). */
  maxYamlAliases: number;
  /** Admin token secret to ensure at start instead of generating one. */
  adminToken: string;
  /** How long a web UI session (`POST /api/v1/session`) lasts; never past its token's expiry. */
  sessionTtlHours: number;
  /** AES-256 key of the secret store, base64 (32 bytes); empty: `<dataDir>/secrets.key`, generated on first start. */
  secretsKey: string;
  /** Node attempts one server process runs at once. */
  workerConcurrency: number;
  /** How long a claimed task stays leased without a heartbeat (a dead worker's work is taken over after it). */
  leaseMs: number;
  /** How often an idle worker looks for due work (PostgreSQL: work other processes enqueued). */
  pollMs: number;
  /** Grace between SIGTERM and SIGKILL when stopping a node's processes. */
  killGraceMs: number;
  /** On SIGTERM, how long running node attempts may go on finishing before they are stopped (and re-run by the next server). */
  drainTimeoutMs: number;
  /** Price of one cpu-second of sandbox time, in USD. */
  cpuSecondPriceUsd: number;
  /** Model prices in USD per 1M tokens: {"gpt-4o": {"prompt": 2.5, "completion": 10}}. */
  modelPrices: Record<string, { prompt: number; completion: number }>;
  /**
   * LLM providers by name: {"openai": {"kind": "openai", "baseUrl": "...", "apiKeyEnv":
   * "OPENAI_API_KEY"}}; the key comes from the server's environment (`apiKeyEnv`) or from the
   * secret store (`apiKeySecret`: a secret's name, the workflow's own or a global one).
   */
  llmProviders: Record<string, LlmProviderSetting>;
  /** Most log bytes stored per node attempt; the rest is replaced by a truncation marker. */
  maxLogBytesPerNode: number;
  /** Interval of the `: heartbeat` comment on idle SSE streams; a client that does not read for two intervals is dropped. */
  sseHeartbeatMs: number;
  /** How often the scheduler looks for due schedule ticks; 0 runs no scheduler loop (tests drive it). */
  schedulerIntervalMs: number;
  /** A schedule tick first seen later than this after it was due counts as missed (its catch-up policy decides). */
  scheduleGraceMs: number;
  /** Default runtime: `auto` (docker when its socket answers, else local), `local` or `docker`. */
  runtime: string;
  /** Unix socket of the Docker engine for the docker runtime. */
  dockerSocket: string;
  /** Local runtime isolation: `auto` (bubblewrap when installed), `bwrap`, `plain` or `none` (no sandbox: development only). */
  localIsolation: string;
  /** Who sandboxed commands run as on a root server: `auto` (a uid per execution), a user name, `uid` or `uid:gid`. */
  sandboxUser: string;
  /** The uids `sandboxUser: auto` hands out, `first-last`. */
  sandboxUidRange: string;
  /** Extra absolute host paths bound read-only into bubblewrap sandboxes. */
  sandboxReadOnlyPaths: string[];
  /**
   * Whether a workflow may have the Docker socket mounted in its containers
   * (`runtime_config.docker_socket: true`), which gives it root on the host. Default false.
   */
  allowDockerSocket: boolean;
  /**
   * Whether a workflow may run in the host's network namespace (`runtime_config.network: host`),
   * which reaches every service on the host's loopback. Default false.
   */
  allowHostNetwork: boolean;
  /**
   * Addresses the egress policy lets workflows reach although they are refused by default
   * (loopback, private, link-local, ...): addresses, CIDRs and host names, each with an optional
   * port. Applies to the server's own calls (`http`, `llm`) and to `outbound` sandboxes.
   */
  egressAllow: string[];
}

export const defaultConfig: Config = {
  port: 3000,
  host: '127.0.0.1',
  dataDir: './data',
  databaseUrl: '',
  artifactStore: 'auto',
  logLevel: 'info',
  bodyLimitBytes: 1024 * 1024,
  hookBodyLimitBytes: 25 * 1024 * 1024,
  maxGraphNodes: 1000,
  maxYamlDepth: 64,
  maxYamlAliases: 100,
  adminToken: '',
  sessionTtlHours: 12,
  secretsKey: '',
  workerConcurrency: 32,
  leaseMs: 30_000,
  pollMs: 250,
  killGraceMs: 5000,
  drainTimeoutMs: 30_000,
  cpuSecondPriceUsd: 0.0000125,
  modelPrices: {},
  llmProviders: {},
  maxLogBytesPerNode: 1024 * 1024,
  sseHeartbeatMs: 15_000,
  schedulerIntervalMs: 1000,
  scheduleGraceMs: 60_000,
  runtime: 'auto',
  dockerSocket: '/var/run/docker.sock',
  localIsolation: 'auto',
  sandboxUser: 'auto',
  sandboxUidRange: '3000000-3999999',
  sandboxReadOnlyPaths: [],
  allowDockerSocket: false,
  allowHostNetwork: false,
  egressAllow: [],
};

export type Key = keyof Config;
type Kind = 'int' | 'number' | 'string' | 'level' | 'json' | 'choice' | 'paths' | 'bool' | 'egress';

interface Setting {
  kind: Kind;
  env: string[];
  flag: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

export const settings: Record<Key, Setting> = {
  port: { kind: 'int', env: ['SWITCHYARD_PORT', 'PORT'], flag: 'port', min: 0, max: 65535 },
  host: { kind: 'string', env: ['SWITCHYARD_HOST'], flag: 'host' },
  dataDir: { kind: 'string', env: ['SWITCHYARD_DATA_DIR'], flag: 'data-dir' },
  databaseUrl: { kind: 'string', env: ['DATABASE_URL'], flag: 'database-url' },
  logLevel: { kind: 'level', env: ['SWITCHYARD_LOG_LEVEL', 'LOG_LEVEL'], flag: 'log-level' },
  bodyLimitBytes: {
    kind: 'int',
    env: ['SWITCHYARD_BODY_LIMIT'],
    flag: 'body-limit',
    min: 1024,
    max: 64 * 1024 * 1024,
  },
  hookBodyLimitBytes: {
    kind: 'int',
    env: ['SWITCHYARD_HOOK_BODY_LIMIT'],
    flag: 'hook-body-limit',
    min: 1024,
    max: 256 * 1024 * 1024,
  },
  maxGraphNodes: {
    kind: 'int',
    env: ['SWITCHYARD_MAX_GRAPH_NODES'],
    flag: 'max-graph-nodes',
    min: 1,
    max: 100_000,
  },
  maxYamlDepth: {
    kind: 'int',
    env: ['SWITCHYARD_MAX_YAML_DEPTH'],
    flag: 'max-yaml-depth',
    min: 4,
    max: 1000,
  },
  maxYamlAliases: {
    kind: 'int',
    env: ['SWITCHYARD_MAX_YAML_ALIASES'],
    flag: 'max-yaml-aliases',
    min: 0,
    max: 10_000,
  },
  adminToken: { kind: 'string', env: ['SWITCHYARD_ADMIN_TOKEN'], flag: 'admin-token' },
  sessionTtlHours: {
    kind: 'int',
    env: ['SWITCHYARD_SESSION_TTL_HOURS'],
    flag: 'session-ttl-hours',
    min: 1,
    max: 720,
  },
  secretsKey: { kind: 'string', env: ['SWITCHYARD_SECRETS_KEY'], flag: 'secrets-key' },
  workerConcurrency: {
    kind: 'int',
    env: ['SWITCHYARD_WORKER_CONCURRENCY'],
    flag: 'worker-concurrency',
    min: 0,
    max: 10_000,
  },
  leaseMs: {
    kind: 'int',
    env: ['SWITCHYARD_LEASE_MS'],
    flag: 'lease-ms',
    min: 500,
    max: 3_600_000,
  },
  pollMs: { kind: 'int', env: ['SWITCHYARD_POLL_MS'], flag: 'poll-ms', min: 5, max: 60_000 },
  killGraceMs: {
    kind: 'int',
    env: ['SWITCHYARD_KILL_GRACE_MS'],
    flag: 'kill-grace-ms',
    min: 0,
    max: 600_000,
  },
  drainTimeoutMs: {
    kind: 'int',
    env: ['SWITCHYARD_DRAIN_TIMEOUT_MS'],
    flag: 'drain-timeout-ms',
    min: 0,
    max: 3_600_000,
  },
  cpuSecondPriceUsd: {
    kind: 'number',
    env: ['SWITCHYARD_CPU_SECOND_PRICE_USD'],
    flag: 'cpu-second-price-usd',
    min: 0,
    max: 1,
  },
  modelPrices: { kind: 'json', env: ['SWITCHYARD_MODEL_PRICES'], flag: 'model-prices' },
  llmProviders: { kind: 'json', env: ['SWITCHYARD_LLM_PROVIDERS'], flag: 'llm-providers' },
  maxLogBytesPerNode: {
    kind: 'int',
    env: ['SWITCHYARD_MAX_LOG_BYTES_PER_NODE'],
    flag: 'max-log-bytes-per-node',
    min: 1024,
    max: 1024 * 1024 * 1024,
  },
  sseHeartbeatMs: {
    kind: 'int',
    env: ['SWITCHYARD_SSE_HEARTBEAT_MS'],
    flag: 'sse-heartbeat-ms',
    min: 10,
    max: 3_600_000,
  },
  schedulerIntervalMs: {
    kind: 'int',
    env: ['SWITCHYARD_SCHEDULER_INTERVAL_MS'],
    flag: 'scheduler-interval-ms',
    min: 0,
    max: 3_600_000,
  },
  scheduleGraceMs: {
    kind: 'int',
    env: ['SWITCHYARD_SCHEDULE_GRACE_MS'],
    flag: 'schedule-grace-ms',
    min: 1000,
    max: 86_400_000,
  },
  runtime: {
    kind: 'choice',
    env: ['SWITCHYARD_RUNTIME'],
    flag: 'runtime',
    choices: ['auto', 'local', 'docker'],
  },
  dockerSocket: { kind: 'string', env: ['SWITCHYARD_DOCKER_SOCKET'], flag: 'docker-socket' },
  artifactStore: {
    kind: 'choice',
    env: ['SWITCHYARD_ARTIFACT_STORE'],
    flag: 'artifact-store',
    choices: ['auto', 'database', 'files'],
  },
  localIsolation: {
    kind: 'choice',
    env: ['SWITCHYARD_LOCAL_ISOLATION'],
    flag: 'local-isolation',
    choices: ['auto', 'bwrap', 'plain', 'none'],
  },
  sandboxUser: { kind: 'string', env: ['SWITCHYARD_SANDBOX_USER'], flag: 'sandbox-user' },
  sandboxUidRange: {
    kind: 'string',
    env: ['SWITCHYARD_SANDBOX_UID_RANGE'],
    flag: 'sandbox-uid-range',
  },
  sandboxReadOnlyPaths: {
    kind: 'paths',
    env: ['SWITCHYARD_SANDBOX_READ_ONLY_PATHS'],
    flag: 'sandbox-read-only-paths',
  },
  allowDockerSocket: {
    kind: 'bool',
    env: ['SWITCHYARD_ALLOW_DOCKER_SOCKET'],
    flag: 'allow-docker-socket',
  },
  allowHostNetwork: {
    kind: 'bool',
    env: ['SWITCHYARD_ALLOW_HOST_NETWORK'],
    flag: 'allow-host-network',
  },
  egressAllow: { kind: 'egress', env: ['SWITCHYARD_EGRESS_ALLOW'], flag: 'egress-allow' },
};

const trueWords = ['true', '1', 'yes', 'on'];
const falseWords = ['false', '0', 'no', 'off'];

const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** File keys may be camelCase (as in Config) or snake_case / kebab-case. */
export function fileKey(raw: string): Key | undefined {
  const camel = raw.replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase());
  return camel in settings ? (camel as Key) : undefined;
}

export function coerce(key: Key, value: unknown, source: string): Config[Key] {
  const s = settings[key];
  const show = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  if (s.kind === 'int') {
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)
          ? Number(value)
          : NaN;
    if (
      !Number.isInteger(n) ||
      (s.min !== undefined && n < s.min) ||
      (s.max !== undefined && n > s.max)
    ) {
      throw new ConfigError(
        `config: ${key} must be an integer from ${s.min} to ${s.max} (got ${show} from ${source})`,
      );
    }
    return n;
  }
  if (s.kind === 'number') {
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && value.trim() !== ''
          ? Number(value)
          : NaN;
    if (
      !Number.isFinite(n) ||
      (s.min !== undefined && n < s.min) ||
      (s.max !== undefined && n > s.max)
    ) {
      throw new ConfigError(
        `config: ${key} must be a number from ${s.min} to ${s.max} (got ${show} from ${source})`,
      );
    }
    return n;
  }
  if (s.kind === 'json') return parseJsonSetting(key, value, source);
  if (s.kind === 'paths') return parsePaths(key, value, source);
  if (s.kind === 'egress') return parseEgressSetting(key, value, source);
  if (s.kind === 'bool') {
    if (typeof value === 'boolean') return value;
    const word = typeof value === 'string' ? value.trim().toLowerCase() : '';
    if (trueWords.includes(word)) return true;
    if (falseWords.includes(word)) return false;
    throw new ConfigError(`config: ${key} must be true or false (got ${show} from ${source})`);
  }
  if (typeof value !== 'string')
    throw new ConfigError(`config: ${key} must be a string (got ${show} from ${source})`);
  if (s.kind === 'choice' && !(s.choices ?? []).includes(value)) {
    throw new ConfigError(
      `config: ${key} must be one of ${(s.choices ?? []).join(', ')} (got ${show} from ${source})`,
    );
  }
  if (s.kind === 'level' && !levels.includes(value)) {
    throw new ConfigError(
      `config: ${key} must be one of ${levels.join(', ')} (got ${show} from ${source})`,
    );
  }
  return value;
}

/** Path lists: a list in the file, comma-separated text in env and flags; each absolute. */
function parsePaths(key: Key, value: unknown, source: string): string[] {
  const list =
    typeof value === 'string'
      ? value.split(',').map((p) => p.trim())
      : Array.isArray(value)
        ? value
        : undefined;
  if (list === undefined || list.some((p) => typeof p !== 'string'))
    throw new ConfigError(`config: ${key} must be a list of paths (from ${source})`);
  const paths = (list as string[]).filter((p) => p !== '');
  const bad = paths.find((p) => !path.isAbsolute(p) || p.split('/').includes('..'));
  if (bad !== undefined)
    throw new ConfigError(
      `config: ${key} must hold absolute paths without '..' (got '${bad}' from ${source})`,
    );
  return paths.map((p) => path.resolve(p));
}

/** The egress allowlist: a list in the file, comma-separated text in env and flags; each entry checked. */
function parseEgressSetting(key: Key, value: unknown, source: string): string[] {
  const list =
    typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (list === undefined || list.some((e) => typeof e !== 'string'))
    throw new ConfigError(
      `config: ${key} must be a list of addresses, CIDRs or hosts (from ${source})`,
    );
  const entries = (list as string[]).map((e) => e.trim()).filter((e) => e !== '');
  try {
    parseEgressAllow(entries);
  } catch (err) {
    throw new ConfigError(`config: ${(err as Error).message} (from ${source})`);
  }
  return entries;
}

/** Object settings: a mapping in the file, JSON text in env and flags; checked per key. */
function parseJsonSetting(key: Key, value: unknown, source: string): Config[Key] {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new ConfigError(`config: ${key} must be a JSON object (from ${source})`);
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new ConfigError(`config: ${key} must be an object (from ${source})`);
  for (const [name, entry] of Object.entries(v as Record<string, unknown>)) {
    const e = entry as Record<string, unknown> | null;
    if (key === 'modelPrices') {
      if (
        !e ||
        typeof e.prompt !== 'number' ||
        typeof e.completion !== 'number' ||
        e.prompt < 0 ||
        e.completion < 0
      ) {
        throw new ConfigError(
          `config: modelPrices.${name} must be {prompt, completion} in USD per 1M tokens (from ${source})`,
        );
      }
    } else {
      const problem = providerProblem(e);
      if (problem !== undefined)
        throw new ConfigError(`config: llmProviders.${name}${problem} (from ${source})`);
    }
  }
  if (key === 'llmProviders') {
    const problem = defaultsProblem(v as Record<string, LlmProviderSetting>);
    if (problem !== undefined)
      throw new ConfigError(`config: llmProviders: ${problem} (from ${source})`);
  }
  return v as Config[Key];
}
