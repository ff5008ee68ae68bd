/**
 * `yard usage WORKFLOW [--since T] [--until T] [--group-by day|version|node|model]`: a workflow's
 * finished attempts summed (`GET /api/v1/workflows/{id}/usage`): one row per group, then the
 * total. A time is RFC 3339, a date (`2026-05-01`, midnight UTC) or a duration back from now
 * (`7d`, `12h`).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../definition/duration.ts';
import type { Usage, UsageGroup } from '../wire/executions.ts';
import { usageGroupings } from '../wire/usage-groupings.ts';
import { clientFor, type GlobalOptions } from './context.ts';
import { printJson, printTable } from './output.ts';
import { resolveWorkflowId, workflowPath } from './refs.ts';

/** A time option as the RFC 3339 instant the route takes. */
function timeOption(value: string): string {
  const ago = parseDuration(value);
  if (ago !== undefined) return new Date(Date.now() - ago).toISOString();
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms))
    throw new InvalidArgumentError(
      'expected an RFC 3339 time (2026-05-01T10:00:00Z), a date (2026-05-01) or a duration back from now (7d, 12h)',
    );
  return new Date(ms).toISOString();
}

function groupingOption(value: string): string {
  if (!(usageGroupings as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${usageGroupings.join(', ')}`);
  return value;
}

const tokens = (g: UsageGroup) => g.tokens.prompt + g.tokens.completion;
const usd = (g: UsageGroup) =>
  `$${g.estimatedUsd.toFixed(6)}${g.unpriced ? ' (unpriced tokens)' : ''}`;

export function registerUsage(program: Command): void {
  program
    .command('usage')
    .description('a workflow’s usage: attempts, compute seconds, tokens and estimated cost')
    .argument('<workflow>', 'workflow id (wf_…) or name')
    .option('--since <time>', 'only attempts that ended at or after this time', timeOption)
    .option('--until <time>', 'only attempts that ended before this time', timeOption)
    .option('--group-by <grouping>', `one row per ${usageGroupings.join(', ')}`, groupingOption)
    .action(
      async (
        workflow: string,
        opts: { since?: string; until?: string; groupBy?: string },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const workflowId = await resolveWorkflowId(client, workflow);
        const usage = await client.get<Usage>(`${workflowPath(workflowId)}/usage`, {
          since: opts.since,
          until: opts.until,
          groupBy: opts.groupBy,
        });
        if (g.json) return printJson(usage);
        printTable(
          [...usage.groups, usage.total],
          [
            { header: usage.groupBy ?? 'usage', value: (u) => u.key },
            { header: 'attempts', value: (u) => u.attempts },
            { header: 'compute s', value: (u) => Number(u.computeSeconds.toFixed(3)) },
            { header: 'prompt tokens', value: (u) => u.tokens.prompt },
            { header: 'completion tokens', value: (u) => u.tokens.completion },
            { header: 'tokens', value: tokens },
            { header: 'est. usd', value: usd },
          ],
        );
      },
    );
}
