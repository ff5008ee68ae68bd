/**
 * A tiny JSON client for tests that talk to a real server process over loopback. Waits read the
 * execution's SSE streams (events, or log lines), never a timer; the deadline is a failure guard.
 */
// Bodies are whatever the server answered; tests read fields from them directly.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return */
import type { EventData, EventType, LogEntry } from './events.ts';
import { type SseEvent, parseFrames } from './sse.ts';

export interface Client {
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** The first event of `type` on the execution's stream whose data satisfies `match`. */
  awaitEvent<T extends EventType>(
    workflowId: string,
    executionId: string,
    type: T,
    match?: (data: EventData[T]) => boolean,
    timeoutMs?: number,
  ): Promise<EventData[T]>;
  /** The first log line of the execution (followed live) that satisfies `match`. */
  awaitLog(
    workflowId: string,
    executionId: string,
    match: (line: LogEntry) => boolean,
    timeoutMs?: number,
  ): Promise<LogEntry>;
  /**
   * The detail once the execution's status is one of `statuses`, seen on its event stream. The
   * stream replays every status the execution had: meant for statuses it keeps (terminal ones).
   */
  waitFor(
    workflowId: string,
    executionId: string,
    statuses: string[],
    timeoutMs?: number,
  ): Promise<any>;
}

export function client(base: string, token: string): Client {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };

  /** Reads an SSE response frame by frame until `match` answers something; closes it then. */
  const readStream = async <R>(
    path: string,
    what: string,
    match: (frame: SseEvent) => R | undefined,
    timeoutMs: number,
  ): Promise<R> => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    const seen: string[] = [];
    try {
      const res = await fetch(`${base}${path}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: abort.signal,
      });
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        const cut = buffer.lastIndexOf('\n\n');
        if (cut < 0) continue;
        const frames = parseFrames(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        for (const f of frames) {
          seen.push(`${f.type} ${f.data}`);
          const got = match(f);
          if (got !== undefined) return got;
        }
      }
      throw new Error(`the stream closed before ${what}; saw ${seen.join(' | ')}`);
    } catch (err) {
      if (abort.signal.aborted)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; saw ${seen.join(' | ')}`,
        );
      throw err;
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  };

  const execPath = (workflowId: string, executionId: string) =>
    `/api/v1/workflows/${workflowId}/executions/${executionId}`;

  const awaitEvent: Client['awaitEvent'] = (
    workflowId,
    executionId,
    type,
    match = () => true,
    timeoutMs = 30_000,
  ) =>
    readStream(
      `${execPath(workflowId, executionId)}/stream`,
      `a ${type} event of ${executionId}`,
      (f) => {
        if (f.type !== type) return undefined;
        const data = JSON.parse(f.data) as EventData[typeof type];
        return match(data) ? data : undefined;
      },
      timeoutMs,
    );

  return {
    call,
    awaitEvent,
    awaitLog: (workflowId, executionId, match, timeoutMs = 30_000) =>
      readStream(
        `${execPath(workflowId, executionId)}/logs?follow=1`,
        `a log line of ${executionId}`,
        (f) => {
          if (f.type !== 'log') return undefined;
          const line = JSON.parse(f.data) as LogEntry;
          return match(line) ? line : undefined;
        },
        timeoutMs,
      ),
    async waitFor(workflowId, executionId, statuses, timeoutMs = 30_000) {
      await awaitEvent(
        workflowId,
        executionId,
        'execution.status',
        (e) => statuses.includes(e.status),
        timeoutMs,
      );
      const r = await call('GET', execPath(workflowId, executionId));
      if (r.status !== 200 || !statuses.includes(r.json.status))
        throw new Error(
          `execution ${executionId} left ${statuses.join('/')}: ${JSON.stringify(r.json)}`,
        );
      return r.json;
    },
  };
}
