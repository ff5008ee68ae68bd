/**
 * The CLI's HTTP client: base URL and bearer token, JSON in and out, and one mapping of failures
 * to messages — a server error body becomes `<error> (<code>)` plus its details (exit 1), an
 * unreachable server a message naming the URL (exit 4).
 */
import { CliError, ExitCode, usageError } from './exit-codes.ts';
import type { Connection } from './config.ts';
import type { Page } from '../wire/common.ts';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** A JSON body. */
  json?: unknown;
  /** A raw text body with its content type (YAML import). */
  text?: { body: string; contentType: string };
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

interface ErrorBody {
  error?: unknown;
  code?: unknown;
  details?: unknown;
}

export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(connection: Pick<Connection, 'url' | 'token'>) {
    this.baseUrl = connection.url;
    this.#token = connection.token;
  }

  url(path: string, query: Query = {}): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query))
      if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** Sends a request and answers the raw response when it is 2xx (or 304); throws CliError else. */
  async fetch(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    if (this.#token === undefined) {
      throw usageError(
        'no API token: pass --token, set YARD_TOKEN, or run `yard login --url URL --token TOKEN`',
      );
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      ...opts.headers,
    };
    let body: string | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.text !== undefined) {
      headers['content-type'] = opts.text.contentType;
      body = opts.text.body;
    }
    let res: Response;
    try {
      res = await fetch(this.url(path, opts.query), {
        method,
        headers,
        ...(body !== undefined && { body }),
        ...(opts.signal !== undefined && { signal: opts.signal }),
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw networkError(this.baseUrl, err);
    }
    if (res.ok || res.status === 304) return res;
    throw await responseError(res);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.fetch(method, path, opts);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (text === '') return undefined as T;
    const type = res.headers.get('content-type') ?? '';
    if (!type.includes('json')) return text as T;
    return JSON.parse(text) as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, query === undefined ? {} : { query });
  }

  post<T>(path: string, json: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, { json });
  }

  patch<T>(path: string, json: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { json });
  }

  delete<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, query === undefined ? {} : { query });
  }

  /** Every page of a cursor-paginated list, or until `stop` says so. */
  async *pages<T>(path: string, query: Query = {}): AsyncGenerator<T[]> {
    let cursor: string | undefined;
    do {
      const page = await this.get<Page<T>>(path, { ...query, cursor });
      yield page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }
}

function networkError(url: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new CliError(`cannot reach the Switchyard server at ${url}: ${why}`, ExitCode.usage, {
    code: 'ERR_NETWORK',
  });
}

/** The server's error body as a CliError: `<error> (<code>)`, one line per detail. */
async function responseError(res: Response): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let body: ErrorBody | undefined;
  try {
    body = JSON.parse(text) as ErrorBody;
  } catch {
    body = undefined;
  }
  if (body === undefined || typeof body.error !== 'string') {
    const snippet = text.trim().slice(0, 200);
    return new CliError(
      `the server answered ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`,
      ExitCode.failed,
      { status: res.status },
    );
  }
  const code = typeof body.code === 'string' ? body.code : undefined;
  const lines = [code === undefined ? body.error : `${body.error} (${code})`];
  if (Array.isArray(body.details)) {
    for (const d of body.details as { path?: unknown; message?: unknown }[]) {
      const path = typeof d.path === 'string' && d.path !== '' ? `${d.path}: ` : '';
      lines.push(`  ${path}${String(d.message)}`);
    }
  }
  return new CliError(lines.join('\n'), ExitCode.failed, {
    status: res.status,
    ...(code !== undefined && { code }),
  });
}
