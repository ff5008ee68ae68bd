/**
 * A real ExecContext for executor tests: a temp workspace, a real local-runtime sandbox (plain
 * processes unless the test asks for bubblewrap or cgroups), collected log lines, CEL through
 * `@marcbachmann/cel-js`, and `runInline` dispatching to the real executors. A fixture only: the
 * engine owns the real context (rendering rules, expression scope, persistence of logs).
 */
import assert from 'node:assert/strict';
import { evaluate as celEvaluate } from '@marcbachmann/cel-js';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findExpressionSpans } from '../../src/definition/expressions.ts';
import { createEgressClients } from '../../src/egress/dispatcher.ts';
import type { GraphNode } from '../../src/definition/model.ts';
import type { ExecContext, ExecResult, LlmProvider, LogStream } from '../../src/nodes/executor.ts';
import { executors } from '../../src/nodes/executors/index.ts';
import { type LocalSandbox, createLocalRuntime } from '../../src/runtime/local.ts';
import type { ResourceLimits } from '../../src/runtime/types.ts';

export interface LogLine {
  stream: LogStream;
  line: string;
  nodeId: string;
}

export interface ExecFixtureOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Default 500 ms. */
  killGraceMs?: number;
  providers?: Record<string, LlmProvider>;
  /** Variables every expression sees (`vars`, `params`, ...). */
  scope?: Record<string, unknown>;
  /** Replaces the dispatch of inline nodes (to script outcomes or count calls). */
  runInline?: (node: GraphNode, extra: Record<string, unknown>) => Promise<ExecResult>;
  /** The local runtime's isolation; default `none` (host processes: the tests read their pids). */
  isolation?: 'none' | 'plain' | 'bwrap';
  /** Per-execution cgroups (`auto`); default `off`. */
  cgroups?: 'auto' | 'off';
  limits?: ResourceLimits;
  network?: 'none' | 'host';
  /** The server's `egressAllow` (default empty: loopback refused except the providers' base URLs). */
  egressAllow?: string[];
}

export interface ExecFixture {
  ctx: ExecContext;
  /** Host path of the workspace. */
  workspace: string;
  sandbox: LocalSandbox;
  controller: AbortController;
  lines: LogLine[];
  /** The text of the lines of one stream, in order. */
  text(stream: LogStream): string[];
  /** Resolves with the first line (already logged or future) that matches. */
  waitForLine(match: (line: LogLine) => boolean): Promise<LogLine>;
  run(): Promise<ExecResult>;
  dispose(): Promise<void>;
}

