import { type Static, Type } from 'typebox';
import { NonEmptyString, nodeSchema } from '../definition/model.ts';
import type { ErrorDetail } from '../errors.ts';
import type { GraphNode } from '../definition/model.ts';
import { quote } from '../definition/keys.ts';
import type { ExecContext, ExecResult, LlmProvider } from './executor.ts';
import { defineNodeType, exactlyOne, type NodeCheckContext } from './node-type.ts';
import { cancelled, fail, formatMs, parseRetryAfter } from './errors.ts';
import { exchange } from './http-client.ts';
import { isRetryableStatus } from './http.ts';

const MessageSchema = Type.Object(
  {
    role: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]),
    content: Type.String(),
  },
  { additionalProperties: false, 'x-name': 'message' },
);

/** A call to a configured LLM provider (OpenAI-compatible or Anthropic). */
const LlmNodeSchema = nodeSchema('llm', {
  provider: NonEmptyString({ description: 'a provider name from the server config' }),
  model: NonEmptyString(),
  prompt: Type.Optional(NonEmptyString()),
  messages: Type.Optional(Type.Array(MessageSchema, { minItems: 1 })),
  system: Type.Optional(Type.String()),
  maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
});

/*
 * The `llm` executor: one chat completion on a configured provider, OpenAI-compatible
 * (`/chat/completions`) or Anthropic (`/v1/messages`); token usage is reported for pricing.
 */
type LlmConfig = Static<typeof LlmNodeSchema>;
type Message = NonNullable<LlmConfig['messages']>[number];

const anthropicVersion = '2023-06-01';
const defaultAnthropicMaxTokens = 1024;
/** Most of a provider's response that is read; a longer one fails as ERR_LLM_RESPONSE. */
const maxLlmResponseBytes = 8 * 1024 * 1024;

interface Completion {
  text: string;
  finishReason: string | null;
  promptTokens?: number;
  completionTokens?: number;
}

interface ProviderApi {
  request(node: LlmConfig, messages: Message[]): { path: string; headers: Headers; body: unknown };
  /** The completion of a 2xx body, or a message saying what is missing. */
  parse(body: unknown): Completion | string;
}

async function executeLlm(ctx: ExecContext<LlmConfig>): Promise<ExecResult> {
  const node = ctx.node;
  const provider = ctx.providers.get(node.provider);
  if (provider === undefined) {
    const names = [...ctx.providers.keys()];
    const known = names.length === 0 ? 'none are configured' : `configured: ${names.join(', ')}`;
    return fail(
      'ERR_LLM_PROVIDER',
      `unknown LLM provider ${JSON.stringify(node.provider)} (${known})`,
    );
  }
  const api = apiOf(provider);
  if (api === undefined) {
    return fail(
      'ERR_LLM_PROVIDER',
      `provider ${JSON.stringify(node.provider)} has an unknown kind`,
    );
  }
  const messages: Message[] =
    node.messages ?? (node.prompt === undefined ? [] : [{ role: 'user', content: node.prompt }]);
  if (messages.length === 0) return fail('ERR_NODE_CONFIG', "set 'prompt' or 'messages'");
  if (ctx.signal.aborted) return cancelled(ctx.signal);

  const request = api.request(node, messages);
  request.headers.set('content-type', 'application/json');
  const url = `${provider.baseUrl.replace(/\/+$/, '')}${request.path}`;
  const label = `${node.provider}/${node.model}`;
  const outcome = await exchange(
    ctx,
    ctx.egress.llm,
    url,
    { method: 'POST', headers: request.headers, body: JSON.stringify(request.body) },
    maxLlmResponseBytes,
  );
  if (outcome.kind !== 'response') {
    const what =
      outcome.kind === 'network' || outcome.kind === 'forbidden'
        ? `error: ${outcome.message}`
        : outcome.kind;
    ctx.log('system', `llm ${label} → ${what} (${outcome.ms} ms)`);
    if (outcome.kind === 'timeout') {
      return fail(
        'ERR_NODE_TIMEOUT',
        `llm ${label} timed out after ${formatMs(ctx.timeoutMs ?? 0)}`,
      );
    }
    if (outcome.kind === 'cancelled') return cancelled(ctx.signal);
    if (outcome.kind === 'forbidden')
      return fail('ERR_EGRESS_FORBIDDEN', `llm ${label}: ${outcome.message}`);
    return fail('ERR_LLM_NETWORK', `llm ${label}: ${url} failed: ${outcome.message}`);
  }
  const response = outcome.response;
  const text = response.body.toString('utf8');
  let body: unknown;
  try {
    body = response.truncated ? undefined : (JSON.parse(text) as unknown);
  } catch {
    body = undefined;
  }
  if (response.status < 200 || response.status >= 300) {
    ctx.log('system', `llm ${label} → ${response.status} (${response.ms} ms)`);
    const retryable = isRetryableStatus(response.status);
    return fail(
      'ERR_LLM_STATUS',
      `llm ${label} answered ${response.status}: ${providerError(body) ?? snippet(text)}`,
      {
        retryable,
        retryAfterMs: retryable ? parseRetryAfter(response.retryAfter, Date.now()) : undefined,
      },
    );
  }
  const completion: Completion | string =
    body === undefined
      ? response.truncated
        ? `the response is larger than ${maxLlmResponseBytes} bytes`
        : 'the response is not JSON'
      : api.parse(body);
  if (typeof completion === 'string') {
    ctx.log('system', `llm ${label} → ${response.status} (${response.ms} ms)`);
    return fail('ERR_LLM_RESPONSE', `llm ${label}: ${completion}`);
  }
  const prompt = completion.promptTokens;
  const output = completion.completionTokens;
  ctx.log(
    'system',
    `llm ${label} → ${response.status} (${response.ms} ms), ${prompt ?? '?'} prompt + ${output ?? '?'} completion tokens`,
  );
  return {
    status: 'succeeded',
    outputs: {
      text: completion.text,
      finishReason: completion.finishReason,
      usage: { promptTokens: prompt ?? 0, completionTokens: output ?? 0 },
    },
    usage: { model: node.model, promptTokens: prompt, completionTokens: output },
  };
}

