/**
 * `yard wait workflow-execution/EXEC_ID`: blocks until the execution is terminal, through the
 * execution's event stream (reconnecting with `Last-Event-ID`), and exits by its final status:
 * 0 succeeded, 1 failed, 2 cancelled, 3 `--timeout` passed. A server without the stream route
 * (404 `ERR_NOT_FOUND`) is polled every 500 ms instead.
 */
import type { Command } from 'commander';
import { isTerminalExecution } from '../engine/status.ts';
import type { ExecutionView as Execution } from '../wire/executions.ts';
import type { ApiClient } from './client.ts';
import { CliError, ExitCode } from './exit-codes.ts';
import { formatLogLine, followLogs, type LogFilter } from './logs.ts';
import { formatDuration, note, printJson, printTable } from './output.ts';
import { Progress, type StreamEventData } from './progress.ts';
import { executionPath, resolveExecution, type ExecutionRef } from './refs.ts';
import { followEvents, sleep } from './sse.ts';
import { clientFor, durationOption, type GlobalOptions } from './context.ts';

export interface WaitOptions {
  timeoutMs?: number;
  /** Show the live progress view (stderr). */
  progress: boolean;
  /** Also stream log lines. */
  logs?: LogFilter;
  /**
   * Stream only the events after this seq (a retry's answer: its `lastSeq`), so the view shows
   * the new attempt and not the earlier run again; the view is seeded from the detail.
   */
  afterSeq?: number;
}

const pollMs = 500;

