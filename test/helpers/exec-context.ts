/**
 * A real ExecContext for executor tests: a temp workspace, a real local-runtime sandbox (plain
 * processes unless the test asks for bubblewrap or cgroups), collected log lines, and the
 * worker's own rendering, expressions and inline dispatch (src/worker/node-call.ts) over the
 * built-in node types. What the fixture adds is the scope (`scope`) and the log collection.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEgressClients } from '../../src/egress/dispatcher.ts';
import type { GraphNode } from '../../src/definition/model.ts';
import type {
  ExecContext,
  ExecResult,
  ItemCheckpoints,
  LlmProvider,
  LogStream,
} from '../../src/nodes/executor.ts';
import { builtinNodeRegistry } from '../../src/nodes/registry.ts';
import { callExecutor, expressionMembers, renderOrFail } from '../../src/worker/node-call.ts';
import { type LocalSandbox, createLocalRuntime } from '../../src/runtime/local.ts';
import type { ResourceLimits } from '../../src/runtime/types.ts';

export interface LogLine {
  stream: LogStream;
  line: string;
  nodeId: string;
  /** `performance.now()` when the line was logged. */
  at: number;
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
  /** The node's item checkpoints (default: a fresh `MemoryCheckpoints`, as an empty table). */
  items?: ItemCheckpoints;
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

  const types = builtinNodeRegistry;
  const log = (stream: LogStream, line: string, nodeId: string) => {
    const entry = { stream, line, nodeId, at: performance.now() };
    lines.push(entry);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i]!;
      if (waiter.match(entry)) {
        waiters.splice(i, 1);
        waiter.resolve(entry);
      }
    }
  };
  // The node as the worker hands it to its executor: rendered, late fields excepted.
  const rendered = renderOrFail(types, node, scope);
  const ctx: ExecContext = {
    executionId,
    workflowId: 'wf_test',
    nodeId: node.id,
    attempt: 1,
    node: 'node' in rendered ? rendered.node : node,
    sandbox: () => Promise.resolve(sandbox),
    env: { ...(opts.env ?? {}) },
    timeoutMs: opts.timeoutMs,
    signal: controller.signal,
    log: (stream, line) => log(stream, line, node.id),
    items: opts.items ?? new MemoryCheckpoints(),
    ...expressionMembers(
      types,
      () => ctx,
      node,
      scope,
      (stream, line) => log(stream, line, node.id),
    ),
    providers,
    egress,
    killGraceMs: opts.killGraceMs ?? 500,
  };
  if (opts.runInline !== undefined) ctx.runInline = opts.runInline;

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
    run: () => ('failed' in rendered ? Promise.resolve(rendered.failed) : callExecutor(types, ctx)),
    dispose: async () => {
      await egress.close();
      await sandbox.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Item checkpoints kept in memory, as the worker keeps them in `execution_items`: the rows by
 * index, a succeeded one never overwritten. Handing the same instance to a second fixture is a
 * second attempt of the node.
 */
export class MemoryCheckpoints implements ItemCheckpoints {
  readonly rows = new Map<number, { hash: string; key?: string; result?: ExecResult }>();

  done(index: number, hash: string): Promise<Record<string, unknown> | undefined> {
    const row = this.rows.get(index);
    const result = row?.hash === hash ? row.result : undefined;
    return Promise.resolve(result?.status === 'succeeded' ? result.outputs : undefined);
  }

  started(index: number, hash: string, key?: string): Promise<void> {
    if (this.rows.get(index)?.result?.status !== 'succeeded') this.rows.set(index, { hash, key });
    return Promise.resolve();
  }

  record(index: number, hash: string, result: ExecResult, key?: string): Promise<void> {
    if (this.rows.get(index)?.result?.status !== 'succeeded')
      this.rows.set(index, { hash, key, result });
    return Promise.resolve();
  }
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
