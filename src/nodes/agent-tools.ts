/**
 * The built-in tools of the `agent` node. Each runs as a process of the execution's sandbox (the
 * local sandbox or the docker container) in its workspace, as the sandbox's user: a tool can
 * reach no file a `command` node could not, symlinks included, and behaves the same on every
 * runtime. Paths are confined to the workspace before anything runs; a refused path, a bad
 * argument, a non-zero exit or a tool timeout is a tool error handed back to the model, not a
 * failure of the node.
 */
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { stateDirName } from '../runtime/local.ts';
import type { Sandbox, SandboxProcess } from '../runtime/types.ts';
import { errorMessage, formatMs } from './errors.ts';
import type { ExecContext } from './executor.ts';
import type { ToolSpec } from './llm-wire.ts';

export const toolNames = ['shell', 'read_file', 'write_file', 'list_files'] as const;
export type ToolName = (typeof toolNames)[number];

export const toolSpecs: Record<ToolName, ToolSpec> = {
  shell: {
    name: 'shell',
    description:
      'Runs a command with `sh -c` in the workspace (the working directory). Answers the exit code and the combined stdout and stderr, truncated past a limit.',
    parameters: {
      type: 'object',
      properties: { command: { type: 'string', description: 'the shell command' } },
      required: ['command'],
    },
  },
  read_file: {
    name: 'read_file',
    description: 'Reads a text file of the workspace (a path relative to it).',
    parameters: {
      type: 'object',
      properties: { path: { type: 'string', description: 'relative to the workspace' } },
      required: ['path'],
    },
  },
  write_file: {
    name: 'write_file',
    description:
      'Writes a text file in the workspace (a path relative to it), creating its directories and replacing what was there.',
    parameters: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'relative to the workspace' },
        content: { type: 'string', description: 'the whole new content' },
      },
      required: ['path', 'content'],
    },
  },
  list_files: {
    name: 'list_files',
    description:
      'Lists the files and directories (with a trailing /) under a directory of the workspace, two levels deep.',
    parameters: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'relative to the workspace; default the workspace' },
      },
    },
  },
};

/** Limits of one tool call. */
export interface ToolLimits {
  /** A shell command's own timeout (the node's timeout still bounds it). */
  shellTimeoutMs: number;
  /** Most bytes of output (shell stdout+stderr, a read file, a listing) handed to the model. */
  outputBytes: number;
}

/** Most bytes `write_file` writes in one call (the content travels in the process's arguments). */
const maxWriteBytes = 512 * 1024;
/** One argument of the write: Linux refuses a single argument past 128 KiB. */
const writeChunkChars = 32 * 1024;
const listDepth = 2;
const streamCloseWaitMs = 2000;
const fallbackPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ToolOutcome {
  /** What the model gets back. */
  content: string;
  isError: boolean;
  /** For the log line: `exit 0, 12 bytes`. */
  summary: string;
  /** Seconds a process ran, for the node's runtime usage. */
  seconds: number;
  /** Set when the node's own deadline or cancel stopped the tool: the loop ends. */
  stopped?: 'timeout' | 'cancelled';
}

/** The tool's arguments as a record, or why they are not one. */
function argumentsOf(input: unknown): Record<string, unknown> | string {
  if (typeof input === 'object' && input !== null && !Array.isArray(input))
    return input as Record<string, unknown>;
  return 'the arguments must be a JSON object';
}

function toolError(message: string): ToolOutcome {
  return { content: `error: ${message}`, isError: true, summary: 'refused', seconds: 0 };
}

/**
 * Runs tool `name` with the model's `input`. `remainingMs` is what is left of the node's
 * timeout (undefined: none); `signal` is the node's cancel signal.
 */
