import { type Static, Type } from 'typebox';
import { NonEmptyString, namePattern, nodeSchema } from '../definition/model.ts';
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, realpath, rm, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { stateDirName } from '../runtime/local.ts';
import type { Sandbox, SandboxProcess } from '../runtime/types.ts';
import { createInWorkspace, openInWorkspace } from '../runtime/workspace-files.ts';
import { cancelled, errorMessage, fail, formatMs, watchAttempt } from './errors.ts';
import { LineSplitter } from './line-splitter.ts';
import { parseOutputFile } from './output-file.ts';
import type { ExecContext, ExecResult, GatewayAccess, NodeUsage } from './executor.ts';
import { defineNodeType, type NodeCheckContext } from './node-type.ts';
import type { ErrorDetail } from '../errors.ts';

/** A shell command run in the execution's runtime (or in a sidecar `image`). */
const CommandNodeSchema = nodeSchema('command', {
  run: NonEmptyString({ description: 'the script, run by `shell`' }),
  shell: Type.Optional(NonEmptyString({ description: 'default: sh -e' })),
  workingDir: Type.Optional(
    NonEmptyString({ description: 'relative to the workspace, or absolute under /workspace' }),
  ),
  image: Type.Optional(
    NonEmptyString({ description: 'run in a sidecar container from this image' }),
  ),
  outputs: Type.Optional(Type.Array(Type.String({ pattern: namePattern }))),
});

/*
 * The `command` executor: `sh -e -c <run>` (or `shell`) in the workspace, started through the
 * execution's sandbox (DESIGN §6), which decides how it is isolated and limited. A timeout or
 * cancel stops the process and everything it started; so does success, for background
 * processes left behind.
 */
type CommandConfig = Static<typeof CommandNodeSchema>;

const defaultShell = ['/bin/sh', '-e'] as const;
/** Most of `$SWITCHYARD_OUTPUT` that is read; the rest is ignored with a log line. */
const maxOutputFileBytes = 1024 * 1024;
/** How long to wait for stdout/stderr to close after the process tree is gone. */
const streamCloseWaitMs = 2000;
const fallbackPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function executeCommand(ctx: ExecContext<CommandConfig>): Promise<ExecResult> {
  const node = ctx.node;
  if (typeof node.run !== 'string') return fail('ERR_NODE_CONFIG', "'run' must be a string");
  const argv = shellArgv(node.shell, node.run);
  if (argv === undefined) return fail('ERR_NODE_CONFIG', "'shell' is empty");
  if (ctx.signal.aborted) return cancelled(ctx.signal);
  // The execution's environment is made on the first node that runs a process.
  const sandbox = await ctx.sandbox();
  const cwd = await resolveWorkingDir(sandbox.hostWorkspace, sandbox.workspace, node.workingDir);
  if ('error' in cwd) return fail('ERR_NODE_CONFIG', cwd.error);

  let outputFile: string;
  try {
    outputFile = await createOutputFile(ctx, sandbox);
  } catch (error) {
    return fail('ERR_NODE_SPAWN', `could not create $SWITCHYARD_OUTPUT: ${errorMessage(error)}`, {
      retryable: true,
    });
  }
  // Processes see the workspace where the sandbox mounts it (`/workspace` under bubblewrap).
  const inside = (hostPath: string) =>
    path.posix.join(sandbox.workspace, path.relative(sandbox.hostWorkspace, hostPath));
  let gateway: GatewayAccess | undefined;
  try {
    gateway = await ctx.gateway?.();
  } catch (error) {
    await rm(outputFile, { force: true });
    return fail('ERR_NODE_SPAWN', `could not make the execution token: ${errorMessage(error)}`, {
      retryable: true,
    });
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? fallbackPath,
    HOME: sandbox.workspace,
    ...ctx.env,
    ...(node.env ?? {}),
    SWITCHYARD_OUTPUT: inside(outputFile),
    SWITCHYARD_WORKSPACE: sandbox.workspace,
  };
  const started = performance.now();
  const end = await runProcess(ctx, sandbox, argv, inside(cwd.path), env, node.image, gateway);
  const usage: NodeUsage = { runtimeSeconds: (performance.now() - started) / 1000 };
  if (end.kind === 'spawn-error') {
    await rm(outputFile, { force: true });
    const sandboxCode = (end.error as { code?: unknown } | undefined)?.code;
    if (
      sandboxCode === 'ERR_NODE_UNSUPPORTED' ||
      sandboxCode === 'ERR_NODE_IMAGE' ||
      sandboxCode === 'ERR_NODE_CONFIG'
    ) {
      return fail(sandboxCode, errorMessage(end.error), { usage });
    }
    return fail('ERR_NODE_SPAWN', `could not start ${argv[0]}: ${errorMessage(end.error)}`, {
      retryable: isTransientSpawnError(end.error),
      usage,
    });
  }

  const outputs: Record<string, unknown> = await readOutputs(
    ctx,
    sandbox,
    outputFile,
    node.outputs,
  );
  const exitCode = end.code ?? 128 + (end.signal === null ? 0 : signalNumber(end.signal));
  outputs.exitCode = exitCode;
  const opts = { exitCode, outputs, usage };
  if (end.stopped === 'timeout') {
    return fail('ERR_NODE_TIMEOUT', `timed out after ${formatMs(ctx.timeoutMs ?? 0)}`, opts);
  }
  if (end.stopped === 'cancelled') return cancelled(ctx.signal, opts);
  const failedRun = end.signal !== null || end.code !== 0;
  if (end.oomKilled && failedRun) {
    return fail(
      'ERR_NODE_OOM',
      `out of memory: the kernel's OOM killer stopped a process at the sandbox's memory limit (exit ${exitCode})`,
      opts,
    );
  }
  if (end.oomKilled) {
    ctx.log('system', "the kernel's OOM killer stopped a process; the command still succeeded");
  }
  if (end.signal !== null) return fail('ERR_NODE_SIGNAL', `killed by ${end.signal}`, opts);
  if (end.code !== 0) {
    const tail = end.lastStderr === undefined ? '' : `: ${end.lastStderr}`;
    return fail('ERR_NODE_EXIT', `exited with code ${end.code}${tail}`, opts);
  }
  return { status: 'succeeded', outputs, usage };
}

