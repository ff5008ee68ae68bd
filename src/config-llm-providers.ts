/**
 * The `llmProviders` setting: the shape of one provider, what is wrong with an entry, and which
 * provider `llm` and `agent` nodes use when they name none.
 */
import { parseDuration } from './definition/duration.ts';
import { secretNamePattern } from './secrets/references.ts';

/** One entry of `llmProviders`. */
export interface LlmProviderSetting {
  kind: 'openai' | 'anthropic';
  baseUrl: string;
  apiKeyEnv?: string;
  apiKeySecret?: string;
  /**
   * The provider `llm` and `agent` nodes use when they name none. At most one provider has it;
   * a server with a single provider uses that one without it.
   */
  default?: boolean;
  /** Longest one call may take (a duration: `60s`, `2m`); a call past it is retried. Default 5m. */
  timeout?: string;
  /** Most calls this server process has open to the provider at once; unset: no cap. */
  maxConcurrency?: number;
  /** Times a call answered 429/5xx (or lost) is tried again in place, after `Retry-After`. Default 2. */
  maxRetries?: number;
  /** The models nodes may name; unset: any model. A model outside the list is refused on save. */
  models?: string[];
}

const providerShape =
  " must be {kind: openai|anthropic, baseUrl: http(s)://…, apiKeyEnv? or apiKeySecret? (a secret's name), default?, timeout?, maxConcurrency?, maxRetries?, models?}";

/** What is wrong with one `llmProviders` entry (after its name in the message), or undefined. */
export function providerProblem(e: Record<string, unknown> | null): string | undefined {
  if (
    !e ||
    (e.kind !== 'openai' && e.kind !== 'anthropic') ||
    typeof e.baseUrl !== 'string' ||
    !/^https?:\/\//.test(e.baseUrl) ||
    (e.apiKeySecret !== undefined &&
      (typeof e.apiKeySecret !== 'string' ||
        !secretNamePattern.test(e.apiKeySecret) ||
        e.apiKeyEnv !== undefined))
  )
    return providerShape;
  const known = new Set([
    'kind',
    'baseUrl',
    'apiKeyEnv',
    'apiKeySecret',
    'default',
    'timeout',
    'maxConcurrency',
    'maxRetries',
    'models',
  ]);
  const unknown = Object.keys(e).find((k) => !known.has(k));
  if (unknown !== undefined) return `${providerShape}; unknown field ${JSON.stringify(unknown)}`;
  if (e.default !== undefined && typeof e.default !== 'boolean')
    return '.default must be true or false';
  if (
    e.timeout !== undefined &&
    (typeof e.timeout !== 'string' || (parseDuration(e.timeout) ?? 0) <= 0)
  )
    return `.timeout must be a duration such as 60s or 2m (got ${JSON.stringify(e.timeout)})`;
  const isInt = (n: unknown, min: number, max: number) =>
    typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max;
  if (e.maxConcurrency !== undefined && !isInt(e.maxConcurrency, 1, 10_000))
    return `.maxConcurrency must be an integer from 1 to 10000 (got ${JSON.stringify(e.maxConcurrency)})`;
  if (e.maxRetries !== undefined && !isInt(e.maxRetries, 0, 10))
    return `.maxRetries must be an integer from 0 to 10 (got ${JSON.stringify(e.maxRetries)})`;
  if (
    e.models !== undefined &&
    (!Array.isArray(e.models) ||
      e.models.length === 0 ||
      e.models.some((m) => typeof m !== 'string' || m === ''))
  )
    return '.models must be a non-empty list of model names';
  return undefined;
}

/** The provider `llm` and `agent` nodes use when they name none: `default: true`, else the only one. */
export function defaultLlmProvider(
  providers: Readonly<Record<string, LlmProviderSetting>>,
): string | undefined {
  const names = Object.keys(providers);
  return (
    names.find((n) => providers[n]!.default === true) ?? (names.length === 1 ? names[0] : undefined)
  );
}

/** What is wrong with the providers as a whole (more than one default), or undefined. */
export function defaultsProblem(
  providers: Readonly<Record<string, LlmProviderSetting>>,
): string | undefined {
  const defaults = Object.entries(providers)
    .filter(([, p]) => p.default === true)
    .map(([name]) => name);
  return defaults.length > 1
    ? `only one provider may be the default (default: true on ${defaults.join(', ')})`
    : undefined;
}
