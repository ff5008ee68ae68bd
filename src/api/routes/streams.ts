/**
 * Live views of an execution (DESIGN §5): its event stream over SSE, and its logs as JSON, text
 * or SSE. Streams read the tables after the client's cursor whenever the execution changes.
 */
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { ExecutionStatus } from '../../engine/status.ts';
import type { LogLine, StreamBatch, StreamEvent, Subscription } from '../../services/stream.ts';
import { ExecutionIdParams, errorResponses } from '../schemas.ts';
import type { SseFrame, SseHub, SseWriter } from '../sse.ts';
import type { App, Services } from '../types.ts';

const tags = ['executions'];
/** Rows read per query: a batch is at most this many frames in a client's buffer. */
const eventBatch = 200;
const logBatch = 100;

const Seq = Type.Integer({ minimum: 0, maximum: 2_147_483_647 });
const LastEventIdHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      pattern: '^[0-9]{1,10}$',
      description: 'Resume after this id (set by EventSource on reconnect); wins over the query.',
    }),
  ),
});

const sseResponse = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: Type.String() } },
});

const LogLineSchema = Type.Object({
  line: Type.Integer({ description: 'Per-execution line number, from 1, without gaps.' }),
  nodeId: Type.String(),
  attempt: Type.Integer({ description: '0 for lines the system wrote outside an attempt.' }),
  stream: Type.String({ description: 'stdout, stderr or system (truncation markers).' }),
  text: Type.String(),
  at: Type.String({ format: 'date-time' }),
});

const LogPageSchema = Type.Object({
  items: Type.Array(LogLineSchema),
  nextAfter: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Pass as `after` for the next page; null when this page reached the last line.',
  }),
});