export async function createExecFixture(
  node: GraphNode,
  opts: ExecFixtureOptions = {},
): Promise<ExecFixture> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sy-exec-'));
  const workspace = path.join(dataDir, 'workspaces', 'ws');
  await mkdir(workspace, { recursive: true });
  // Unique per fixture: executions with cgroups must not share them across concurrent tests.
  const executionId = `exec_test_${randomBytes(4).toString('hex')}`;
  const runtime = createLocalRuntime({
    dataDir,
    isolation: opts.isolation ?? 'none',
    cgroups: opts.cgroups ?? 'off',
  });
  const sandbox = await runtime.create({
    executionId,
    workflowId: 'wf_test',
    limits: opts.limits ?? {},
    network: opts.network ?? 'none',
    hostWorkspace: workspace,
  });
  const controller = new AbortController();
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  const providers = new Map(Object.entries(opts.providers ?? {}));
  const egress = createEgressClients({
    egressAllow: opts.egressAllow ?? [],
    llmBaseUrls: [...providers.values()].map((p) => p.baseUrl),
  });
  const scope = opts.scope ?? {};

  const makeContext = (current: GraphNode, extra: Record<string, unknown>): ExecContext => {
    const vars = { ...scope, ...extra };
    const ctx: ExecContext = {
      executionId,
      workflowId: 'wf_test',
      nodeId: current.id,
      attempt: 1,
      node: current,
      workspace,
      sandbox,
      env: { ...(opts.env ?? {}) },
      timeoutMs: opts.timeoutMs,
      signal: controller.signal,
      log(stream, line) {
        const entry = { stream, line, nodeId: current.id };
        lines.push(entry);
        for (let i = waiters.length - 1; i >= 0; i--) {
          const waiter = waiters[i]!;
          if (waiter.match(entry)) {
            waiters.splice(i, 1);
            waiter.resolve(entry);
          }
        }
      },
      evaluate: (expression, more) => evaluateCel(expression, { ...vars, ...more }),
      render: (value, more) => renderTemplates(value, { ...vars, ...more }),
      runInline: (inline, inlineExtra) => {
        if (opts.runInline !== undefined) return opts.runInline(inline, inlineExtra);
        return dispatch(inline, { ...extra, ...inlineExtra });
      },
      providers,
      egress,
      killGraceMs: opts.killGraceMs ?? 500,
    };
    return ctx;
  };

  const dispatch = async (inline: GraphNode, extra: Record<string, unknown>) => {
    if (inline.type === 'noop') return { status: 'succeeded', outputs: {} } as const;
    const executor = executors.get(inline.type);
    if (executor === undefined) throw new Error(`no executor for ${inline.type}`);
    const rendered = renderNode(inline, { ...scope, ...extra });
    return executor(makeContext(rendered, extra));
  };

  const ctx = makeContext(node, {});
  return {
    ctx,
    workspace,
    sandbox,
    controller,
    lines,
    text: (stream) => lines.filter((l) => l.stream === stream).map((l) => l.line),
    waitForLine: (match) => {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    run: () => {
      const executor = executors.get(node.type);
      if (executor === undefined) throw new Error(`no executor for ${node.type}`);
      return executor(ctx);
    },
    dispose: async () => {
      await egress.close();
      await sandbox.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs one node in a fresh fixture and disposes of the workspace afterwards. */
export async function runNode(
  node: GraphNode,
  opts: ExecFixtureOptions = {},
): Promise<{ result: ExecResult; fixture: ExecFixture }> {
  const fixture = await createExecFixture(node, opts);
  try {
    return { result: await fixture.run(), fixture };
  } finally {
    await fixture.dispose();
  }
}

/** CEL ints are BigInt and JS numbers are doubles: integers go in as BigInt, come out as Number. */
export function evaluateCel(expression: string, vars: Record<string, unknown>): unknown {
  return fromCel(celEvaluate(expression, toCel(vars) as Record<string, unknown>));
}

function toCel(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value;
}

function fromCel(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(fromCel);
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([k, v]) => [String(k), fromCel(v)]));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromCel(v)]));
  }
  return value;
}

/** Every `${{ }}` in every string replaced by its value (strings as they are, others as JSON). */
export function renderTemplates<T>(value: T, vars: Record<string, unknown>): T {
  if (typeof value === 'string') {
    const scan = findExpressionSpans(value);
    if (scan.spans.length === 0) return value;
    let out = '';
    let at = 0;
    for (const span of scan.spans) {
      const result = evaluateCel(span.expr, vars);
      out +=
        value.slice(at, span.start) +
        (typeof result === 'string' ? result : JSON.stringify(result));
      at = span.end;
    }
    return (out + value.slice(at)) as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => renderTemplates(v, vars)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, renderTemplates(v, vars)]),
    ) as T;
  }
  return value;
}

/** Fields that hold CEL or nested templates are evaluated later, by the executor. */
const unrenderedFields = new Set(['node', 'branches', 'items', 'until', 'if']);

function renderNode(node: GraphNode, vars: Record<string, unknown>): GraphNode {
  const out: GraphNode = { id: node.id, type: node.type };
  for (const [key, value] of Object.entries(node)) {
    out[key] = unrenderedFields.has(key) ? value : renderTemplates(value, vars);
  }
  return out;
}

/** A node:http server on 127.0.0.1 and an ephemeral port; `close` also drops open connections. */
export async function startLocalServer(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A `command` node for executor tests. */
export const command = (run: string, more: Record<string, unknown> = {}): GraphNode => ({
  id: 'step',
  type: 'command',
  run,
  ...more,
});

/** Asserts a failed result and answers its error. */
export function failed(result: ExecResult) {
  assert.equal(result.status, 'failed', JSON.stringify(result));
  return result.error;
}

/** Asserts a succeeded result and answers its outputs. */
export function succeeded(result: ExecResult) {
  assert.equal(result.status, 'succeeded', JSON.stringify(result));
  return result.outputs;
}
