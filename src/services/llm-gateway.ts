/**
 * The LLM gateway (issue 11): OpenAI-compatible `/chat/completions` and Anthropic `/v1/messages`
 * calls of a command's agent CLI, proxied as they are to a configured provider with the
 * provider's key (added here; the sandbox never sees it), through the server's egress client for
 * LLM calls. Streamed answers pass through chunk by chunk. The usage in the answer (the JSON
 * body, or the last streamed chunk/event) is charged to the execution token's node attempt.
 *
 * Which provider: one of the call's wire format whose `models` lists the body's `model`; else
 * the one the `x-switchyard-provider` header names; else the only provider of that format.
 */
import { type Readable, Transform, pipeline } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { ExecutionScope, ExecutionTokenService } from './execution-tokens.ts';

export type WireFormat = 'openai' | 'anthropic';

/** What the route answers: the provider's status, its headers that make sense to pass, the body. */
export interface GatewayAnswer {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

export interface LlmGatewayOptions {
  providers: Config['llmProviders'];
  /** The egress-checked client of LLM calls (EgressClients.llm). */
  dispatcher: Dispatcher;
  /** Secret values by name for a workflow (its own, else global): provider keys in the store. */
  secrets: (workflowId: string, names: readonly string[]) => Promise<ReadonlyMap<string, string>>;
  tokens: ExecutionTokenService;
}

const anthropicVersion = '2023-06-01';
/** Most of a non-streamed answer kept to read its usage (the answer itself passes whole). */
const maxUsageBodyBytes = 8 * 1024 * 1024;
/** Answer headers passed to the client; hop-by-hop and length headers are the server's own. */
const passedHeaders = ['content-type', 'retry-after', 'x-request-id', 'request-id'];

export class LlmGateway {
  constructor(private readonly opts: LlmGatewayOptions) {}