export async function runTool(
  ctx: ExecContext<unknown>,
  sandbox: Sandbox,
  env: Record<string, string>,
  name: ToolName,
  input: unknown,
  limits: ToolLimits,
  remainingMs: number | undefined,
): Promise<ToolOutcome> {
  const args = argumentsOf(input);
  if (typeof args === 'string') return toolError(args);
  const run = (argv: string[], timeoutMs: number) =>
    runCaptured(ctx, sandbox, argv, env, limits.outputBytes, timeoutMs, remainingMs);
  switch (name) {
    case 'shell': {
      const command = args.command;
      if (typeof command !== 'string' || command.trim() === '')
        return toolError("'command' must be a non-empty string");
      const end = await run(['/bin/sh', '-c', command], limits.shellTimeoutMs);
      if (end.kind === 'error') return toolError(end.message);
      const shown = end.output + (end.dropped > 0 ? `\n[… ${end.dropped} more bytes]` : '');
      const status =
        end.timedOut === true
          ? `timed out after ${formatMs(limits.shellTimeoutMs)}`
          : end.signal !== null
            ? `killed by ${end.signal}`
            : `exit code ${end.code}`;
      return {
        content: `${status}\n${shown}`,
        isError: end.code !== 0,
        summary: `${status}, ${end.bytes} bytes`,
        seconds: end.seconds,
        ...(end.stopped !== undefined && { stopped: end.stopped }),
      };
    }
    case 'read_file': {
      const file = confine(sandbox, args.path, false);
      if (typeof file !== 'string') return toolError(file.error);
      const end = await run(['head', '-c', String(limits.outputBytes + 1), file], 30_000);
      if (end.kind === 'error') return toolError(end.message);
      if (end.code !== 0) return processError(end, 'cannot read the file');
      const cut = end.bytes > limits.outputBytes;
      return {
        content: cut ? `${end.output}\n[… truncated at ${limits.outputBytes} bytes]` : end.output,
        isError: false,
        summary: `${Math.min(end.bytes, limits.outputBytes)} bytes${cut ? ' (truncated)' : ''}`,
        seconds: end.seconds,
        ...(end.stopped !== undefined && { stopped: end.stopped }),
      };
    }
    case 'write_file': {
      const file = confine(sandbox, args.path, false);
      if (typeof file !== 'string') return toolError(file.error);
      const content = args.content;
      if (typeof content !== 'string') return toolError("'content' must be a string");
      const bytes = Buffer.byteLength(content);
      if (bytes > maxWriteBytes)
        return toolError(
          `the content is ${bytes} bytes; write_file takes at most ${maxWriteBytes}`,
        );
      if (content.includes('\0')) return toolError('the content holds a NUL character');
      const chunks: string[] = [];
      for (let i = 0; i < content.length; i += writeChunkChars)
        chunks.push(content.slice(i, i + writeChunkChars));
      // printf '%s' writes each argument as it is (no escapes): the chunks, concatenated.
      const script = 'f=$1; shift; mkdir -p -- "$(dirname -- "$f")" && printf %s "$@" > "$f"';
      const end = await run(['/bin/sh', '-c', script, 'write_file', file, ...chunks], 30_000);
      if (end.kind === 'error') return toolError(end.message);
      if (end.code !== 0) return processError(end, 'cannot write the file');
      return {
        content: `wrote ${bytes} bytes to ${shownPath(sandbox, file)}`,
        isError: false,
        summary: `${bytes} bytes`,
        seconds: end.seconds,
        ...(end.stopped !== undefined && { stopped: end.stopped }),
      };
    }
    case 'list_files': {
      const dir = confine(sandbox, args.path ?? '.', true);
      if (typeof dir !== 'string') return toolError(dir.error);
      const script =
        'cd -- "$1" && find . -mindepth 1 -maxdepth "$2" -type d | sed "s|\\$|/|" && find . -mindepth 1 -maxdepth "$2" ! -type d';
      const end = await run(
        ['/bin/sh', '-c', script, 'list_files', dir, String(listDepth)],
        30_000,
      );
      if (end.kind === 'error') return toolError(end.message);
      if (end.code !== 0) return processError(end, 'cannot list the directory');
      const entries = end.output
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith(`./${stateDirName}`))
        .map((line) => line.replace(/^\.\//, ''))
        .sort();
      const cut = end.dropped > 0 ? '\n[… truncated]' : '';
      return {
        content: entries.length === 0 ? '(empty)' : entries.join('\n') + cut,
        isError: false,
        summary: `${entries.length} entries`,
        seconds: end.seconds,
        ...(end.stopped !== undefined && { stopped: end.stopped }),
      };
    }
  }
}

function processError(end: Exited, what: string): ToolOutcome {
  const detail = end.output.trim().split('\n').slice(-3).join('\n');
  return {
    content: `error: ${what}${detail === '' ? '' : `: ${detail}`}`,
    isError: true,
    summary: `exit code ${end.code}`,
    seconds: end.seconds,
    ...(end.stopped !== undefined && { stopped: end.stopped }),
  };
}

/**
 * The path as processes see it, confined to the workspace: relative paths are under it, and an
 * absolute one must be inside it (`/workspace/...` is the workspace on every runtime). `..`
 * that leaves it, and the server's state directory, are refused.
 */
function confine(sandbox: Sandbox, value: unknown, allowRoot: boolean): string | { error: string } {
  if (typeof value !== 'string' || value === '') return { error: "'path' must be a string" };
  if (value.includes('\0')) return { error: "'path' holds a NUL character" };
  const root = sandbox.workspace;
  let relative: string;
  if (path.posix.isAbsolute(value)) {
    const base = value === '/workspace' || value.startsWith('/workspace/') ? '/workspace' : root;
    relative = path.posix.relative(base, path.posix.normalize(value));
  } else relative = path.posix.normalize(value);
  relative = relative.replace(/\/+$/, '');
  if (relative === '..' || relative.startsWith('../') || path.posix.isAbsolute(relative))
    return { error: `path ${JSON.stringify(value)} is outside the workspace` };
  if (relative === '' || relative === '.') {
    if (allowRoot) return root;
    return { error: `path ${JSON.stringify(value)} is the workspace itself, not a file` };
  }
  if (relative === stateDirName || relative.startsWith(`${stateDirName}/`))
    return { error: `path ${JSON.stringify(value)} is reserved for Switchyard` };
  return path.posix.join(root, relative);
}

/** A path as the model should see it: relative to the workspace. */
function shownPath(sandbox: Sandbox, file: string): string {
  return path.posix.relative(sandbox.workspace, file);
}

/** The environment of tool processes: as a `command` node's, without its output file. */
export function toolEnv(
  ctx: ExecContext<unknown>,
  sandbox: Sandbox,
  nodeEnv: Record<string, string> | undefined,
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? fallbackPath,
    HOME: sandbox.workspace,
    ...ctx.env,
    ...(nodeEnv ?? {}),
    SWITCHYARD_WORKSPACE: sandbox.workspace,
  };
}

