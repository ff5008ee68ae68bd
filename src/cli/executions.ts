/**
 * `yard executions …` (alias `ex`): list, get, cancel, retry, resume, followup, delete. An
 * execution is `exec_…` or `workflow-execution/exec_…`; `--workflow` saves looking it up. A
 * follow-up to a chat prints the assistant's reply as it is written (not with `--json`).
 */
import type { Command } from 'commander';
import type { Page } from '../wire/common.ts';
import type { ExecutionSummary, ExecutionView as Execution } from '../wire/executions.ts';
import { ReplyPrinter, followTurn } from './chat-turns.ts';
import { clientFor, collect, intOption, jsonOption, type GlobalOptions } from './context.ts';
import { CliError, usageError } from './exit-codes.ts';
import { formatDuration, formatTime, printFields, printJson, printTable, say } from './output.ts';
import { executionPath, resolveExecution, resolveWorkflowId } from './refs.ts';
import { reportOutcome, waitForExecution } from './wait.ts';

const workflowOption = [
  '-w, --workflow <workflow>',
  'the execution’s workflow (id or name); else it is looked up',
] as const;

function printExecution(e: Execution): void {
  printFields([
    ['id', e.id],
    ['workflow', `${e.workflowId} version ${e.version}`],
    ['status', e.status],
    ['trigger', e.trigger.type],
    ['started', formatTime(e.startedAt)],
    ['ended', formatTime(e.endedAt)],
    ['duration', formatDuration(e.durationMs)],
    ['error', e.error ? `${e.error.message} (${e.error.code})` : '-'],
    ['cost', `$${e.cost.estimatedUsd.toFixed(6)}, ${e.cost.computeSeconds}s compute`],
    ['params', e.params],
  ]);
  say('');
  printTable(e.nodes, [
    { header: 'node', value: (n) => n.nodeId },
    { header: 'type', value: (n) => n.type },
    { header: 'status', value: (n) => n.status },
    { header: 'attempt', value: (n) => n.attempt },
    { header: 'duration', value: (n) => formatDuration(n.durationMs) },
    {
      header: 'detail',
      value: (n) =>
        n.error
          ? `${n.error.message} (${n.error.code})`
          : n.waitingFor
            ? `waiting for ${n.waitingFor.kind}${n.waitingFor.message ? `: ${n.waitingFor.message}` : ''}`
            : '',
    },
  ]);
}

