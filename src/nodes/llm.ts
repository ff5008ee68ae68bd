import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { type Static, Type } from 'typebox';
import { NonEmptyString, nodeSchema } from '../definition/model.ts';
import type { ErrorDetail } from '../errors.ts';
import type { GraphNode } from '../definition/model.ts';
import { quote } from '../definition/keys.ts';
import type { ExecContext, ExecResult } from './executor.ts';
import { defineNodeType, exactlyOne, type NodeCheckContext } from './node-type.ts';
import { cancelled, fail } from './errors.ts';
import { chat, resolveProvider } from './llm-api.ts';
import { LineSplitter } from './line-splitter.ts';

const MessageSchema = Type.Object(
  {
    role: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]),
    content: Type.String(),
  },
  { additionalProperties: false, 'x-name': 'message' },
);

/** A call to a configured LLM provider (OpenAI-compatible or Anthropic). */
const LlmNodeSchema = nodeSchema('llm', {
  provider: Type.Optional(
    NonEmptyString({
      description: "a provider name from the server config; default: the server's default provider",
    }),
  ),
  model: NonEmptyString(),
  prompt: Type.Optional(NonEmptyString()),
  messages: Type.Optional(Type.Array(MessageSchema, { minItems: 1 })),
  system: Type.Optional(Type.String()),
  maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
  responseFormat: Type.Optional(
    Type.Union([Type.Literal('text'), Type.Literal('json')], {
      description: '`json`: the answer must be one JSON value, parsed into the `json` output',
    }),
  ),
  schema: Type.Optional(
    Type.Unknown({
      description: 'a JSON Schema the `json` output must satisfy (with `response_format: json`)',
    }),
  ),
});

/*
 * The `llm` executor: one streamed chat completion on a configured provider (the default one
 * when the node names none), OpenAI-compatible (`/chat/completions`) or Anthropic
 * (`/v1/messages`); the text goes to the log as it arrives, token usage is reported for pricing,
 * and with `response_format: json` the answer is parsed and checked against `schema`. In a chat
 * workflow a node with neither `prompt` nor `messages` is sent the conversation so far, and its
 * answer is streamed as the turn's reply (`chat.delta`).
 */
type LlmConfig = Static<typeof LlmNodeSchema>;
type Message = NonNullable<LlmConfig['messages']>[number];

async function executeLlm(ctx: ExecContext<LlmConfig>): Promise<ExecResult> {
  const node = ctx.node;
  const target = resolveProvider(ctx, node.provider);
  if ('failed' in target) return target.failed;
  const messages: Message[] =
    node.messages ??
    (node.prompt !== undefined
      ? [{ role: 'user', content: node.prompt }]
      : (ctx.chat?.conversation.map(({ role, content }) => ({ role, content })) ?? []));
  if (messages.length === 0)
    return fail(
      'ERR_NODE_CONFIG',
      ctx.chat === undefined
        ? "set 'prompt' or 'messages'"
        : "set 'prompt' or 'messages': the conversation has no message yet (run the chat with a 'message' param)",
    );
  const json = node.responseFormat === 'json';
  let validate: ValidateFunction | undefined;
  if (node.schema !== undefined) {
    if (!json) return fail('ERR_NODE_CONFIG', "'schema' needs response_format: json");
    const compiled = compileSchema(node.schema);
    if (typeof compiled === 'string')
      return fail('ERR_NODE_CONFIG', `'schema' is not a JSON Schema: ${compiled}`);
    validate = compiled;
  }
  if (ctx.signal.aborted) return cancelled(ctx.signal);

  const label = `${target.name}/${node.model}`;
  // The answer goes to the node's log line by line as the tokens arrive.
  const lines = new LineSplitter((line) => ctx.log('stdout', line), undefined, ctx.logHoldback);
  let streamedText = false;
  const outcome = await chat(
    ctx,
    target,
    {
      model: node.model,
      messages,
      ...(node.system !== undefined && { system: node.system }),
      ...(node.maxTokens !== undefined && { maxTokens: node.maxTokens }),
      ...(node.temperature !== undefined && { temperature: node.temperature }),
      ...(json && {
        json: isSchemaObject(node.schema) ? { schema: node.schema } : {},
      }),
      stream: {
        onText: (delta) => {
          streamedText = true;
          lines.push(delta);
          // In a chat the answer is the turn's reply, streamed to the execution's followers.
          ctx.chat?.reply(delta);
        },
      },
    },
    label,
  );
  if (streamedText) lines.end();
  if ('failed' in outcome) return outcome.failed;
  const { completion } = outcome;
  const prompt = completion.promptTokens;
  const output = completion.completionTokens;
  ctx.log(
    'system',
    `llm ${label} → ${outcome.status} (${outcome.ms} ms), ${prompt ?? '?'} prompt + ${output ?? '?'} completion tokens`,
  );
  const usage = { model: node.model, promptTokens: prompt, completionTokens: output };
  const outputs: Record<string, unknown> = {
    text: completion.text,
    model: node.model,
    finishReason: completion.finishReason,
    usage: { promptTokens: prompt ?? 0, completionTokens: output ?? 0 },
  };
  if (json) {
    const parsed = parseAnswer(completion.text);
    if (parsed === undefined) {
      return fail(
        'ERR_LLM_SCHEMA',
        `llm ${label}: the answer is not JSON: ${brief(completion.text)}`,
        {
          usage,
          outputs,
        },
      );
    }
    if (validate !== undefined && !validate(parsed.value)) {
      return fail(
        'ERR_LLM_SCHEMA',
        `llm ${label}: the answer does not match the schema: ${schemaErrors(validate.errors ?? [])}`,
        { usage, outputs: { ...outputs, json: parsed.value } },
      );
    }
    outputs.json = parsed.value;
  }
  return { status: 'succeeded', outputs, usage };
}

function isSchemaObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The validator of a `schema:` value, or what is wrong with it. */
function compileSchema(schema: unknown): ValidateFunction | string {
  if (!isSchemaObject(schema) && typeof schema !== 'boolean') return 'it must be an object';
  try {
    // A validator of its own per schema: ajv keeps what it compiled, and refuses a second `$id`.
    // `format` is not checked (no format vocabulary here).
    return new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The JSON value of an answer; a model that wraps it in a ```json fence is forgiven. */
function parseAnswer(text: string): { value: unknown } | undefined {
  const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(text);
  try {
    return { value: JSON.parse(fenced?.[1] ?? text) as unknown };
  } catch {
    return undefined;
  }
}

/** ajv's errors as `path: message` items, at most 10. */
function schemaErrors(errors: ErrorObject[]): string {
  const items = errors.map((e) => {
    const where = e.instancePath === '' ? '(root)' : e.instancePath;
    const extra =
      e.keyword === 'additionalProperties' && typeof e.params.additionalProperty === 'string'
        ? ` (${e.params.additionalProperty})`
        : '';
    return `${where} ${e.message ?? 'is invalid'}${extra}`;
  });
  return items.length > 10
    ? `${items.slice(0, 10).join('; ')}; and ${items.length - 10} more`
    : items.join('; ');
}

function brief(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty)';
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : JSON.stringify(flat);
}

export const llmNode = defineNodeType({
  type: 'llm',
  schema: LlmNodeSchema,
  description: 'Calls an LLM with a prompt or a message list; token usage is recorded as cost.',
  outputs: [
    { name: 'text', type: 'string', description: "the model's answer" },
    {
      name: 'json',
      type: 'any',
      description: 'the answer parsed as JSON (`response_format: json` only), valid for `schema`',
    },
    { name: 'model', type: 'string', description: 'the model called' },
    { name: 'finishReason', type: 'string', description: "the provider's finish or stop reason" },
    {
      name: 'usage',
      type: 'map',
      description: '`promptTokens` and `completionTokens` of the call',
    },
  ],
  check: (node, ctx) => [
    ...messageProblems(node, ctx),
    ...providerProblems(node, ctx),
    ...schemaProblems(node, ctx),
  ],
  warnings: unpricedWarnings,
  secretFields: ['prompt', 'system', 'messages'],
  execute: executeLlm,
});

/**
 * The run-time rules of the `llm` and `agent` nodes, at save time: the provider (or, without
 * `provider:`, the server's default) is configured, and a provider that lists its `models` has
 * the node's. A templated name is known only at run time.
 */
export function providerProblems(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[] {
  const configured = ctx.server.llmProviders;
  if (configured === undefined) return [];
  const known =
    configured.length === 0
      ? 'none are configured; set llmProviders or SWITCHYARD_LLM_PROVIDERS'
      : `configured: ${configured.join(', ')}`;
  const named = node.provider;
  if (named === undefined && ctx.server.defaultLlmProvider === undefined) {
    return [
      {
        path: ctx.path,
        message: `names no provider and this server has no default LLM provider (${known}; set default: true on one)`,
      },
    ];
  }
  const provider = typeof named === 'string' ? named : ctx.server.defaultLlmProvider;
  if (typeof provider !== 'string' || provider.includes('${{')) return [];
  if (!configured.includes(provider)) {
    return [
      {
        path: ctx.field('provider'),
        message: `unknown LLM provider ${quote(provider)} on this server (${known})`,
      },
    ];
  }
  const models = ctx.server.llmModels?.[provider];
  const model = node.model;
  if (models === undefined || typeof model !== 'string' || model.includes('${{')) return [];
  if (models.includes(model)) return [];
  return [
    {
      path: ctx.field('model'),
      message: `unknown model ${quote(model)} for LLM provider ${quote(provider)} (its models: ${models.join(', ')})`,
    },
  ];
}

/** A model `modelPrices` does not price: its tokens are counted but cost nothing (`unpriced`). */
export function unpricedWarnings(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[] {
  const priced = ctx.server.pricedModels;
  const model = node.model;
  if (priced === undefined || typeof model !== 'string' || model.includes('${{')) return [];
  if (priced.includes(model)) return [];
  return [
    {
      path: ctx.field('model'),
      message: `model ${quote(model)} has no price in modelPrices: its tokens are counted, its cost is marked unpriced, not $0`,
    },
  ];
}

/**
 * Exactly one of `prompt` and `messages`; in a chat workflow neither is fine too: the node is
 * then sent the conversation so far.
 */
function messageProblems(node: LlmConfig, ctx: NodeCheckContext): ErrorDetail[] {
  if (ctx.workflowType === 'chat' && node.prompt === undefined && node.messages === undefined)
    return [];
  return exactlyOne(node, 'prompt', 'messages', ctx);
}

/** `schema` needs `response_format: json` and must compile (unless it is a template). */
function schemaProblems(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[] {
  if (node.schema === undefined) return [];
  if (node.responseFormat !== 'json')
    return [
      {
        path: ctx.field('schema'),
        message: `needs ${ctx.key('responseFormat')}: json`,
      },
    ];
  if (JSON.stringify(node.schema).includes('${{')) return [];
  const compiled = compileSchema(node.schema);
  return typeof compiled === 'string'
    ? [{ path: ctx.field('schema'), message: `is not a JSON Schema: ${compiled}` }]
    : [];
}