/** `shell` split on spaces (`bash -e -o pipefail`) plus `-c <run>`; undefined when empty. */
function shellArgv(shell: string | undefined, run: string): string[] | undefined {
  const parts = shell === undefined ? [...defaultShell] : shell.trim().split(/\s+/);
  if (parts[0] === undefined || parts[0] === '') return undefined;
  return [...parts, '-c', run];
}

/** Where the workspace is as the docs name it, whatever the runtime mounts it as. */
const documentedWorkspace = '/workspace';

/**
 * `workingDir` relative to the workspace: as given, or an absolute path under `/workspace` (or
 * under the path the sandbox mounts the workspace at) made relative; undefined when absolute
 * anywhere else.
 */
function workspaceRelative(workingDir: string, mountedAt: string): string | undefined {
  if (!path.posix.isAbsolute(workingDir)) return workingDir;
  for (const root of [documentedWorkspace, mountedAt]) {
    const rel = path.posix.relative(root, path.posix.normalize(workingDir));
    if (rel === '' || (rel !== '..' && !rel.startsWith('../'))) return rel === '' ? '.' : rel;
  }
  return undefined;
}

/**
 * Save-time: a literal `workingDir` that is absolute outside `/workspace`, or climbs out of the
 * workspace, is refused before any run (a templated one is judged when the node runs).
 */
function checkWorkingDir(node: CommandConfig, ctx: NodeCheckContext): ErrorDetail[] {
  const dir = node.workingDir;
  if (dir === undefined || dir.includes('${{')) return [];
  const rel = workspaceRelative(dir, documentedWorkspace);
  const message =
    rel === undefined
      ? `${JSON.stringify(dir)} must be relative to the workspace or under ${documentedWorkspace}`
      : path.posix.normalize(rel).split('/')[0] === '..'
        ? `${JSON.stringify(dir)} leaves the workspace`
        : undefined;
  return message === undefined ? [] : [{ path: ctx.field('workingDir'), message }];
}