type Captured = { kind: 'error'; message: string } | Exited;

interface Exited {
  kind: 'exited';
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr as they came, at most the cap. */
  output: string;
  /** Bytes the process wrote. */
  bytes: number;
  dropped: number;
  seconds: number;
  timedOut?: boolean;
  stopped?: 'timeout' | 'cancelled';
}

/**
 * Runs `argv` in the workspace, keeping at most `cap` bytes of its output. The tool's timeout
 * stops it (the tool fails); the node's deadline or cancel stops it too (the node ends).
 */
async function runCaptured(
  ctx: ExecContext<unknown>,
  sandbox: Sandbox,
  argv: string[],
  env: Record<string, string>,
  cap: number,
  timeoutMs: number,
  remainingMs: number | undefined,
): Promise<Captured> {
  const started = performance.now();
  let proc: SandboxProcess;
  try {
    proc = await sandbox.spawn(argv, { cwd: sandbox.workspace, env, key: ctx.nodeId });
  } catch (error) {
    return { kind: 'error', message: `could not start the tool: ${errorMessage(error)}` };
  }
  const chunks: Buffer[] = [];
  let kept = 0;
  let bytes = 0;
  const keep = (chunk: Buffer) => {
    bytes += chunk.length;
    const room = cap - kept;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    chunks.push(part);
    kept += part.length;
  };
  const closed = Promise.all([
    finished(proc.stdout).catch(() => {}),
    finished(proc.stderr).catch(() => {}),
  ]);
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);

  let timedOut = false;
  let stopped: 'timeout' | 'cancelled' | undefined;
  let termination: Promise<void> | undefined;
  const terminate = () => {
    termination ??= proc.terminate(ctx.killGraceMs);
  };
  const toolTimer = setTimeout(() => {
    timedOut = true;
    terminate();
  }, timeoutMs);
  const nodeTimer =
    remainingMs === undefined
      ? undefined
      : setTimeout(
          () => {
            stopped ??= 'timeout';
            terminate();
          },
          Math.max(remainingMs, 0),
        );
  const onAbort = () => {
    stopped ??= 'cancelled';
    terminate();
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();

  const exit = await proc.exited;
  clearTimeout(toolTimer);
  clearTimeout(nodeTimer);
  ctx.signal.removeEventListener('abort', onAbort);
  if (termination === undefined && (await proc.leftovers())) terminate();
  await termination;
  const wait = new AbortController();
  const closedInTime = await Promise.race([
    closed.then(() => true),
    sleep(streamCloseWaitMs, false, { signal: wait.signal }).catch(() => false),
  ]);
  wait.abort();
  if (!closedInTime) {
    proc.stdout.destroy();
    proc.stderr.destroy();
  }
  return {
    kind: 'exited',
    code: exit.code,
    signal: exit.signal,
    output: Buffer.concat(chunks, kept).toString('utf8'),
    bytes,
    dropped: bytes - kept,
    seconds: (performance.now() - started) / 1000,
    ...(timedOut && stopped === undefined ? { timedOut } : {}),
    ...(stopped !== undefined && { stopped }),
  };
}
