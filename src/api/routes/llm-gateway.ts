/**
 * The LLM gateway (docs/llm.md): OpenAI- and Anthropic-compatible endpoints for agent CLIs in
 * commands, authenticated by the command's execution token and billed to its node attempt.
 */
import { Type } from 'typebox';
import { executionScopeOf } from '../auth.ts';
import { errorResponses } from '../schemas.ts';
import type { App, Services } from '../types.ts';
import type { WireFormat } from '../../services/llm-gateway.ts';

const tags = ['llm gateway'];

const ChatBody = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256 }),
    stream: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: true,
    description: "The provider's own request body, passed on as it is.",
  },
);

const Answer = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      "The provider's answer as it is: a JSON completion, or with `stream: true` a `text/event-stream`.",
  },
);

const ProviderHeader = Type.Object(
  {
    'x-switchyard-provider': Type.Optional(
      Type.String({
        maxLength: 128,
        description: 'The provider to use when none lists the model in its `models`.',
      }),
    ),
  },
  { additionalProperties: true },
);

export function llmGatewayRoutes(app: App, services: Services): void {
  const route = (url: string, format: WireFormat, summary: string) =>
    app.post(
      url,
      {
        config: { permission: 'execution' },
        schema: {
          tags,
          summary,
          description:
            'Takes an execution token (`SWITCHYARD_TOKEN`) as `Authorization: Bearer` or `x-api-key`; the tokens used are billed to its node attempt.',
          security: [{ bearer: [] }, { apiKey: [] }],
          headers: ProviderHeader,
          body: ChatBody,
          response: { 200: Answer, ...errorResponses(400, 401, 403, 502) },
        },
      },
      async (req, reply) => {
        const scope = executionScopeOf(req);
        const header = (name: string) => {
          const v = req.headers[name];
          return typeof v === 'string' ? v : undefined;
        };
        // The call stops when the client goes away.
        const controller = new AbortController();
        reply.raw.on('close', () => controller.abort());
        const answer = await services.gateway.forward(
          scope,
          format,
          req.body,
          {
            provider: header('x-switchyard-provider'),
            anthropicVersion: header('anthropic-version'),
            anthropicBeta: header('anthropic-beta'),
          },
          controller.signal,
        );
        // The provider's status as it is (its 4xx/5xx bodies are its own error shapes).
        return reply
          .code(answer.status as 200)
          .headers(answer.headers)
          .send(answer.body);
      },
    );
  route(
    '/api/v1/llm/v1/chat/completions',
    'openai',
    'OpenAI-compatible chat completion through the gateway',
  );
  route('/api/v1/llm/v1/messages', 'anthropic', 'Anthropic message through the gateway');
}
