import { type Static, Type } from 'typebox';
import { HeaderMap, nodeSchema } from '../definition/model.ts';
import { cancelled, errorMessage, fail, formatMs, parseRetryAfter } from './errors.ts';
import { displayUrl, exchange, isJsonContentType } from './http-client.ts';
import type { ExecContext, ExecResult } from './executor.ts';
import { defineNodeType } from './node-type.ts';

const httpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

const StatusCode = Type.Integer({ minimum: 100, maximum: 599 });

/** An HTTP call; the response (status, headers, JSON or text body) becomes the outputs. */
const HttpNodeSchema = nodeSchema('http', {
  url: Type.String({ minLength: 1, 'x-format': 'http-url' }),
  method: Type.Optional(Type.Union(httpMethods.map((m) => Type.Literal(m)))),
  headers: Type.Optional(HeaderMap()),
  body: Type.Optional(Type.Unknown()),
  expectStatus: Type.Optional(Type.Union([StatusCode, Type.Array(StatusCode, { minItems: 1 })])),
});

/* The `http` executor: one request; the response (status, headers, body) becomes the outputs. */
type HttpConfig = Static<typeof HttpNodeSchema>;

/** Most of a response body that is read; the rest is dropped with a log line. */
const maxResponseBytes = 1024 * 1024;

async function executeHttp(ctx: ExecContext<HttpConfig>): Promise<ExecResult> {
  const node = ctx.node;
  const method = (node.method ?? 'GET').toUpperCase();
  let url: URL;
  try {
    url = new URL(node.url);
  } catch {
    return fail('ERR_NODE_CONFIG', `url ${JSON.stringify(node.url)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return fail('ERR_NODE_CONFIG', `url must be http or https, got ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    return fail('ERR_NODE_CONFIG', 'put credentials in an Authorization header, not in the url');
  }
  let headers: Headers;
  try {
    headers = new Headers(node.headers ?? {});
  } catch (error) {
    return fail('ERR_NODE_CONFIG', `bad headers: ${errorMessage(error)}`);
  }
  let body: string | undefined;
  if (node.body !== undefined) {
    if (method === 'GET' || method === 'HEAD') {
      return fail('ERR_NODE_CONFIG', `a ${method} request cannot have a body`);
    }
    if (typeof node.body === 'string') {
      body = node.body;
    } else {
      body = JSON.stringify(node.body);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
  }
  if (ctx.signal.aborted) return cancelled(ctx.signal);

  const shown = displayUrl(url);
  const outcome = await exchange(
    ctx,
    ctx.egress.workflow,
    url.href,
    { method, headers, body },
    maxResponseBytes,
  );
  if (outcome.kind !== 'response') {
    const what =
      outcome.kind === 'network' || outcome.kind === 'forbidden'
        ? `error: ${outcome.message}`
        : outcome.kind;
    ctx.log('system', `${method} ${shown} → ${what} (${outcome.ms} ms)`);
    if (outcome.kind === 'timeout') {
      return fail(
        'ERR_NODE_TIMEOUT',
        `${method} ${shown} timed out after ${formatMs(ctx.timeoutMs ?? 0)}`,
      );
    }
    if (outcome.kind === 'cancelled') return cancelled(ctx.signal);
    if (outcome.kind === 'forbidden')
      return fail('ERR_EGRESS_FORBIDDEN', `${method} ${shown}: ${outcome.message}`);
    return fail('ERR_HTTP_NETWORK', `${method} ${shown} failed: ${outcome.message}`);
  }
  const response = outcome.response;
  ctx.log('system', `${method} ${shown} → ${response.status} (${response.ms} ms)`);
  if (response.truncated) {
    ctx.log(
      'system',
      `response body is larger than ${maxResponseBytes} bytes; kept the first ${maxResponseBytes}`,
    );
  }
  const outputs = {
    status: response.status,
    headers: response.headers,
    body: decodeBody(response.body, response.contentType, response.truncated, (line) =>
      ctx.log('system', line),
    ),
  };
  if (!statusExpected(response.status, node.expectStatus)) {
    const expected = describeExpected(node.expectStatus);
    const snippet = bodySnippet(response.body);
    const retryable = isRetryableStatus(response.status);
    return fail(
      'ERR_HTTP_STATUS',
      `${method} ${shown} answered ${response.status}, expected ${expected}${snippet}`,
      {
        retryable,
        retryAfterMs: retryable ? parseRetryAfter(response.retryAfter, Date.now()) : undefined,
        outputs,
      },
    );
  }
  return { status: 'succeeded', outputs };
}

/** 408, 429 and 5xx may pass on a later attempt; other statuses will not. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function statusExpected(status: number, expect: number | number[] | undefined): boolean {
  if (expect === undefined) return status >= 200 && status < 300;
  return Array.isArray(expect) ? expect.includes(status) : status === expect;
}

function describeExpected(expect: number | number[] | undefined): string {
  if (expect === undefined) return '2xx';
  return Array.isArray(expect) ? expect.join(' or ') : String(expect);
}

/** JSON when the content type says so and it parses; text otherwise. */
function decodeBody(
  bytes: Buffer,
  contentType: string,
  truncated: boolean,
  log: (line: string) => void,
): unknown {
  const text = bytes.toString('utf8');
  if (text === '' || !isJsonContentType(contentType)) return text;
  if (truncated) {
    log('the JSON body was truncated; it is kept as text');
    return text;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    log(`the body is not valid JSON (${errorMessage(error)}); it is kept as text`);
    return text;
  }
}

function bodySnippet(bytes: Buffer): string {
  const text = bytes.subarray(0, 400).toString('utf8').replace(/\s+/g, ' ').trim();
  if (text === '') return '';
  return `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

export const httpNode = defineNodeType({
  type: 'http',
  schema: HttpNodeSchema,
  description: 'Calls an HTTP endpoint; fails on an unexpected status (default: any 2xx).',
  outputs: [
    { name: 'status', type: 'int', description: 'the response status' },
    { name: 'headers', type: 'map', description: 'the response headers, lower-case names' },
    {
      name: 'body',
      type: 'any',
      description: 'the body: parsed JSON when the content type is JSON, else text',
    },
  ],
  secretFields: ['url', 'headers', 'body'],
  execute: executeHttp,
});
