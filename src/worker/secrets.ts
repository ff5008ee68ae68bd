/**
 * The secrets of a node attempt (issue 14): opened when the node starts, for its executor alone,
 * and masked in what the attempt stores. The execution records the names used, so a worker that
 * resumes it (or collects its artifacts at the end) masks them too.
 */
import { defaultLlmProvider } from '../config-llm-providers.ts';
import type { GraphNode } from '../definition/index.ts';
import type { ExecutionState } from '../engine/types.ts';
import { errorMessage, fail } from '../nodes/errors.ts';
import type { ExecResult, LlmProvider } from '../nodes/executor.ts';
import { SecretMasker } from '../secrets/masker.ts';
import { secretNamesIn } from '../secrets/references.ts';
import type { WorkerContext } from './context.ts';

/** The secrets of a node attempt: what its expressions see and what is masked in its results. */
export interface OpenedSecrets {
  /** The values of the secrets the node names, as its expressions see them (`secrets.NAME`). */
  values: Record<string, string>;
  /** Names of the secrets the node names: what the execution records as used. */
  used: string[];
  /** Masks these, those earlier attempts of the execution used and those its graph names. */
  masker: SecretMasker;
  /** The LLM providers as the executor sees them: keys from the secret store filled in. */
  providers: ReadonlyMap<string, LlmProvider>;
}

/**
 * The providers a node names (`provider:` in its config, inline nodes included) whose key comes
 * from the secret store (`llmProviders.<name>.apiKeySecret`), with that secret's name.
 */
function providerKeySecrets(ctx: WorkerContext, nodeJson: string): Map<string, string> {
  const out = new Map<string, string>();
  const named = [...nodeJson.matchAll(/"provider":"([^"\\]*)"/g)].map((m) => m[1]!);
  // An llm or agent node without `provider:` uses the default provider.
  const callers = [...nodeJson.matchAll(/"type":"(?:llm|agent)"/g)].length;
  const fallback = defaultLlmProvider(ctx.config.llmProviders);
  if (callers > named.length && fallback !== undefined) named.push(fallback);
  for (const name of named) {
    const secret = ctx.config.llmProviders[name]?.apiKeySecret;
    if (secret !== undefined) out.set(name, secret);
  }
  return out;
}

/**
 * Opens the secrets the node names (its config read as text, inline nodes included) for its
 * executor, and, for its masker, also those the execution used before (recorded by name in its
 * state, so a worker that resumes the execution masks them too) and those `graphNames` (the
 * workflow version's graph) names anywhere: a node running beside the one that uses a secret
 * may print it before that node's use is recorded. A secret the node names that is not set
 * fails the attempt.
 */
export async function openSecrets(
  ctx: WorkerContext,
  e: ExecutionState,
  def: GraphNode,
  graphNames: readonly string[],
): Promise<OpenedSecrets | { failed: ExecResult }> {
  const nodeJson = JSON.stringify(def);
  const named = secretNamesIn(nodeJson);
  const keys = providerKeySecrets(ctx, nodeJson);
  const needed = [...new Set([...named, ...keys.values()])];
  const names = [...new Set([...(e.secrets ?? []), ...graphNames, ...needed])];
  let values: ReadonlyMap<string, string> = new Map();
  try {
    if (names.length > 0) values = await ctx.keepCommitting(() => ctx.secrets(e.workflowId, names));
  } catch (err) {
    return {
      failed: fail('ERR_NODE_INTERNAL', `could not open the secrets: ${errorMessage(err)}`),
    };
  }
  const missing = needed.filter((n) => !values.has(n));
  if (missing.length > 0) {
    const keyOf = new Map([...keys].map(([provider, secret]) => [secret, provider]));
    const list = missing
      .map((n) => (keyOf.has(n) ? `${n} (the key of provider ${keyOf.get(n)!})` : n))
      .join(', ');
    const one = missing.length === 1;
    return {
      failed: {
        status: 'failed',
        error: {
          code: 'ERR_SECRET_NOT_FOUND',
          message: `${one ? 'Secret' : 'Secrets'} ${list} ${one ? 'is' : 'are'} set neither for workflow ${e.workflowId} nor globally (yard secrets set ${missing[0]!} [--workflow ${e.workflowId}]).`,
          retryable: false,
        },
      },
    };
  }
  let providers = ctx.providers;
  if (keys.size > 0) {
    const filled = new Map(providers);
    for (const [name, secret] of keys) {
      const p = filled.get(name);
      if (p !== undefined) filled.set(name, { ...p, apiKey: values.get(secret)! });
    }
    providers = filled;
  }
  return {
    values: Object.fromEntries(named.map((n) => [n, values.get(n)!])),
    used: needed,
    masker: new SecretMasker(values.values()),
    providers,
  };
}

/** A result with every secret value masked in its outputs and error message. */
export function maskResult(result: ExecResult, masker: SecretMasker): ExecResult {
  if (masker.empty) return result;
  if (result.status === 'succeeded') return { ...result, outputs: masker.maskDeep(result.outputs) };
  return {
    ...result,
    error: masker.maskDeep(result.error),
    ...(result.outputs && { outputs: masker.maskDeep(result.outputs) }),
  };
}

/** A masker of the secrets the execution used (for what is stored after its nodes ran). */
export async function executionMasker(
  ctx: WorkerContext,
  e: ExecutionState,
): Promise<SecretMasker> {
  const names = e.secrets ?? [];
  if (names.length === 0) return new SecretMasker([]);
  const values = await ctx.keepCommitting(() => ctx.secrets(e.workflowId, names));
  return new SecretMasker(values.values());
}
