/** `yard hooks create|list|delete|deliveries`: a workflow's webhooks (docs/triggers.md). */
import type { Command } from 'commander';
// The wire types are the service's (type-only: nothing of the server loads here).
import type { HookDeliveryView as Delivery, HookView } from '../wire/hooks.ts';
import { clientFor, type GlobalOptions } from './context.ts';
import { usageError } from './exit-codes.ts';
import { formatTime, printJson, printTable, say } from './output.ts';
import { resolveWorkflowId, workflowPath } from './refs.ts';

type Hook = HookView & { secret?: string };

export function registerHooks(program: Command): void {
  const hooks = program
    .command('hooks')
    .alias('hook')
    .description("a workflow's webhooks: create, list, delete, deliveries");

  hooks
    .command('create')
    .description('create a hook; its secret is printed once')
    .argument('<workflow>', 'workflow id or name')
    .argument('<name>', 'hook name (a generic hook emits webhook.<name>)')
    .option('--github', 'take GitHub deliveries (push, pull_request) as platform events')
    .action(async (workflow: string, name: string, opts: { github?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const id = await resolveWorkflowId(client, workflow);
      const hook = await client.post<Hook>(`${workflowPath(id)}/hooks`, {
        name,
        kind: opts.github === true ? 'github' : 'generic',
      });
      if (g.json) return printJson(hook);
      say(`created ${hook.kind} hook ${hook.name} (${hook.id})`);
      say(`url: ${client.baseUrl}${hook.url}`);
      say(`secret (shown only now): ${hook.secret ?? '-'}`);
    });

  hooks
    .command('list')
    .description("list a workflow's hooks (never their secrets)")
    .argument('<workflow>', 'workflow id or name')
    .action(async (workflow: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const id = await resolveWorkflowId(client, workflow);
      const page = await client.get<{ items: Hook[] }>(`${workflowPath(id)}/hooks`);
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'id', value: (h) => h.id },
          { header: 'name', value: (h) => h.name },
          { header: 'kind', value: (h) => h.kind },
          { header: 'url', value: (h) => h.url },
          { header: 'created', value: (h) => `${formatTime(h.createdAt)} by ${h.createdBy}` },
        ],
        'no hooks',
      );
    });

  hooks
    .command('delete')
    .description('delete a hook: its URL answers 404 from now on')
    .argument('<workflow>', 'workflow id or name')
    .argument('<hook>', 'hook id')
    .action(async (workflow: string, hook: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const id = await resolveWorkflowId(client, workflow);
      if (!hook.startsWith('hook_')) throw usageError(`${hook} is not a hook id (hook_…)`);
      await client.delete(`${workflowPath(id)}/hooks/${encodeURIComponent(hook)}`);
      if (g.json) return printJson({ id: hook, deleted: true });
      say(`deleted ${hook}`);
    });

  hooks
    .command('deliveries')
    .description("a hook's deliveries, newest first")
    .argument('<workflow>', 'workflow id or name')
    .argument('<hook>', 'hook id')
    .option('--limit <n>', 'how many', '20')
    .action(async (workflow: string, hook: string, opts: { limit: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const id = await resolveWorkflowId(client, workflow);
      const page = await client.get<{ items: Delivery[] }>(
        `${workflowPath(id)}/hooks/${encodeURIComponent(hook)}/deliveries`,
        { limit: Number(opts.limit) },
      );
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'received', value: (d) => formatTime(d.receivedAt) },
          { header: 'outcome', value: (d) => `${d.outcome} (${d.httpStatus})` },
          { header: 'event', value: (d) => d.eventType ?? d.sourceEvent ?? '-' },
          { header: 'event id', value: (d) => d.eventId ?? '-' },
          { header: 'detail', value: (d) => d.detail },
        ],
        'no deliveries',
      );
    });
}
