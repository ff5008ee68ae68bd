/**
 * `yard logs EXEC_ID [-f] [--node N] [--attempt N]`: an execution's log lines, from
 * `GET …/executions/{execId}/logs` (pages of `{items, nextAfter}`), or followed live with
 * `?follow=1` as SSE `log` events until the execution ends.
 */
import type { Command } from 'commander';
import type { ApiClient } from './client.ts';
import { CliError, ExitCode } from './exit-codes.ts';
import { printJson, say } from './output.ts';
import { executionPath, resolveExecution, type ExecutionRef } from './refs.ts';
import { followEvents } from './sse.ts';
import { clientFor, intOption, type GlobalOptions } from './context.ts';

export interface LogItem {
  line: number;
  nodeId: string;
  attempt: number;
  stream: string;
  text: string;
  at: string;
}

export interface LogFilter {
  node?: string;
  attempt?: number;
}

export function formatLogLine(item: LogItem): string {
  const who = item.attempt > 1 ? `${item.nodeId}#${item.attempt}` : item.nodeId;
  return `[${who}]${item.stream === 'stderr' ? ' !' : ''} ${item.text}`;
}

function missingRoute(err: unknown): never {
  if (err instanceof CliError && err.code === 'ERR_NOT_FOUND') {
    throw new CliError(
      'this server does not serve execution logs (GET …/logs answered 404 ERR_NOT_FOUND)',
      ExitCode.failed,
      { code: 'ERR_NOT_FOUND' },
    );
  }
  throw err;
}

/** Every stored log line (paged by `after`). */
async function fetchLogs(
  client: ApiClient,
  ref: ExecutionRef,
  filter: LogFilter,
): Promise<LogItem[]> {
  const all: LogItem[] = [];
  let after: number | undefined;
  try {
    for (;;) {
      const page = await client.get<{ items: LogItem[]; nextAfter: number | null }>(
        `${executionPath(ref)}/logs`,
        { node: filter.node, attempt: filter.attempt, after, limit: 1000 },
      );
      all.push(...page.items);
      if (page.items.length === 0 || page.nextAfter === null || page.nextAfter === after) break;
      after = page.nextAfter;
    }
  } catch (err) {
    missingRoute(err);
  }
  return all;
}

/** Follows the log stream until its `end` event (reconnecting after the last line seen). */
export async function followLogs(
  client: ApiClient,
  ref: ExecutionRef,
  filter: LogFilter,
  onItem: (item: LogItem) => void,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await followEvents(
      client,
      `${executionPath(ref)}/logs`,
      (ev) => {
        if (ev.event !== 'log') return;
        onItem(JSON.parse(ev.data) as LogItem);
      },
      {
        query: { follow: 1, node: filter.node, attempt: filter.attempt },
        ...(signal !== undefined && { signal }),
      },
    );
  } catch (err) {
    missingRoute(err);
  }
}

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description('print an execution’s log lines (-f: follow until it ends)')
    .argument('<execution>', 'exec_… or workflow-execution/exec_…')
    .option('-f, --follow', 'stream new lines until the execution ends')
    .option('--node <nodeId>', 'only this node')
    .option('--attempt <n>', 'only this attempt', intOption)
    .option(
      '-w, --workflow <workflow>',
      'the execution’s workflow (id or name); else it is looked up',
    )
    .action(async (execution: string, opts: LogOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const ref = await resolveExecution(client, execution, opts.workflow);
      const filter: LogFilter = {
        ...(opts.node !== undefined && { node: opts.node }),
        ...(opts.attempt !== undefined && { attempt: opts.attempt }),
      };
      if (opts.follow) {
        await followLogs(client, ref, filter, (item) =>
          say(g.json ? JSON.stringify(item) : formatLogLine(item)),
        );
        return;
      }
      const items = await fetchLogs(client, ref, filter);
      if (g.json) printJson(items);
      else for (const item of items) say(formatLogLine(item));
    });
}

interface LogOptions {
  follow?: boolean;
  node?: string;
  attempt?: number;
  workflow?: string;
}
