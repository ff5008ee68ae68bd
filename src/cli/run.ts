/**
 * `yard run WORKFLOW -p key=value … [--version N] [--idempotency-key K] [--wait] [--follow]`:
 * starts an execution and prints its id alone on stdout (`E=$(yard run x)`), the sentence for
 * people on stderr; with --wait (or --follow, which also streams log lines) it then waits like
 * `yard wait` and exits by the final status. `-p` values are typed by the declared inputs
 * (run-params.ts).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { RunAccepted } from '../wire/executions.ts';
import { clientFor, durationOption, intOption, type GlobalOptions } from './context.ts';
import { note, printJson, say } from './output.ts';
import { resolveWorkflowId, workflowPath } from './refs.ts';
import { runParams } from './run-params.ts';
import { reportOutcome, waitForExecution } from './wait.ts';

interface RunOptions {
  param: [string, string][];
  version?: number;
  idempotencyKey?: string;
  wait?: boolean;
  follow?: boolean;
  timeout?: number;
  quiet?: boolean;
}

/** `key=value`, kept as text until the workflow's inputs say how to type it. */
function paramOption(text: string, previous: [string, string][] = []): [string, string][] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value');
  return [...previous, [text.slice(0, eq), text.slice(eq + 1)]];
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('start an execution of a workflow (id or name)')
    .argument('<workflow>', 'workflow id (wf_…) or name')
    .option(
      '-p, --param <key=value>',
      'a run parameter (repeatable; typed by the declared input, else JSON when it parses)',
      paramOption,
      [],
    )
    .option('--version <n>', 'run this version (default: the active one)', intOption)
    .option('--idempotency-key <key>', 'the same key returns the same execution')
    .option('--wait', 'wait for the end; exit 0 succeeded, 1 failed, 2 cancelled')
    .option('-f, --follow', 'wait, showing node events and log lines as they come')
    .option(
      '--timeout <duration>',
      'with --wait/--follow: give up after this long (exit 3)',
      durationOption,
    )
    .option('-q, --quiet', 'with --wait: no live progress view')
    .action(async (workflow: string, opts: RunOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const workflowId = await resolveWorkflowId(client, workflow);
      const params = await runParams(client, workflowId, opts.version, opts.param);
      const accepted = await client.request<RunAccepted>(
        'POST',
        `${workflowPath(workflowId)}/run`,
        {
          json: {
            params,
            ...(opts.version !== undefined && { version: opts.version }),
          },
          ...(opts.idempotencyKey !== undefined && {
            headers: { 'idempotency-key': opts.idempotencyKey },
          }),
        },
      );
      if (!opts.wait && !opts.follow) {
        if (g.json) return printJson(accepted);
        say(accepted.id);
        note(
          `started ${accepted.id} (workflow ${workflowId}, version ${accepted.version}, ${accepted.status})`,
        );
        return;
      }
      // The id goes out first, so a script (or a person) can act on the execution meanwhile.
      note(`started ${accepted.id} (workflow ${workflowId}, version ${accepted.version})`);
      const exec = await waitForExecution(
        client,
        { id: accepted.id, workflowId },
        {
          progress: !opts.quiet,
          ...(opts.timeout !== undefined && { timeoutMs: opts.timeout }),
          ...(opts.follow && { logs: {} }),
        },
      );
      process.exitCode = reportOutcome(exec, g.json);
    });
}
