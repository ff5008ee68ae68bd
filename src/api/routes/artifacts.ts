/**
 * Artifacts (seed: "Artifacts"): list an execution's files and download one by its nested path,
 * streamed, with Content-Length, a strong ETag (the sha256), If-None-Match → 304 and single
 * byte ranges (`bytes=a-b`, `a-`, `-n`) → 206, or 416 when the range lies outside the file.
 */
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors.ts';
import { ExecutionIdParams, errorResponses } from '../schemas.ts';
import { ArtifactSchema } from '../../wire/artifacts.ts';
import type { App, Services } from '../types.ts';

const tags = ['artifacts'];

type RangeRequest =
  { kind: 'all' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Reads a Range header against a file of `size` bytes (RFC 9110 §14). A header that is absent,
 * not in bytes, malformed or asks for several ranges is ignored (the whole file is served), as
 * the RFC allows; a well-formed range that starts past the end is unsatisfiable.
 */
function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'all' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return { kind: 'all' };
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return { kind: 'all' };
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? Infinity : Number(b);
  if (end < start) return { kind: 'all' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}

/** Whether an If-None-Match header names this ETag (weak comparison, `*` matches). */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === '*' || t.replace(/^W\//, '') === etag);
}

/** `attachment` with an ASCII fallback name and the exact name in RFC 8187 form. */
function contentDisposition(relPath: string): string {
  const base = relPath.slice(relPath.lastIndexOf('/') + 1);
  const ascii = base.replace(/[^A-Za-z0-9._-]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}

const DownloadParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  execId: Type.String({ minLength: 1, maxLength: 64 }),
  '*': Type.String({
    maxLength: 4096,
    description: "The artifact's path; '/' separates directories.",
  }),
});

const fileResponse = (description: string) => ({
  description,
  content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } },
});

export function artifactRoutes(app: App, services: Services): void {
  const art = services.artifacts;

  app.get(
    '/api/v1/workflows/:id/executions/:execId/artifacts',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List artifact files of an execution (expired ones flagged)',
        params: ExecutionIdParams,
        response: {
          200: Type.Object({ items: Type.Array(ArtifactSchema) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (req) => ({ items: await art.listUnder(req.params.id, req.params.execId) }),
  );

  app.get(
    '/api/v1/workflows/:id/executions/:execId/artifacts/*',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary:
          'Download an artifact by its nested path; ETag, If-None-Match, Range (one byte range)',
        params: DownloadParams,
        headers: Type.Object({
          range: Type.Optional(Type.String({ maxLength: 256 })),
          'if-none-match': Type.Optional(Type.String({ maxLength: 4096 })),
          'if-range': Type.Optional(Type.String({ maxLength: 256 })),
        }),
        response: {
          200: fileResponse('The file'),
          206: fileResponse('The requested byte range (Content-Range)'),
          304: { description: 'Not modified: the If-None-Match ETag is current', type: 'null' },
          ...errorResponses(400, 401, 403, 404, 410, 416),
        },
      },
    },
    async (req, typedReply) => {
      // The body is a stream or an error body, which the schema-typed reply cannot express.
      const reply = typedReply as unknown as FastifyReply;
      const opened = await art.openUnder(req.params.id, req.params.execId, req.params['*']);
      const { view } = opened;
      const etag = `"${view.sha256}"`;
      void reply
        .header('etag', etag)
        .header('accept-ranges', 'bytes')
        .header('cache-control', 'private, no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('content-disposition', contentDisposition(view.path));
      if (etagMatches(req.headers['if-none-match'], etag)) {
        await opened.close();
        return reply.status(304).send();
      }
      const ifRange = req.headers['if-range'];
      const range =
        ifRange !== undefined && ifRange.trim() !== etag
          ? ({ kind: 'all' } as const)
          : parseRange(req.headers.range, view.size);
      if (range.kind === 'unsatisfiable') {
        await opened.close();
        const err = new AppError('ERR_RANGE_NOT_SATISFIABLE', {
          message: `The range ${req.headers.range} lies outside the file of ${view.size} bytes.`,
          context: { size: view.size },
        });
        return reply
          .status(416)
          .header('content-range', `bytes */${view.size}`)
          .type('application/json; charset=utf-8')
          .send(err.toBody());
      }
      void reply.type(view.contentType);
      if (range.kind === 'range') {
        return reply
          .status(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${view.size}`)
          .header('content-length', String(range.end - range.start + 1))
          .send(opened.stream({ start: range.start, end: range.end }));
      }
      return reply.header('content-length', String(view.size)).send(opened.stream());
    },
  );
}