export function streamRoutes(app: App, services: Services, hub: SseHub): void {
  const streams = services.streams;

  app.get(
    '/api/v1/workflows/:id/executions/:execId/stream',
    {
      config: { permission: 'workflows.read', ownExecution: true },
      schema: {
        tags,
        summary:
          'Server-Sent Events: one event per state change (id = seq), heartbeats, `event: end` after a terminal status',
        params: ExecutionIdParams,
        querystring: Type.Object(
          { from: Type.Optional({ ...Seq, description: 'Replay from this seq, inclusive.' }) },
          { additionalProperties: false },
        ),
        headers: LastEventIdHeaders,
        response: {
          200: sseResponse(
            'text/event-stream: `id: <seq>`, `event: <type>`, `data: <event JSON>`; finally `event: end` with `{"status"}`',
          ),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) => {
      const { id, execId } = req.params;
      const lastId = req.headers['last-event-id'];
      const after = lastId !== undefined ? Number(lastId) : Math.max(0, (req.query.from ?? 1) - 1);
      // Subscribed before the first read, which also answers 404 for an unknown execution.
      const sub = streams.subscribe(execId, 'events');
      let first: StreamBatch<StreamEvent>;
      try {
        first = await streams.firstEvents(id, execId, after, eventBatch);
      } catch (err) {
        sub.close();
        throw err;
      }
      follow(
        hub.open(reply as unknown as FastifyReply),
        services,
        req.log,
        execId,
        'events',
        after,
        {
          read: (cursor) => streams.readEvents(execId, cursor, eventBatch),
          limit: eventBatch,
          frame: (e) => ({ id: e.seq, event: e.type, data: e.data }),
          cursor: (e) => e.seq,
        },
        { sub, first },
      );
    },
  );

  app.get(
    '/api/v1/workflows/:id/executions/:execId/logs',
    {
      config: { permission: 'workflows.read', ownExecution: true },
      schema: {
        tags,
        summary:
          'Log lines of an execution: JSON page, text/plain lines, or live over SSE (Accept: text/event-stream or follow=1)',
        params: ExecutionIdParams,
        querystring: Type.Object(
          {
            node: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            attempt: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
            after: Type.Optional({ ...Seq, description: 'Only lines after this line number.' }),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 1000 })),
            follow: Type.Optional(
              Type.Union([Type.Literal('1'), Type.Literal('true'), Type.Boolean()], {
                description: 'Stream live over SSE, as with Accept: text/event-stream.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        headers: LastEventIdHeaders,
        response: {
          200: {
            description:
              'JSON `{items, nextAfter}`; text/plain lines `[node#attempt stream] text`; or text/event-stream (`id: <line>`, `event: log`, finally `event: end`)',
            content: {
              'application/json': { schema: LogPageSchema },
              'text/plain': { schema: Type.String() },
              'text/event-stream': { schema: Type.String() },
            },
          },
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req, typedReply) => {
      // Text and SSE bodies are not the JSON schema's shape.
      const reply = typedReply as unknown as FastifyReply;
      const { id, execId } = req.params;
      const q = req.query;
      const filter = {
        ...(q.node !== undefined && { nodeId: q.node }),
        ...(q.attempt !== undefined && { attempt: q.attempt }),
      };
      const accept = req.headers.accept ?? '';
      const follows =
        q.follow === true ||
        q.follow === '1' ||
        q.follow === 'true' ||
        accepts(accept, 'text/event-stream');
      if (follows) {
        await streams.require(id, execId);
        const lastId = req.headers['last-event-id'];
        const after = lastId !== undefined ? Number(lastId) : (q.after ?? 0);
        follow(hub.open(reply), services, req.log, execId, 'logs', after, {
          read: (cursor) => streams.readLogs(execId, filter, cursor, logBatch),
          limit: logBatch,
          frame: (l: LogLine) => ({ id: l.line, event: 'log', data: JSON.stringify(l) }),
          cursor: (l) => l.line,
        });
        return;
      }
      const page = await streams.listLogs(id, execId, {
        ...filter,
        ...(q.after !== undefined && { after: q.after }),
        limit: q.limit ?? 1000,
      });
      if (accepts(accept, 'text/plain') && !accepts(accept, 'application/json')) {
        const body = page.items
          .map((l) => `[${l.nodeId}#${l.attempt} ${l.stream}] ${l.text}\n`)
          .join('');
        if (page.nextAfter !== null) void reply.header('x-next-after', String(page.nextAfter));
        return reply.type('text/plain; charset=utf-8').send(body);
      }
      return reply.send(page);
    },
  );
}

function accepts(accept: string, type: string): boolean {
  return accept.toLowerCase().includes(type);
}

interface FollowSpec<T> {
  read(after: number): Promise<StreamBatch<T>>;
  limit: number;
  frame(item: T): SseFrame;
  cursor(item: T): number;
}

/**
 * Sends rows after `after` until the execution ends or the client goes: read a batch from the
 * table, write it, wait for the socket to drain when it is full, wait for a wake-up when the
 * table has nothing new. The subscription exists before the first read, so no commit is missed.
 */
function follow<T>(
  sse: SseWriter,
  services: Services,
  log: FastifyBaseLogger,
  executionId: string,
  kind: Subscription['kind'],
  after: number,
  spec: FollowSpec<T>,
  /** The subscription and first batch, when the caller read it (to answer 404 first). */
  opened?: { sub: Subscription; first: StreamBatch<T> },
): void {
  const sub = opened?.sub ?? services.streams.subscribe(executionId, kind);
  sse.onClose(() => sub.close());
  let pending = opened?.first;
  const run = async (): Promise<void> => {
    let cursor = after;
    while (!sse.closed) {
      const batch = pending ?? (await spec.read(cursor));
      pending = undefined;
      if (sse.closed) return;
      let complete = true;
      for (const item of batch.items) {
        sse.send(spec.frame(item));
        cursor = spec.cursor(item);
        if (sse.congested && item !== batch.items.at(-1)) {
          complete = false;
          break;
        }
      }
      if (batch.gone) return sse.drop('execution_deleted');
      if (complete && batch.end !== null) return sse.end(endFrame(batch.end));
      if (!(await sse.drained())) return;
      if (complete && batch.items.length < spec.limit) await sub.wait();
    }
  };
  run().catch((err: unknown) => {
    // A database error mid-stream: the client reconnects with Last-Event-ID and resumes.
    log.error({ err, executionId }, 'stream read failed');
    sse.end();
  });
}

function endFrame(status: ExecutionStatus): SseFrame {
  return { event: 'end', data: JSON.stringify({ status }) };
}
