/** The server's `llmProviders` setting turned into the providers executors call. */
import type { Config } from '../config.ts';
import { defaultLlmProvider } from '../config-llm-providers.ts';
import { parseDuration } from '../definition/duration.ts';
import { CallSlots } from '../nodes/call-slots.ts';
import type { LlmProvider } from '../nodes/executor.ts';

/** Longest one provider call may take when its `timeout` is unset. */
const defaultLlmTimeoutMs = 300_000;

/**
 * The configured LLM providers as executors see them, made once per worker: the call slots of a
 * provider's `maxConcurrency` are shared by every node this server process runs.
 */
export function llmProvidersOf(
  configured: Config['llmProviders'],
): ReadonlyMap<string, LlmProvider> {
  const fallback = defaultLlmProvider(configured);
  return new Map(
    Object.entries(configured).map(([name, p]) => [
      name,
      {
        kind: p.kind,
        baseUrl: p.baseUrl,
        ...(p.apiKeyEnv !== undefined &&
          process.env[p.apiKeyEnv] !== undefined && { apiKey: process.env[p.apiKeyEnv] }),
        ...(name === fallback && { isDefault: true }),
        timeoutMs:
          p.timeout === undefined
            ? defaultLlmTimeoutMs
            : (parseDuration(p.timeout) ?? defaultLlmTimeoutMs),
        ...(p.maxRetries !== undefined && { maxRetries: p.maxRetries }),
        ...(p.maxConcurrency !== undefined && { slots: new CallSlots(p.maxConcurrency) }),
      },
    ]),
  );
}
