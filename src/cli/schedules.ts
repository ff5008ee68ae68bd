/** `yard schedules list|pause|resume|backfill` and `yard events send|list|get` (docs/triggers.md). */
import type { Command } from 'commander';
// The wire types are the services' (type-only imports: nothing of the server loads here).
import type { PlatformEventView as PlatformEvent } from '../wire/events.ts';
import type { ScheduleView as Schedule } from '../services/schedules.ts';
import { clientFor, jsonOption, type GlobalOptions } from './context.ts';
import { usageError } from './exit-codes.ts';
import { formatTime, printFields, printJson, printTable, say } from './output.ts';
import { resolveWorkflowId, workflowPath } from './refs.ts';

const overlaps = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'allow_all'];

export function registerSchedules(program: Command): void {
  const sch = program
    .command('schedules')
    .alias('schedule')
    .description("a workflow's schedules: list, pause, resume, backfill");

  sch
    .command('list')
    .description('the active version’s schedules with their next fire times and last fire')
    .argument('<workflow>', 'workflow id or name')
    .action(async (workflow: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const id = await resolveWorkflowId(client, workflow);
      const page = await client.get<{ items: Schedule[] }>(`${workflowPath(id)}/schedules`);
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'id', value: (s) => s.id },
          {
            header: 'when',
            value: (s) => (s.cron !== undefined ? `cron ${s.cron}` : `every ${s.every ?? '?'}`),
          },
          { header: 'zone', value: (s) => s.timezone },
          { header: 'state', value: (s) => (s.paused ? 'paused' : 'active') },
          { header: 'next', value: (s) => s.nextFireTimes.map(formatTime).join(', ') || '-' },
          { header: 'last', value: (s) => formatTime(s.lastFiredAt) },
          { header: 'last run', value: (s) => s.lastExecutionId ?? '-' },
        ],
        'no schedules in the active version',
      );
    });

  for (const action of ['pause', 'resume'] as const) {
    sch
      .command(action)
      .description(action === 'pause' ? 'pause a schedule (it fires nothing)' : 'resume a schedule')
      .argument('<workflow>', 'workflow id or name')
      .argument('<schedule>', 'schedule id (schedule-1, or the id the trigger names)')
      .action(async (workflow: string, schedule: string, _opts: unknown, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const client = clientFor(g);
        const id = await resolveWorkflowId(client, workflow);
        const s = await client.post<Schedule>(
          `${workflowPath(id)}/schedules/${encodeURIComponent(schedule)}/${action}`,
        );
        if (g.json) return printJson(s);
        say(
          `${s.id}: ${s.paused ? 'paused' : `active, next ${formatTime(s.nextFireTimes[0] ?? null)}`}`,
        );
      });
  }

  sch
    .command('backfill')
    .description('fire every tick of a past range now; ticks that fired before do not fire again')
    .argument('<workflow>', 'workflow id or name')
    .argument('<schedule>', 'schedule id')
    .requiredOption('--from <time>', 'start of the range (exclusive), an RFC 3339 time')
    .requiredOption('--to <time>', 'end of the range (inclusive), not after now')
    .option('--overlap <policy>', `${overlaps.join('|')} (default allow_all)`)
    .action(
      async (
        workflow: string,
        schedule: string,
        opts: { from: string; to: string; overlap?: string },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        if (opts.overlap !== undefined && !overlaps.includes(opts.overlap))
          throw usageError(`--overlap must be one of ${overlaps.join(', ')}`);
        const client = clientFor(g);
        const id = await resolveWorkflowId(client, workflow);
        const result = await client.post<{
          items: { scheduledAt: string; outcome: string; executionId?: string }[];
        }>(`${workflowPath(id)}/schedules/${encodeURIComponent(schedule)}/backfill`, {
          from: opts.from,
          to: opts.to,
          ...(opts.overlap !== undefined && { overlap: opts.overlap }),
        });
        if (g.json) return printJson(result);
        printTable(
          result.items,
          [
            { header: 'scheduled', value: (i) => formatTime(i.scheduledAt) },
            { header: 'outcome', value: (i) => i.outcome },
            { header: 'execution', value: (i) => i.executionId ?? '-' },
          ],
          'no ticks in that range',
        );
      },
    );

  const ev = program
    .command('events')
    .alias('event')
    .description('platform events: send, list, get');

  ev.command('send')
    .description('publish a platform event; it starts every matching published workflow')
    .argument('<type>', 'event type, e.g. deploy.requested')
    .option('--subject <subject>', 'what the event is about, e.g. release-1.2')
    .option('--data <json>', 'the event data (a JSON object)', jsonOption)
    .action(async (type: string, opts: { subject?: string; data?: unknown }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const e = await clientFor(g).post<PlatformEvent>('/api/v1/events', {
        type,
        ...(opts.subject !== undefined && { subject: opts.subject }),
        ...(opts.data !== undefined && { data: opts.data }),
      });
      if (g.json) return printJson(e);
      printEvent(e);
    });

  ev.command('list')
    .description('platform events, newest first')
    .option('--type <type>', 'only this type')
    .option('--limit <n>', 'how many', '20')
    .action(async (opts: { type?: string; limit: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const page = await clientFor(g).get<{ items: PlatformEvent[] }>('/api/v1/events', {
        limit: Number(opts.limit),
        ...(opts.type !== undefined && { type: opts.type }),
      });
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'id', value: (e) => e.id },
          { header: 'type', value: (e) => e.type },
          { header: 'subject', value: (e) => e.subject ?? '-' },
          { header: 'source', value: (e) => e.source },
          { header: 'at', value: (e) => formatTime(e.timestamp) },
          { header: 'started', value: (e) => String(e.executions.length) },
        ],
        'no events',
      );
    });

  ev.command('get')
    .description('one event: what it started and why each other listener did not start')
    .argument('<id>', 'event id (evt_…)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const e = await clientFor(g).get<PlatformEvent>(`/api/v1/events/${encodeURIComponent(id)}`);
      if (g.json) return printJson(e);
      printEvent(e);
    });
}

function printEvent(e: PlatformEvent): void {
  printFields([
    ['id', e.id],
    ['type', e.type],
    ['subject', e.subject ?? '-'],
    ['source', `${e.source} (${e.actor})`],
    ['at', formatTime(e.timestamp)],
    ['status', e.status],
  ]);
  for (const x of e.executions) say(`started ${x.executionId} (${x.workflowName} v${x.version})`);
  for (const u of e.unmatched) say(`not started: ${u.workflowName} v${u.version}: ${u.reason}`);
}
