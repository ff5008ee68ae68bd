/**
 * Retry policies are data (CONVENTIONS 7). A node's policy falls back to the workflow default,
 * then to these defaults: one attempt, exponential backoff from 1 s capped at 5 min, full jitter off.
 */
import { parseDuration, type RetryPolicyInput } from '../definition/index.ts';

export interface RetryPolicy {
  maxAttempts: number;
  backoff: 'fixed' | 'exponential';
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** 0 = none; 1 = full jitter (delay drawn from [0, d]); in between scales the random part. */
  jitter: number;
}

/** The defaults (docs/workflow-yaml.md and docs/engine.md show them; a test checks both). */
export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 1,
  backoff: 'exponential',
  initialIntervalMs: 1000,
  maxIntervalMs: 300_000,
  jitter: 0,
};

export function resolveRetryPolicy(
  node?: RetryPolicyInput,
  workflow?: RetryPolicyInput,
): RetryPolicy {
  const pick = <K extends keyof RetryPolicyInput>(k: K): RetryPolicyInput[K] | undefined =>
    node?.[k] ?? workflow?.[k];
  const jitter = pick('jitter');
  const initial = pick('initialInterval');
  const max = pick('maxInterval');
  return {
    maxAttempts: pick('maxAttempts') ?? defaultRetryPolicy.maxAttempts,
    backoff: pick('backoff') ?? defaultRetryPolicy.backoff,
    initialIntervalMs:
      (initial !== undefined ? parseDuration(initial) : undefined) ??
      defaultRetryPolicy.initialIntervalMs,
    maxIntervalMs:
      (max !== undefined ? parseDuration(max) : undefined) ?? defaultRetryPolicy.maxIntervalMs,
    jitter: jitter === true ? 1 : jitter === false || jitter === undefined ? 0 : jitter,
  };
}

/**
 * Delay before attempt `failedAttempt + 1`. Pure: `rand` is a number in [0, 1).
 * Exponential: initial × 2^(failedAttempt-1), capped at maxInterval; jitter subtracts up to
 * `jitter` × delay.
 */
export function nextDelay(policy: RetryPolicy, failedAttempt: number, rand: number): number {
  const base =
    policy.backoff === 'fixed'
      ? policy.initialIntervalMs
      : policy.initialIntervalMs * 2 ** Math.max(0, failedAttempt - 1);
  const capped = Math.min(base, policy.maxIntervalMs);
  return Math.round(capped - capped * policy.jitter * rand);
}