/** The absolute working directory inside the workspace, or why `workingDir` is refused. */
async function resolveWorkingDir(
  workspace: string,
  mountedAt: string,
  given: string | undefined,
): Promise<{ path: string } | { error: string }> {
  if (given === undefined || given === '' || given === '.') {
    return { path: workspace };
  }
  const shown = JSON.stringify(given);
  const workingDir = workspaceRelative(given, mountedAt);
  if (workingDir === undefined) {
    return {
      error: `workingDir ${shown} must be relative to the workspace or under ${documentedWorkspace}`,
    };
  }
  const resolved = path.resolve(workspace, workingDir);
  if (!isInside(workspace, resolved)) {
    return { error: `workingDir ${shown} leaves the workspace` };
  }
  let real: string;
  try {
    real = await realpath(resolved);
  } catch {
    return { error: `workingDir ${shown} does not exist in the workspace` };
  }
  // A symlink inside the workspace may still point out of it.
  if (!isInside(await realpath(workspace), real)) {
    return { error: `workingDir ${shown} leaves the workspace through a symlink` };
  }
  if (!(await stat(real)).isDirectory()) {
    return { error: `workingDir ${shown} is not a directory` };
  }
  return { path: resolved };
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * A fresh empty output file per attempt; map items share node ids, so the name is random too.
 * The server creates it; the sandbox's user (not the server's) writes it, so it is 0666 inside
 * the workspace that only that user can enter, in a directory that user cannot change.
 */
async function createOutputFile(ctx: ExecContext, sandbox: Sandbox): Promise<string> {
  const dir = path.join(sandbox.hostWorkspace, stateDirName);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // A sandbox may have replaced the directory with a symlink out of the workspace.
  if ((await lstat(dir)).isSymbolicLink()) {
    await rm(dir, { force: true });
    await mkdir(dir, { mode: 0o755 });
  }
  const file = path.join(dir, `output-${ctx.nodeId}-${ctx.attempt}-${randomUUID()}`);
  // The sandbox's processes may run as another user (docker `runtime_config.user`): the file is
  // given to it through its descriptor; the directory stays the server's.
  await createInWorkspace(await realpath(sandbox.hostWorkspace), file, 0o666, sandbox.hostUser);
  return file;
}

type ProcessEnd =
  | { kind: 'spawn-error'; error: unknown }
  | {
      kind: 'exited';
      code: number | null;
      signal: NodeJS.Signals | null;
      /** Set when Switchyard stopped the process. */
      stopped?: 'timeout' | 'cancelled';
      /** The most telling stderr line (the first `fatal:`/`error:` one, else the last). */
      lastStderr?: string;
      oomKilled: boolean;
    };

/** A line that says what failed: `fatal: …`, `error: …`, `Error: …`, `npm ERR! …`, `E: …` (apt). */
const tellingLine = /^\s*(?:fatal|error|e)(?:\[[\w-]+\])?:\s|^\s*npm err!\s/i;