/** Waits for a terminal status; answers the final execution detail. */
export async function waitForExecution(
  client: ApiClient,
  ref: ExecutionRef,
  opts: WaitOptions,
): Promise<Execution> {
  const controller = new AbortController();
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort(new Error('timeout'));
        }, opts.timeoutMs);
  const progress = new Progress(ref.id, { enabled: opts.progress, workflowId: ref.workflowId });
  const logsDone = new AbortController();
  let logTask: Promise<void> | undefined;
  let last: Execution | undefined;
  try {
    last = await client.get<Execution>(executionPath(ref));
    progress.seed(last.status, last.nodes);
    if (opts.logs !== undefined) {
      const signal = AbortSignal.any([controller.signal, logsDone.signal]);
      logTask = followLogs(
        client,
        ref,
        opts.logs,
        (item) => progress.log(formatLogLine(item)),
        signal,
      ).catch((err: unknown) => {
        if (signal.aborted) return;
        note(`logs: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    if (!isTerminalExecution(last.status)) {
      const streamed = await streamUntilEnd(
        client,
        ref,
        progress,
        controller.signal,
        opts.afterSeq,
      );
      if (!streamed) await pollUntilEnd(client, ref, progress, last, controller.signal);
      last = await client.get<Execution>(executionPath(ref));
    }
    if (logTask !== undefined) {
      // The log stream ends by itself after the execution; give it a moment to drain.
      const grace = setTimeout(() => logsDone.abort(new Error('done')), 2000);
      await logTask;
      clearTimeout(grace);
    }
    progress.done();
    return last;
  } catch (err) {
    if (timedOut) {
      progress.done();
      // The detail read at the start is stale by now (a run that began `running` may be
      // `waiting` for an approval): ask again, briefly, and else say what the stream showed.
      const now = await client
        .request<Execution>('GET', executionPath(ref), { signal: AbortSignal.timeout(2000) })
        .then((e) => e.status)
        .catch(() => progress.status);
      const status = now === undefined ? '' : ` (last status: ${now})`;
      throw new CliError(
        `timed out after ${formatDuration(opts.timeoutMs)} waiting for ${ref.id}${status}`,
        ExitCode.timeout,
      );
    }
    throw err;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    logsDone.abort(new Error('done'));
    controller.abort(new Error('done'));
  }
}

/** Follows the event stream to its `end`; false when the server has no stream route. */
async function streamUntilEnd(
  client: ApiClient,
  ref: ExecutionRef,
  progress: Progress,
  signal: AbortSignal,
  afterSeq: number | undefined,
): Promise<boolean> {
  try {
    await followEvents(
      client,
      `${executionPath(ref)}/stream`,
      (ev) => {
        if (ev.event === 'end' || ev.event === 'message') return;
        let data: StreamEventData;
        try {
          data = JSON.parse(ev.data) as StreamEventData;
        } catch {
          return;
        }
        progress.event(ev.event, data);
      },
      { signal, ...(afterSeq !== undefined && { lastEventId: String(afterSeq) }) },
    );
    return true;
  } catch (err) {
    if (err instanceof CliError && err.code === 'ERR_NOT_FOUND') return false;
    throw err;
  }
}

/** The fallback: polls the execution detail, reporting node status changes as events. */
async function pollUntilEnd(
  client: ApiClient,
  ref: ExecutionRef,
  progress: Progress,
  first: Execution,
  signal: AbortSignal,
): Promise<void> {
  const seen = new Map(first.nodes.map((n) => [n.nodeId, `${n.status}/${n.attempt}`]));
  let status = first.status;
  for (;;) {
    await sleep(pollMs, signal);
    const exec = await client.request<Execution>('GET', executionPath(ref), { signal });
    for (const n of exec.nodes) {
      const key = `${n.status}/${n.attempt}`;
      if (seen.get(n.nodeId) === key) continue;
      seen.set(n.nodeId, key);
      progress.event('node.status', { nodeId: n.nodeId, status: n.status, attempt: n.attempt });
    }
    if (exec.status !== status) {
      status = exec.status;
      progress.event('execution.status', { status });
    }
    if (isTerminalExecution(exec.status)) return;
  }
}

function exitCodeFor(status: string): ExitCode {
  if (status === 'succeeded') return ExitCode.ok;
  if (status === 'cancelled') return ExitCode.cancelled;
  return ExitCode.failed;
}

/** Prints the outcome (table or JSON) and answers the exit code. */
export function reportOutcome(exec: Execution, json: boolean | undefined): ExitCode {
  if (json) printJson(exec);
  else {
    printTable(exec.nodes, [
      { header: 'node', value: (n) => n.nodeId },
      { header: 'status', value: (n) => n.status },
      { header: 'attempt', value: (n) => n.attempt },
      { header: 'duration', value: (n) => formatDuration(n.durationMs) },
      { header: 'error', value: (n) => (n.error ? `${n.error.message} (${n.error.code})` : '') },
    ]);
    const error = exec.error ? `: ${exec.error.message} (${exec.error.code})` : '';
    process.stdout.write(
      `execution ${exec.id} ${exec.status} in ${formatDuration(exec.durationMs)}${error}\n`,
    );
  }
  return exitCodeFor(exec.status);
}

interface WaitCommandOptions {
  workflow?: string;
  timeout?: number;
  follow?: boolean;
  node?: string;
  quiet?: boolean;
}

export function registerWait(program: Command): void {
  program
    .command('wait')
    .description(
      'block until an execution is terminal; exit 0 succeeded, 1 failed, 2 cancelled, 3 timeout',
    )
    .argument('<execution>', 'workflow-execution/exec_… or exec_…')
    .option(
      '-w, --workflow <workflow>',
      'the execution’s workflow (id or name); else it is looked up',
    )
    .option('--timeout <duration>', 'give up after this long (30s, 5m, …): exit 3', durationOption)
    .option('-f, --follow', 'also print log lines as they are written')
    .option('--node <nodeId>', 'with --follow: only this node’s log lines')
    .option('-q, --quiet', 'no live progress view')
    .action(async (execution: string, opts: WaitCommandOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const ref = await resolveExecution(client, execution, opts.workflow);
      const exec = await waitForExecution(client, ref, {
        progress: !opts.quiet,
        ...(opts.timeout !== undefined && { timeoutMs: opts.timeout }),
        ...(opts.follow && { logs: opts.node === undefined ? {} : { node: opts.node } }),
      });
      process.exitCode = reportOutcome(exec, g.json);
    });
}
