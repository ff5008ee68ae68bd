/** `yard triggers list|get|create|delete|deliveries`: trigger rules (docs/triggers.md). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { RuleDeliveryView, RuleView } from '../triggers/rule-model.ts';
import { clientFor, type GlobalOptions } from './context.ts';
import { usageError } from './exit-codes.ts';
import { formatTime, printJson, printTable, say } from './output.ts';

const rulePath = (id: string) => `/api/v1/triggers/${encodeURIComponent(id)}`;

function ruleId(id: string): string {
  if (!id.startsWith('rule_')) throw usageError(`${id} is not a trigger rule id (rule_…)`);
  return id;
}

/** A rule file: the JSON body of `POST /api/v1/triggers` (`-` reads stdin). */
function readRule(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw usageError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

function actionText(r: RuleView): string {
  return r.action.type === 'run' ? `run ${r.action.workflowId}` : `POST ${r.action.url}`;
}

export function registerTriggers(program: Command): void {
  const triggers = program
    .command('triggers')
    .alias('trigger')
    .description('trigger rules: an event filter that runs a workflow or POSTs the event to a URL');

  triggers
    .command('list')
    .description('list trigger rules (never their secrets)')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const page = await clientFor(g).get<{ items: RuleView[] }>('/api/v1/triggers');
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'id', value: (r) => r.id },
          { header: 'name', value: (r) => r.name },
          { header: 'enabled', value: (r) => (r.enabled ? 'yes' : 'no') },
          { header: 'event', value: (r) => (r.if === null ? r.event : `${r.event} if ${r.if}`) },
          { header: 'action', value: actionText },
        ],
        'no trigger rules',
      );
    });

  triggers
    .command('get')
    .description('show one trigger rule')
    .argument('<rule>', 'rule id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const rule = await clientFor(g).get<RuleView>(rulePath(ruleId(id)));
      if (g.json) return printJson(rule);
      say(`${rule.name} (${rule.id}), ${rule.enabled ? 'enabled' : 'disabled'}`);
      say(`event: ${rule.event}${rule.if === null ? '' : ` if ${rule.if}`}`);
      say(`action: ${actionText(rule)}`);
      if (rule.action.type === 'run')
        for (const [name, expr] of Object.entries(rule.action.params ?? {}))
          say(`  param ${name} = ${expr}`);
      say(`updated: ${formatTime(rule.updatedAt)}`);
    });

  triggers
    .command('create')
    .description("create a rule from a JSON file; a webhook rule's secret is printed once")
    .requiredOption('-f, --file <file>', 'the rule as JSON (- for stdin)')
    .action(async (opts: { file: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const rule = await clientFor(g).post<RuleView & { secret?: string }>(
        '/api/v1/triggers',
        readRule(opts.file),
      );
      if (g.json) return printJson(rule);
      say(`created trigger rule ${rule.name} (${rule.id}): ${rule.event} → ${actionText(rule)}`);
      if (rule.secret !== undefined) say(`signing secret (shown only now): ${rule.secret}`);
    });

  triggers
    .command('delete')
    .description('delete a rule: it matches nothing more and its waiting deliveries fail')
    .argument('<rule>', 'rule id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      await clientFor(g).delete(rulePath(ruleId(id)));
      if (g.json) return printJson({ id, deleted: true });
      say(`deleted ${id}`);
    });

  triggers
    .command('deliveries')
    .description("a webhook rule's delivery attempts, newest first")
    .argument('<rule>', 'rule id')
    .option('--limit <n>', 'how many', '20')
    .action(async (id: string, opts: { limit: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const page = await clientFor(g).get<{ items: RuleDeliveryView[] }>(
        `${rulePath(ruleId(id))}/deliveries`,
        { limit: Number(opts.limit) },
      );
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'created', value: (d) => formatTime(d.createdAt) },
          { header: 'event', value: (d) => d.eventId },
          { header: 'attempt', value: (d) => String(d.attempt) },
          { header: 'state', value: (d) => d.state },
          {
            header: 'result',
            value: (d) => d.error ?? (d.httpStatus === null ? '-' : String(d.httpStatus)),
          },
          {
            header: 'next attempt',
            value: (d) => (d.nextAttemptAt === null ? '-' : formatTime(d.nextAttemptAt)),
          },
        ],
        'no deliveries',
      );
    });
}