function apiOf(provider: LlmProvider): ProviderApi | undefined {
  switch (provider.kind) {
    case 'openai':
      return openaiApi(provider);
    case 'anthropic':
      return anthropicApi(provider);
    default:
      return undefined;
  }
}

function openaiApi(provider: LlmProvider): ProviderApi {
  return {
    request(node, messages) {
      const headers = new Headers();
      if (provider.apiKey !== undefined) headers.set('authorization', `Bearer ${provider.apiKey}`);
      const all =
        node.system === undefined
          ? messages
          : [{ role: 'system', content: node.system }, ...messages];
      const body: Record<string, unknown> = { model: node.model, messages: all };
      if (node.maxTokens !== undefined) body.max_tokens = node.maxTokens;
      if (node.temperature !== undefined) body.temperature = node.temperature;
      return { path: '/chat/completions', headers, body };
    },
    parse(body) {
      const choice = field(field(body, 'choices'), 0);
      const message = field(choice, 'message');
      if (message === undefined) return 'the response has no choices[0].message';
      const usage = field(body, 'usage');
      return {
        text: contentText(field(message, 'content')),
        finishReason: stringOrNull(field(choice, 'finish_reason')),
        promptTokens: count(field(usage, 'prompt_tokens')),
        completionTokens: count(field(usage, 'completion_tokens')),
      };
    },
  };
}

function anthropicApi(provider: LlmProvider): ProviderApi {
  return {
    request(node, messages) {
      const headers = new Headers({ 'anthropic-version': anthropicVersion });
      if (provider.apiKey !== undefined) headers.set('x-api-key', provider.apiKey);
      // Anthropic takes system text as a field, not as messages.
      const system = [
        ...(node.system === undefined ? [] : [node.system]),
        ...messages.filter((m) => m.role === 'system').map((m) => m.content),
      ];
      const body: Record<string, unknown> = {
        model: node.model,
        max_tokens: node.maxTokens ?? defaultAnthropicMaxTokens,
        messages: messages.filter((m) => m.role !== 'system'),
      };
      if (system.length > 0) body.system = system.join('\n\n');
      if (node.temperature !== undefined) body.temperature = node.temperature;
      return { path: '/v1/messages', headers, body };
    },
    parse(body) {
      const content = field(body, 'content');
      if (!Array.isArray(content)) return 'the response has no content list';
      const usage = field(body, 'usage');
      return {
        text: contentText(content),
        finishReason: stringOrNull(field(body, 'stop_reason')),
        promptTokens: count(field(usage, 'input_tokens')),
        completionTokens: count(field(usage, 'output_tokens')),
      };
    },
  };
}

function field(value: unknown, key: string | number): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as Record<string | number, unknown>)[key];
}

/** A string content, or the concatenated `text` of a list of content blocks. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block) => {
      const text = field(block, 'text');
      const type = field(block, 'type');
      return typeof text === 'string' && (type === undefined || type === 'text') ? text : '';
    })
    .join('');
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** The provider's own error message (`{error: {message}}` in both APIs). */
function providerError(body: unknown): string | undefined {
  const error = field(body, 'error');
  const message = typeof error === 'string' ? error : field(error, 'message');
  return typeof message === 'string' ? message : undefined;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

export const llmNode = defineNodeType({
  type: 'llm',
  schema: LlmNodeSchema,
  description: 'Calls an LLM with a prompt or a message list; token usage is recorded as cost.',
  outputs: [
    { name: 'text', type: 'string', description: "the model's answer" },
    { name: 'finishReason', type: 'string', description: "the provider's finish or stop reason" },
    {
      name: 'usage',
      type: 'map',
      description: '`promptTokens` and `completionTokens` of the call',
    },
  ],
  check: (node, ctx) => [
    ...exactlyOne(node, 'prompt', 'messages', ctx),
    ...providerProblems(node, ctx),
  ],
  secretFields: ['prompt', 'system', 'messages'],
  execute: executeLlm,
});

/**
 * The run-time rule of executeLlm, at save time: the provider is a key of the server's
 * `llmProviders` (there is no default provider). A templated name is known only at run time.
 */
function providerProblems(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[] {
  const configured = ctx.server.llmProviders;
  const provider = node.provider;
  if (configured === undefined || typeof provider !== 'string' || provider.includes('${{'))
    return [];
  if (configured.includes(provider)) return [];
  const known =
    configured.length === 0
      ? 'none are configured; set llmProviders or SWITCHYARD_LLM_PROVIDERS'
      : `configured: ${configured.join(', ')}`;
  return [
    {
      path: ctx.field('provider'),
      message: `unknown LLM provider ${quote(provider)} on this server (${known})`,
    },
  ];
}
