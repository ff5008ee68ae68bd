/**
 * The MCP servers of an `agent` node (`mcp_servers`): each is a stdio server started as a
 * process of the execution's sandbox, as the built-in tools are, and spoken to by the official
 * SDK's `Client` over that process's stdin and stdout (mcp-transport.ts). Its tools are offered
 * to the model as `<server>__<tool>`; a call's text content is the tool result, `isError` a tool
 * error. A server that does not start, initialize or list its tools fails the node
 * (`ERR_MCP_SERVER`); the servers are stopped when the agent ends, however it ends.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Static, Type } from 'typebox';
import { EnvMap, NonEmptyString } from '../definition/model.ts';
import type { ErrorDetail } from '../errors.ts';
import type { ProcessEnd, Sandbox, SandboxProcess } from '../runtime/types.ts';
import type { ToolLimits, ToolOutcome } from './agent-tools.ts';
import { cancelled, errorMessage, fail, formatMs } from './errors.ts';
import type { ExecContext, ExecResult } from './executor.ts';
import { LineSplitter } from './line-splitter.ts';
import { SandboxStdioTransport } from './mcp-transport.ts';
import type { ToolSpec } from './llm-wire.ts';
import type { NodeCheckContext } from './node-type.ts';

export const McpServerSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z][A-Za-z0-9_-]{0,31}$',
      description: 'the prefix of its tools: `<name>__<tool>`',
    }),
    command: Type.Union([NonEmptyString(), Type.Array(Type.String(), { minItems: 1 })], {
      description: 'run in the workspace inside the sandbox: a string for `sh -c`, or an argv list',
    }),
    env: Type.Optional(EnvMap()),
  },
  { additionalProperties: false, 'x-name': 'MCP server' },
);
type McpServerConfig = Static<typeof McpServerSchema>;

/** Time for a server to start, answer `initialize` and list its tools. */
const startTimeoutMs = 30_000;
/** Lines of a server's stderr logged, per server (a chatty server must not flood the log). */
const stderrLines = 200;
/** Tool names the providers accept (OpenAI: `^[a-zA-Z0-9_-]{1,64}$`). */
const maxToolName = 64;
/** After its stdin closes, a server has this long to exit before it is stopped. */
const exitWaitMs = 500;
/** How long a failed start waits for the server's exit code and stderr, for its message. */
const exitDetailWaitMs = 2000;

/** Save-time checks beyond the schema: names unique, the argv's program non-empty. */
export function mcpServerProblems(
  servers: readonly McpServerConfig[] | undefined,
  ctx: NodeCheckContext,
): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const seen = new Set<string>();
  (servers ?? []).forEach((server, i) => {
    if (seen.has(server.name))
      problems.push({ path: ctx.field('mcpServers', i, 'name'), message: 'is not unique' });
    seen.add(server.name);
    if (Array.isArray(server.command) && server.command[0]!.trim() === '')
      problems.push({ path: ctx.field('mcpServers', i, 'command', 0), message: 'is empty' });
  });
  return problems;
}

interface Connected {
  config: McpServerConfig;
  proc: SandboxProcess;
  client: Client;
  /** Why the process ended, once it has (for messages). */
  ended?: string;
  stderrTail: string[];
}

interface Exposed {
  server: Connected;
  tool: string;
}

/** The started servers of one agent run. */
export interface McpSession {
  readonly specs: ToolSpec[];
  has(name: string): boolean;
  call(
    name: string,
    input: unknown,
    limits: ToolLimits,
    remainingMs: number | undefined,
  ): Promise<ToolOutcome>;
  /** Closes the clients and stops the processes (and whatever they started). */
  close(): Promise<void>;
}

/**
 * Starts the node's servers in `sandbox` and lists their tools; on any failure the ones started
 * are stopped again and the node's failure is returned.
 */