  async forward(
    scope: ExecutionScope,
    format: WireFormat,
    body: Record<string, unknown>,
    headers: { provider?: string; anthropicVersion?: string; anthropicBeta?: string },
    signal: AbortSignal,
  ): Promise<GatewayAnswer> {
    const model = typeof body.model === 'string' ? body.model : '';
    const { name, provider } = this.pick(format, model, headers.provider);
    const key = await this.keyOf(name, provider, scope.workflowId);
    const sent: Record<string, string> = {
      'content-type': 'application/json',
      'accept-encoding': 'identity',
    };
    let path: string;
    let payload = body;
    if (format === 'openai') {
      path = '/chat/completions';
      if (key !== undefined) sent.authorization = `Bearer ${key}`;
      // A streamed call reports its usage only when asked: asked, so it is not free.
      if (body.stream === true) {
        const options =
          typeof body.stream_options === 'object' && body.stream_options !== null
            ? body.stream_options
            : {};
        payload = { ...body, stream_options: { ...options, include_usage: true } };
      }
    } else {
      path = '/v1/messages';
      if (key !== undefined) sent['x-api-key'] = key;
      sent['anthropic-version'] = headers.anthropicVersion ?? anthropicVersion;
      if (headers.anthropicBeta !== undefined) sent['anthropic-beta'] = headers.anthropicBeta;
    }
    const url = `${provider.baseUrl.replace(/\/+$/, '')}${path}`;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(url, {
        method: 'POST',
        headers: sent,
        body: JSON.stringify(payload),
        dispatcher: this.opts.dispatcher,
        signal,
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause ?? err;
      throw new AppError('ERR_GATEWAY_UPSTREAM', {
        message: `Provider ${name} (${url}) could not be reached: ${(cause as Error).message}`,
        context: { provider: name },
        cause: err,
      });
    }
    const out: Record<string, string> = {};
    for (const h of passedHeaders) {
      const v = answer.headers[h];
      if (typeof v === 'string') out[h] = v;
    }
    const ok = answer.statusCode >= 200 && answer.statusCode < 300;
    const streamed = (out['content-type'] ?? '').includes('text/event-stream');
    const meter = ok
      ? usageMeter(format, streamed, (prompt, completion) =>
          this.opts.tokens.charge(scope.tokenId, model, prompt, completion),
        )
      : new Transform({ transform: (chunk, _enc, done) => done(null, chunk) });
    // A provider that breaks off mid-answer ends the client's answer too (pipeline destroys it).
    pipeline(answer.body, meter, () => {});
    return { status: answer.statusCode, headers: out, body: meter };
  }

  private pick(
    format: WireFormat,
    model: string,
    named: string | undefined,
  ): { name: string; provider: Config['llmProviders'][string] } {
    const all = Object.entries(this.opts.providers).filter(([, p]) => p.kind === format);
    const listed = all.find(([, p]) => p.models?.includes(model));
    const chosen =
      listed ??
      (named !== undefined
        ? all.find(([n]) => n === named)
        : all.length === 1
          ? all[0]
          : undefined);
    if (chosen === undefined) {
      const names = all.map(([n]) => n);
      throw new AppError('ERR_GATEWAY_PROVIDER', {
        message:
          named !== undefined
            ? `No ${format} provider is named ${JSON.stringify(named)} (${names.length === 0 ? 'none is configured' : `configured: ${names.join(', ')}`}).`
            : names.length === 0
              ? `No ${format} provider is configured (llmProviders).`
              : `No ${format} provider lists the model ${JSON.stringify(model)} in its models; name one with the x-switchyard-provider header (configured: ${names.join(', ')}).`,
        context: { model, format },
      });
    }
    return { name: chosen[0], provider: chosen[1] };
  }

  private async keyOf(
    name: string,
    provider: Config['llmProviders'][string],
    workflowId: string,
  ): Promise<string | undefined> {
    if (provider.apiKeySecret !== undefined) {
      const values = await this.opts.secrets(workflowId, [provider.apiKeySecret]);
      const key = values.get(provider.apiKeySecret);
      if (key === undefined) {
        throw new AppError('ERR_SECRET_NOT_FOUND', {
          message: `The key of provider ${name}, secret ${provider.apiKeySecret}, is set neither for workflow ${workflowId} nor globally.`,
          context: { provider: name, workflowId },
        });
      }
      return key;
    }
    return provider.apiKeyEnv === undefined ? undefined : process.env[provider.apiKeyEnv];
  }
}

/**
 * Passes the answer through unchanged and reads its usage on the way: the JSON body's `usage`,
 * or, streamed, OpenAI's last chunk with `usage` and Anthropic's `message_start` (input tokens)
 * and `message_delta` (output tokens so far) events. `charge` is called once, at the end.
 */
function usageMeter(
  format: WireFormat,
  streamed: boolean,
  charge: (prompt: number, completion: number) => void,
): Transform {
  let prompt = 0;
  let completion = 0;
  let pending = '';
  const kept: Buffer[] = [];
  let keptBytes = 0;
  const readJson = (json: unknown) => {
    const usage = field(json, 'usage') ?? field(field(json, 'message'), 'usage');
    if (usage === undefined) return;
    if (format === 'openai') {
      prompt = count(field(usage, 'prompt_tokens')) ?? prompt;
      completion = count(field(usage, 'completion_tokens')) ?? completion;
    } else {
      prompt = count(field(usage, 'input_tokens')) ?? prompt;
      completion = count(field(usage, 'output_tokens')) ?? completion;
    }
  };
  const readLine = (line: string) => {
    if (!line.startsWith('data:')) return;
    const data = line.slice(5).trim();
    if (data === '' || data === '[DONE]') return;
    try {
      readJson(JSON.parse(data));
    } catch {
      // Not JSON: not a usage chunk.
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (streamed) {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) readLine(line.replace(/\r$/, ''));
      } else if (keptBytes < maxUsageBodyBytes) {
        kept.push(chunk);
        keptBytes += chunk.length;
      }
      done(null, chunk);
    },
    flush(done) {
      if (streamed) readLine(pending);
      else {
        try {
          readJson(JSON.parse(Buffer.concat(kept).toString('utf8')));
        } catch {
          // Not JSON (or too long to read): nothing to charge.
        }
      }
      if (prompt > 0 || completion > 0) charge(prompt, completion);
      done();
    },
  });
}

function field(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as Record<string, unknown>)[key];
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
