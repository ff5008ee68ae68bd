import { Type } from 'typebox';
import { NonEmptyString, nodeSchema } from '../definition/model.ts';
import type { ErrorDetail } from '../errors.ts';
import type { GraphNode } from '../definition/model.ts';
import { quote } from '../definition/keys.ts';
import { exactlyOne, type NodeCheckContext, type NodeTypeSpec } from './node-type.ts';

const MessageSchema = Type.Object(
  {
    role: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]),
    content: Type.String(),
  },
  { additionalProperties: false, 'x-name': 'message' },
);

/** A call to a configured LLM provider (OpenAI-compatible or Anthropic). */
export const LlmNodeSchema = nodeSchema('llm', {
  provider: NonEmptyString({ description: 'a provider name from the server config' }),
  model: NonEmptyString(),
  prompt: Type.Optional(NonEmptyString()),
  messages: Type.Optional(Type.Array(MessageSchema, { minItems: 1 })),
  system: Type.Optional(Type.String()),
  maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
});

export const llmNode: NodeTypeSpec = {
  type: 'llm',
  schema: LlmNodeSchema,
  description: 'Calls an LLM with a prompt or a message list; token usage is recorded as cost.',
  check: (node, ctx) => [
    ...exactlyOne(node, 'prompt', 'messages', ctx),
    ...providerProblems(node, ctx),
  ],
};

/**
 * The run-time rule of executors/llm.ts, at save time: the provider is a key of the server's
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