export async function openMcpServers(
  ctx: ExecContext<unknown>,
  sandbox: Sandbox,
  env: Record<string, string>,
  servers: readonly McpServerConfig[],
  remainingMs: () => number | undefined,
): Promise<McpSession | { failed: ExecResult }> {
  const started: Connected[] = [];
  const exposed = new Map<string, Exposed>();
  const specs: ToolSpec[] = [];
  const session: McpSession = {
    specs,
    has: (name) => exposed.has(name),
    call: (name, input, limits, left) => callTool(ctx, exposed.get(name)!, input, limits, left),
    close: () => closeAll(ctx, started),
  };
  for (const config of servers) {
    const left = remainingMs();
    const timeout = Math.max(Math.min(startTimeoutMs, left ?? startTimeoutMs), 1);
    const outcome = await startServer(ctx, sandbox, env, config, timeout);
    if ('error' in outcome) {
      await session.close();
      if (ctx.signal.aborted) return { failed: cancelled(ctx.signal) };
      // The node's deadline, not the start timeout, ended the wait (a timer may fire a hair early).
      const after = remainingMs();
      const nodeBound =
        left !== undefined && left < startTimeoutMs && /timed out/i.test(outcome.error);
      if ((after !== undefined && after <= 0) || nodeBound) {
        return {
          failed: fail(
            'ERR_NODE_TIMEOUT',
            `agent timed out after ${formatMs(ctx.timeoutMs ?? 0)} while MCP server ${JSON.stringify(config.name)} started`,
          ),
        };
      }
      return {
        failed: fail(
          'ERR_MCP_SERVER',
          `MCP server ${JSON.stringify(config.name)} ${outcome.error}`,
        ),
      };
    }
    started.push(outcome.server);
    for (const tool of outcome.tools) {
      const name = toolName(config.name, tool.name);
      if (exposed.has(name)) {
        ctx.log(
          'system',
          `MCP server ${config.name}: tool ${tool.name} skipped (${name} is taken)`,
        );
        continue;
      }
      exposed.set(name, { server: outcome.server, tool: tool.name });
      specs.push({
        name,
        description: tool.description ?? tool.title ?? `${tool.name} of MCP server ${config.name}`,
        parameters: tool.inputSchema,
      });
    }
    ctx.log(
      'system',
      `MCP server ${config.name} started (pid ${outcome.server.proc.pid ?? '?'}): ${outcome.tools.length} tool(s): ${outcome.tools.map((t) => t.name).join(', ')}`,
    );
  }
  return session;
}

