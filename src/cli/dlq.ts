/** `yard dlq …`: list, show, retry, resolve the dead letter queue (nodes that failed for good). */
import type { Command } from 'commander';
import type { Page } from '../wire/common.ts';
import type { DlqLogLine, DlqView as DlqEntry } from '../wire/executions.ts';
import { clientFor, intOption, type GlobalOptions } from './context.ts';
import { formatTime, printFields, printJson, printTable, say } from './output.ts';
import { parseExecutionId, resolveWorkflowId } from './refs.ts';

/** `[attempt 2] [stderr] text`; a line of no attempt (the system's, or an old entry's) unlabelled. */
function formatDlqLine(l: DlqLogLine): string {
  const attempt = l.attempt === null || l.attempt === 0 ? '' : `[attempt ${l.attempt}] `;
  return `${attempt}[${l.stream}] ${l.text}`;
}

const path = (id: string) => `/api/v1/workflows/dlq/${encodeURIComponent(id)}`;

export function registerDlq(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('the dead letter queue: list, show, retry, resolve');

  dlq
    .command('list')
    .description('failed nodes across executions, newest first')
    .option('-w, --workflow <workflow>', 'only this workflow (id or name)')
    .option('--execution <execution>', 'only this execution')
    .option('--node <nodeId>', 'only this node')
    .option('--status <status>', 'open, retried or resolved')
    .option('--limit <n>', 'at most this many (default 50)', intOption)
    .option('--cursor <cursor>', 'the next page')
    .action(async (opts: DlqListOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const page = await client.get<Page<DlqEntry>>('/api/v1/workflows/dlq', {
        workflowId:
          opts.workflow === undefined ? undefined : await resolveWorkflowId(client, opts.workflow),
        executionId: opts.execution === undefined ? undefined : parseExecutionId(opts.execution),
        nodeId: opts.node,
        status: opts.status,
        limit: opts.limit,
        cursor: opts.cursor,
      });
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'id', value: (d) => d.id },
          { header: 'execution', value: (d) => d.executionId },
          { header: 'node', value: (d) => d.nodeId },
          { header: 'status', value: (d) => d.status },
          { header: 'attempts', value: (d) => d.attempts },
          { header: 'error', value: (d) => `${d.error.message} (${d.error.code})` },
          { header: 'created', value: (d) => formatTime(d.createdAt) },
        ],
        'no DLQ entries',
      );
      if (page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
    });

  dlq
    .command('show')
    .description('one failure with its error, inputs and last log lines')
    .argument('<id>', 'DLQ entry id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const d = await clientFor(g).get<DlqEntry>(path(id));
      if (g.json) return printJson(d);
      printFields([
        ['id', d.id],
        ['status', d.status],
        ['workflow', `${d.workflowId} version ${d.version}`],
        ['execution', d.executionId],
        ['node', d.nodeId],
        ['attempts', d.attempts],
        ['error', `${d.error.message} (${d.error.code})`],
        ['exit code', d.error.exitCode],
        ['created', formatTime(d.createdAt)],
        ['resolved', d.resolvedAt ? `${formatTime(d.resolvedAt)} by ${d.resolvedBy ?? '-'}` : '-'],
        ['note', d.note],
        ['inputs', d.inputs],
      ]);
      if (d.logLines.length > 0) {
        say('\nlast log lines:');
        for (const line of d.logLines) say(`  ${formatDlqLine(line)}`);
      }
    });

  dlq
    .command('retry')
    .description('re-enqueue the failed node; its execution runs again')
    .argument('<id>', 'DLQ entry id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const d = await clientFor(g).post<DlqEntry>(`${path(id)}/retry`);
      if (g.json) return printJson(d);
      say(`retried ${d.id}: node ${d.nodeId} of ${d.executionId} is queued again`);
    });

  dlq
    .command('resolve')
    .description('close the entry without retrying')
    .argument('<id>', 'DLQ entry id')
    .option('--note <text>', 'how it was handled')
    .action(async (id: string, opts: { note?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const d = await clientFor(g).post<DlqEntry>(`${path(id)}/resolve`, {
        ...(opts.note !== undefined && { note: opts.note }),
      });
      if (g.json) return printJson(d);
      say(`resolved ${d.id}`);
    });
}

interface DlqListOptions {
  workflow?: string;
  execution?: string;
  node?: string;
  status?: string;
  limit?: number;
  cursor?: string;
}