export function registerExecutions(program: Command): void {
  const ex = program
    .command('executions')
    .alias('ex')
    .description(
      'inspect and control executions: list, get, cancel, retry, resume, followup, delete',
    );

  const show = (g: GlobalOptions, e: Execution, verb: string) => {
    if (g.json) printJson(e);
    else say(`${verb} ${e.id}: ${e.status}`);
  };

  ex.command('list')
    .description('list executions, newest first')
    .option('-w, --workflow <workflow>', 'only this workflow (id or name)')
    .option('--status <status>', 'pending, running, waiting, succeeded, failed or cancelled')
    .option('--limit <n>', 'at most this many (default 50)', intOption)
    .option('--cursor <cursor>', 'the next page')
    .action(
      async (
        opts: { workflow?: string; status?: string; limit?: number; cursor?: string },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const workflowId =
          opts.workflow === undefined ? undefined : await resolveWorkflowId(client, opts.workflow);
        const page = await client.get<Page<ExecutionSummary>>('/api/v1/workflows/executions', {
          workflowId,
          status: opts.status,
          limit: opts.limit,
          cursor: opts.cursor,
        });
        if (g.json) return printJson(page);
        printTable(
          page.items,
          [
            { header: 'id', value: (e) => e.id },
            { header: 'workflow', value: (e) => e.workflowId },
            { header: 'version', value: (e) => e.version },
            { header: 'status', value: (e) => e.status },
            { header: 'trigger', value: (e) => e.trigger.type },
            { header: 'created', value: (e) => formatTime(e.createdAt) },
            { header: 'duration', value: (e) => formatDuration(e.durationMs) },
          ],
          'no executions',
        );
        if (page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
      },
    );

  ex.command('get')
    .description('show an execution with its nodes')
    .argument('<execution>', 'exec_… or workflow-execution/exec_…')
    .option(...workflowOption)
    .action(async (execution: string, opts: { workflow?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const ref = await resolveExecution(client, execution, opts.workflow);
      const e = await client.get<Execution>(executionPath(ref));
      if (g.json) printJson(e);
      else printExecution(e);
    });

  ex.command('cancel')
    .description('cancel a pending, running or waiting execution')
    .argument('<execution>')
    .option(...workflowOption)
    .option('--reason <text>', 'why (recorded)')
    .action(
      async (execution: string, opts: { workflow?: string; reason?: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const ref = await resolveExecution(client, execution, opts.workflow);
        const e = await client.post<Execution>(`${executionPath(ref)}/cancel`, {
          ...(opts.reason !== undefined && { reason: opts.reason }),
        });
        show(g, e, 'cancelled');
      },
    );

  ex.command('retry')
    .description('retry a failed or cancelled execution (succeeded nodes keep their outputs)')
    .argument('<execution>')
    .option(...workflowOption)
    .option('--node <nodeId>', 're-run this node and what follows it (repeatable)', collect)
    .option('--fresh', 'run every node again in an empty workspace (after the workspace expired)')
    .option('--wait', 'wait for the end; exit by the final status')
    .action(
      async (
        execution: string,
        opts: { workflow?: string; node?: string[]; fresh?: boolean; wait?: boolean },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const ref = await resolveExecution(client, execution, opts.workflow);
        const e = await client
          .post<Execution>(`${executionPath(ref)}/retry`, {
            ...(opts.node !== undefined && { nodes: opts.node }),
            ...(opts.fresh === true && { fresh: true }),
          })
          .catch((err: unknown) => {
            // The server's message names the API's `{"fresh": true}`; say what to type here.
            if (err instanceof CliError && err.code === 'ERR_WORKSPACE_EXPIRED')
              throw new CliError(
                `${err.message}\n  with the CLI: yard executions retry ${ref.id} -w ${ref.workflowId} --fresh`,
                err.exitCode,
                { code: err.code, ...(err.status !== undefined && { status: err.status }) },
              );
            throw err;
          });
        if (!opts.wait) return show(g, e, 'retrying');
        // Only the retry's events: the stream would otherwise replay the failed run first.
        const final = await waitForExecution(client, ref, {
          progress: true,
          ...(typeof e.lastSeq === 'number' && { afterSeq: e.lastSeq }),
        });
        process.exitCode = reportOutcome(final, g.json);
      },
    );

  ex.command('resume')
    .description('answer a waiting approval: --approve or --reject')
    .argument('<execution>')
    .option(...workflowOption)
    .option('--approve', 'approve')
    .option('--reject', 'reject')
    .option('--node <nodeId>', 'the approval node (needed when several wait)')
    .option('--comment <text>', 'a comment')
    .option('--data <json>', 'data for the approval’s outputs', jsonOption)
    .option('--override', 'as a tokens.admin token, decide although `approvers` do not list you')
    .action(
      async (
        execution: string,
        opts: {
          workflow?: string;
          approve?: boolean;
          reject?: boolean;
          node?: string;
          comment?: string;
          data?: unknown;
          override?: boolean;
        },
        cmd: Command,
      ) => {
        if (Boolean(opts.approve) === Boolean(opts.reject)) {
          throw usageError('resume needs exactly one of --approve and --reject');
        }
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const ref = await resolveExecution(client, execution, opts.workflow);
        const e = await client.post<Execution>(`${executionPath(ref)}/resume`, {
          decision: opts.approve ? 'approve' : 'reject',
          ...(opts.node !== undefined && { nodeId: opts.node }),
          ...(opts.comment !== undefined && { comment: opts.comment }),
          ...(opts.data !== undefined && { data: opts.data }),
          ...(opts.override && { override: true }),
        });
        show(g, e, opts.approve ? 'approved' : 'rejected');
      },
    );

  ex.command('followup')
    .description('answer a waiting input node, or send a chat execution its next message')
    .argument('<execution>')
    .requiredOption('-m, --message <text>', 'the message')
    .option(...workflowOption)
    .option('--data <json>', 'structured data with the message', jsonOption)
    .option('--no-wait', 'chat: do not wait for the reply')
    .action(
      async (
        execution: string,
        opts: { workflow?: string; message: string; data?: unknown; wait: boolean },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const ref = await resolveExecution(client, execution, opts.workflow);
        const e = await client.post<Execution>(`${executionPath(ref)}/followup`, {
          message: opts.message,
          ...(opts.data !== undefined && { data: opts.data }),
        });
        // A chat (its turns count from 1) answers with the reply of the turn the message started.
        if (g.json || !opts.wait || (e.turn ?? 0) < 1) return show(g, e, 'sent follow-up to');
        const printer = new ReplyPrinter((text) => process.stdout.write(text));
        process.exitCode = printer.end(await followTurn(client, ref, e.turn!, printer.delta));
      },
    );

  ex.command('delete')
    .description('delete a finished execution with its events, logs and artifacts')
    .argument('<execution>')
    .option(...workflowOption)
    .action(async (execution: string, opts: { workflow?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const ref = await resolveExecution(client, execution, opts.workflow);
      await client.delete(executionPath(ref));
      if (g.json) printJson({ id: ref.id, deleted: true });
      else say(`deleted ${ref.id}`);
    });
}