/** `<server>__<tool>`, with what the providers refuse in a name replaced by `_`. */
function toolName(server: string, tool: string): string {
  return `${server}__${tool.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, maxToolName);
}

async function startServer(
  ctx: ExecContext<unknown>,
  sandbox: Sandbox,
  env: Record<string, string>,
  config: McpServerConfig,
  timeoutMs: number,
): Promise<{ server: Connected; tools: Tool[] } | { error: string }> {
  const argv =
    typeof config.command === 'string' ? ['/bin/sh', '-c', config.command] : config.command;
  let proc: SandboxProcess;
  try {
    proc = await sandbox.spawn(argv, {
      cwd: sandbox.workspace,
      env: { ...env, ...config.env },
      key: `${ctx.nodeId}.mcp.${config.name}`,
      stdin: true,
    });
  } catch (error) {
    return { error: `did not start: ${errorMessage(error)}` };
  }
  const stdin = proc.stdin;
  if (stdin === undefined) {
    await proc.terminate(0);
    return { error: `cannot run: the ${sandbox.runtime} runtime gives processes no stdin` };
  }
  const client = new Client({ name: 'switchyard', version: '1' }, { capabilities: {} });
  const server: Connected = { config, proc, client, stderrTail: [] };
  let logged = 0;
  const lines = new LineSplitter((line) => {
    server.stderrTail = [...server.stderrTail.slice(-4), line];
    if (++logged <= stderrLines) ctx.log('stderr', `[mcp ${config.name}] ${line}`);
    else if (logged === stderrLines + 1)
      ctx.log('system', `MCP server ${config.name}: further stderr is not logged`);
  });
  proc.stderr.once('end', () => lines.end());
  void proc.exited.then((end) => noteEnd(server, end));
  const transport = new SandboxStdioTransport(proc, stdin, (chunk) => lines.push(chunk));
  client.onerror = (error) => ctx.log('system', `MCP server ${config.name}: ${error.message}`);
  const options = { timeout: timeoutMs, maxTotalTimeout: timeoutMs, signal: ctx.signal };
  try {
    await client.connect(transport, options);
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor }, options);
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined && tools.length < 1000);
    return { server, tools };
  } catch (error) {
    // A server that exited: its exit code and last stderr lines say why (they may come after
    // the closed stdout that failed the request).
    await settled(server, exitDetailWaitMs);
    await closeAll(ctx, [server]);
    return { error: `did not list its tools: ${errorMessage(error)}${endedDetail(server)}` };
  }
}

function noteEnd(server: Connected, end: ProcessEnd): void {
  server.ended = end.signal === null ? `exit code ${end.code}` : `killed by ${end.signal}`;
}

/** Waits (at most `ms`) for the process to exit and its stderr to be read to the end. */
async function settled(server: Connected, ms: number): Promise<void> {
  const wait = new AbortController();
  await Promise.race([
    Promise.all([
      server.proc.exited.then((end) => noteEnd(server, end)),
      finished(server.proc.stderr).catch(() => {}),
    ]),
    sleep(ms, undefined, { signal: wait.signal }).catch(() => {}),
  ]);
  wait.abort();
}

/** ` (exit code 127; stderr: sh: nope: not found)` once the process has ended, else ``. */
function endedDetail(server: Connected): string {
  const parts = [
    ...(server.ended === undefined ? [] : [server.ended]),
    ...(server.stderrTail.length === 0 ? [] : [`stderr: ${server.stderrTail.join(' | ')}`]),
  ];
  return parts.length === 0 ? '' : ` (${parts.join('; ')})`;
}

async function callTool(
  ctx: ExecContext<unknown>,
  target: Exposed,
  input: unknown,
  limits: ToolLimits,
  remainingMs: number | undefined,
): Promise<ToolOutcome> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return {
      content: 'error: the arguments must be a JSON object',
      isError: true,
      summary: 'refused',
      seconds: 0,
    };
  const stop = new AbortController();
  let stopped: 'timeout' | 'cancelled' | undefined;
  const onAbort = () => {
    stopped ??= 'cancelled';
    stop.abort();
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  const timer =
    remainingMs === undefined
      ? undefined
      : setTimeout(
          () => {
            stopped ??= 'timeout';
            stop.abort();
          },
          Math.max(remainingMs, 0),
        );
  try {
    const result = await target.server.client.callTool(
      { name: target.tool, arguments: input as Record<string, unknown> },
      undefined,
      {
        signal: stop.signal,
        timeout: limits.shellTimeoutMs,
        maxTotalTimeout: limits.shellTimeoutMs,
      },
    );
    const text = resultText(result);
    const bytes = Buffer.byteLength(text);
    const content =
      bytes > limits.outputBytes
        ? `${Buffer.from(text).subarray(0, limits.outputBytes).toString('utf8')}\n[… truncated at ${limits.outputBytes} bytes]`
        : text;
    const isError = result.isError === true;
    return { content, isError, summary: `${bytes} bytes`, seconds: seconds() };
  } catch (error) {
    if (stopped !== undefined)
      return {
        content: 'error: stopped',
        isError: true,
        summary: stopped,
        seconds: seconds(),
        stopped,
      };
    const message = `${errorMessage(error)}${endedDetail(target.server)}`;
    const timedOut = /timed? ?out/i.test(message);
    return {
      content: `error: ${timedOut ? `timed out after ${formatMs(limits.shellTimeoutMs)}` : message}`,
      isError: true,
      summary: timedOut ? 'timed out' : 'failed',
      seconds: seconds(),
    };
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/** The text a model gets from a call: its text blocks, and a mark for each of the others. */
function resultText(result: Record<string, unknown>): string {
  const blocks = Array.isArray(result.content) ? (result.content as Record<string, unknown>[]) : [];
  const parts = blocks.map((block) => {
    switch (block.type) {
      case 'text':
        return String(block.text);
      case 'resource': {
        const resource = block.resource as Record<string, unknown>;
        return typeof resource.text === 'string'
          ? resource.text
          : `[resource ${String(resource.uri)}]`;
      }
      case 'resource_link':
        return `[resource ${String(block.uri)}]`;
      default: {
        const mime = typeof block.mimeType === 'string' ? ` ${block.mimeType}` : '';
        return `[${typeof block.type === 'string' ? block.type : 'content'}${mime}]`;
      }
    }
  });
  if (parts.length === 0 && result.structuredContent !== undefined)
    return JSON.stringify(result.structuredContent);
  if (parts.length === 0 && 'toolResult' in result) return JSON.stringify(result.toolResult);
  return parts.join('\n');
}

/** Ends each server's stdin, gives it a moment to exit, then stops its process tree. */
async function closeAll(ctx: ExecContext<unknown>, servers: readonly Connected[]): Promise<void> {
  await Promise.all(
    servers.map(async (server) => {
      await server.client.close().catch(() => {});
      const wait = new AbortController();
      await Promise.race([
        server.proc.exited,
        sleep(exitWaitMs, undefined, { signal: wait.signal }).catch(() => {}),
      ]);
      wait.abort();
      await server.proc.terminate(ctx.killGraceMs);
      if (await server.proc.leftovers()) await server.proc.terminate(0);
      server.proc.stdout.destroy();
      server.proc.stderr.destroy();
    }),
  );
}