async function runProcess(
  ctx: ExecContext,
  sandbox: Sandbox,
  argv: string[],
  cwd: string,
  env: Record<string, string>,
  image: string | undefined,
  gateway: GatewayAccess | undefined,
): Promise<ProcessEnd> {
  let proc: SandboxProcess;
  try {
    proc = await sandbox.spawn(argv, {
      cwd,
      env,
      ...(image !== undefined && { image }),
      // The sandbox adds the token and the gateway's variables where it can reach the gateway.
      ...(gateway !== undefined && { gateway }),
      key: ctx.nodeId,
    });
  } catch (error) {
    return { kind: 'spawn-error', error };
  }
  // Errors on the pipes (none are expected) must not crash the worker.
  const closed = Promise.all([
    finished(proc.stdout).catch(() => {}),
    finished(proc.stderr).catch(() => {}),
  ]);

  // The error message quotes the most telling stderr line: the first `fatal:`/`error:` one (git,
  // compilers, package managers say what went wrong there), else the last.
  let lastStderr: string | undefined;
  let tellingStderr: string | undefined;
  const holdback = ctx.logHoldback ?? 0;
  const out = new LineSplitter((line) => ctx.log('stdout', line), undefined, holdback);
  const err = new LineSplitter(
    (line) => {
      if (line.trim() !== '') {
        const shown = line.length > 500 ? `${line.slice(0, 500)}…` : line;
        lastStderr = shown;
        if (tellingStderr === undefined && tellingLine.test(line)) tellingStderr = shown;
      }
      ctx.log('stderr', line);
    },
    undefined,
    holdback,
  );
  proc.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  proc.stderr.on('data', (chunk: Buffer) => err.push(chunk));

  let stopped: 'timeout' | 'cancelled' | undefined;
  let termination: Promise<void> | undefined;
  const stop = (reason: 'timeout' | 'cancelled') => {
    if (stopped !== undefined) return;
    stopped = reason;
    const why =
      reason === 'timeout' ? `timed out after ${formatMs(ctx.timeoutMs ?? 0)}` : 'cancelled';
    ctx.log(
      'system',
      `${why}: stopping the command and every process it started (SIGTERM, then SIGKILL after ${formatMs(ctx.killGraceMs)})`,
    );
    termination = proc.terminate(ctx.killGraceMs);
  };
  const unwatch = watchAttempt(ctx, stop);

  const exit = await proc.exited;
  unwatch();
  if (termination === undefined && (await proc.leftovers())) {
    ctx.log('system', 'stopping background processes left running by the command');
    termination = proc.terminate(ctx.killGraceMs);
  }
  await termination;
  const oomKilled = await proc.oomKilled();

  // A process that left the tree (setsid, plain runtime) may still hold the pipes; stop reading after a while.
  const wait = new AbortController();
  const closedInTime = await Promise.race([
    closed.then(() => true),
    sleep(streamCloseWaitMs, false, { signal: wait.signal }).catch(() => false),
  ]);
  wait.abort();
  if (!closedInTime) {
    ctx.log('system', 'stdout/stderr are still held open by a process outside the sandbox');
    proc.stdout.destroy();
    proc.stderr.destroy();
  }
  out.end();
  err.end();
  return { kind: 'exited', ...exit, stopped, lastStderr: tellingStderr ?? lastStderr, oomKilled };
}

async function readOutputs(
  ctx: ExecContext,
  sandbox: Sandbox,
  file: string,
  declared: string[] | undefined,
): Promise<Record<string, unknown>> {
  let text = '';
  try {
    // The command may have swapped the file for a link to a host file, a FIFO or a directory.
    const opened = await openInWorkspace(await realpath(sandbox.hostWorkspace), file);
    if ('refused' in opened) throw new Error(opened.message);
    const { handle, size } = opened;
    try {
      const buffer = Buffer.alloc(Math.min(size, maxOutputFileBytes));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      text = buffer.subarray(0, bytesRead).toString('utf8');
      if (size > maxOutputFileBytes) {
        ctx.log(
          'system',
          `$SWITCHYARD_OUTPUT is ${size} bytes; read the first ${maxOutputFileBytes} only`,
        );
        text = text.slice(0, text.lastIndexOf('\n') + 1);
      }
    } finally {
      await handle.close();
    }
    await rm(file, { force: true });
  } catch (error) {
    ctx.log('system', `could not read $SWITCHYARD_OUTPUT: ${errorMessage(error)}`);
  }
  const { outputs, problems } = parseOutputFile(text);
  for (const problem of problems) ctx.log('system', problem);
  for (const key of declared ?? []) {
    if (!(key in outputs)) ctx.log('system', `declared output '${key}' was not written`);
  }
  return outputs;
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

function isTransientSpawnError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAGAIN' || code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM';
}

export const commandNode = defineNodeType({
  type: 'command',
  schema: CommandNodeSchema,
  description:
    'Runs a shell command; `key=value` lines written to $SWITCHYARD_OUTPUT become outputs.',
  outputs: [
    { name: 'exitCode', type: 'int', description: "the command's exit code (0 when it succeeds)" },
    {
      name: '<name>',
      type: 'string',
      description: 'each `name=value` line the command wrote to `$SWITCHYARD_OUTPUT`',
    },
  ],
  // Only as environment variables: a value on the command line would be seen by every process
  // of the machine that can list processes.
  secretFields: ['env'],
  check: checkWorkingDir,
  execute: executeCommand,
});
