import { type Static, Type } from 'typebox';
import { NonEmptyString, nodeSchema } from '../definition/model.ts';
import type { ErrorDetail } from '../errors.ts';
import type { GraphNode } from '../definition/model.ts';
import { quote } from '../definition/keys.ts';
import type { ExecContext, ExecResult } from './executor.ts';
import { defineNodeType, exactlyOne, type NodeCheckContext } from './node-type.ts';
import { cancelled, fail } from './errors.ts';
import { chat, resolveProvider } from './llm-api.ts';

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

async function executeLlm(ctx: ExecContext<LlmConfig>): Promise<ExecResult> {
  const node = ctx.node;
  const target = resolveProvider(ctx, node.provider);
  if ('failed' in target) return target.failed;
  const messages: Message[] =
    node.messages ?? (node.prompt === undefined ? [] : [{ role: 'user', content: node.prompt }]);
  if (messages.length === 0) return fail('ERR_NODE_CONFIG', "set 'prompt' or 'messages'");
  if (ctx.signal.aborted) return cancelled(ctx.signal);

  const label = `${node.provider}/${node.model}`;
  const outcome = await chat(
    ctx,
    target,
    {
      model: node.model,
      messages,
      ...(node.system !== undefined && { system: node.system }),
      ...(node.maxTokens !== undefined && { maxTokens: node.maxTokens }),
      ...(node.temperature !== undefined && { temperature: node.temperature }),
    },
    label,
  );
  if ('failed' in outcome) return outcome.failed;
  const { completion } = outcome;
  const prompt = completion.promptTokens;
  const output = completion.completionTokens;
  ctx.log(
    'system',
    `llm ${label} → ${outcome.status} (${outcome.ms} ms), ${prompt ?? '?'} prompt + ${output ?? '?'} completion tokens`,
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
export function providerProblems(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[] {
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
