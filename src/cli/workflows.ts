/**
 * `yard workflows …` (alias `wf`): list, get, apply -f, validate -f, export, import -f, publish,
 * promote, versions, restore, delete. A workflow is named by id (`wf_…`) or exact name.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { WorkflowDefinition } from '../definition/index.ts';
import type { ApiClient } from './client.ts';
import { clientFor, intOption, type GlobalOptions } from './context.ts';
import { CliError, ExitCode, usageError } from './exit-codes.ts';
import { formatTime, note, printFields, printJson, printTable, say } from './output.ts';
import type { Page } from '../wire/common.ts';
import type { VersionSummary, WorkflowView as Workflow } from '../wire/workflows.ts';
import { findWorkflowByName, resolveWorkflowId, workflowPath } from './refs.ts';

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

interface Problem {
  path: string;
  message: string;
}

/**
 * Parses and validates a YAML file locally, as the server's import does. The definition model
 * (schemas, CEL, cron) loads only here, so other commands start faster.
 */
async function checkYaml(
  text: string,
): Promise<
  { ok: true; def: WorkflowDefinition } | { ok: false; message: string; problems: Problem[] }
> {
  const [{ defaultDefinitionLimits, parseWorkflowYaml }, { AppError }, { builtinNodeRegistry }] =
    await Promise.all([
      import('../definition/index.ts'),
      import('../errors.ts'),
      import('../nodes/registry.ts'),
    ]);
  try {
    return {
      ok: true,
      def: parseWorkflowYaml(text, defaultDefinitionLimits, builtinNodeRegistry),
    };
  } catch (err) {
    if (err instanceof AppError) {
      // The server's words are about a request body; here the user gave a file.
      const message = err.message.replace(/^The body /, 'The file ');
      return { ok: false, message: `${message} (${err.code})`, problems: err.details };
    }
    throw err;
  }
}

function invalid(file: string, message: string, problems: Problem[]): CliError {
  const lines = [`${file}: ${message}`];
  for (const p of problems) lines.push(`  ${p.path === '' ? '(document)' : p.path}: ${p.message}`);
  return new CliError(lines.join('\n'), ExitCode.failed, { code: 'ERR_WORKFLOW_INVALID' });
}

const listColumns = [
  { header: 'id', value: (w: Workflow) => w.id },
  { header: 'name', value: (w: Workflow) => w.name },
  { header: 'type', value: (w: Workflow) => w.type },
  { header: 'status', value: (w: Workflow) => w.status },
  { header: 'version', value: (w: Workflow) => w.version },
  { header: 'active', value: (w: Workflow) => w.activeVersion },
  { header: 'updated', value: (w: Workflow) => formatTime(w.updatedAt) },
];

function printWorkflowLine(verb: string, wf: Workflow): void {
  say(`${verb} workflow ${wf.name} (${wf.id}) version ${wf.version}, ${wf.status}`);
}

async function publish(client: ApiClient, id: string): Promise<{ wf: Workflow; changed: boolean }> {
  try {
    return { wf: await client.post<Workflow>(`${workflowPath(id)}/publish`), changed: true };
  } catch (err) {
    if (err instanceof CliError && err.code === 'ERR_WORKFLOW_NO_DRAFT') {
      return { wf: await client.get<Workflow>(workflowPath(id)), changed: false };
    }
    throw err;
  }
}

export function registerWorkflows(program: Command): void {
  const wf = program
    .command('workflows')
    .alias('wf')
    .description('manage workflows: list, get, apply, validate, export, import, publish, …');
  const ctx = (cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    return { g, client: () => clientFor(g) };
  };

  wf.command('list')
    .description('list workflows (newest first)')
    .option('-q, --query <text>', 'name contains (case-insensitive)')
    .option('--status <status>', 'draft, published or archived')
    .option('--type <type>', 'agent, ci, chat or automation')
    .option('--all', 'include archived workflows')
    .option('--limit <n>', 'at most this many (default 50)', intOption)
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .action(async (opts: ListOptions, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const page = await client().get<Page<Workflow>>('/api/v1/workflows', {
        q: opts.query,
        status: opts.status,
        type: opts.type,
        includeArchived: opts.all,
        limit: opts.limit,
        cursor: opts.cursor,
      });
      if (g.json) return printJson(page);
      printTable(page.items, listColumns, 'no workflows');
      if (page.nextCursor) note(`more: --cursor ${page.nextCursor}`);
    });

  wf.command('get')
    .description('show a workflow with its active version')
    .argument('<workflow>', 'id or name')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const c = client();
      const w = await c.get<Workflow>(workflowPath(await resolveWorkflowId(c, ref)));
      if (g.json) return printJson(w);
      printFields([
        ['id', w.id],
        ['name', w.name],
        ['description', w.description || '-'],
        ['type', w.type],
        ['status', w.status],
        ['version', w.version],
        ['active version', w.activeVersion],
        ['triggers', w.triggerConfig.map((t) => t.type).join(', ') || '-'],
        ['created', `${formatTime(w.createdAt)} by ${w.createdBy}`],
        ['updated', formatTime(w.updatedAt)],
      ]);
      say('');
      printTable(
        w.graph.nodes,
        [
          { header: 'node', value: (n) => n.id },
          { header: 'type', value: (n) => n.type },
        ],
        'no nodes',
      );
    });

  wf.command('apply')
    .description('create or update (by name) a workflow from a YAML file')
    .requiredOption('-f, --file <file>', 'the workflow YAML (- for stdin)')
    .option('--publish', 'publish the result')
    .action(async (opts: { file: string; publish?: boolean }, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const text = readInput(opts.file);
      const checked = await checkYaml(text);
      if (!checked.ok) throw invalid(opts.file, checked.message, checked.problems);
      const def = checked.def;
      const c = client();
      const existing = await findWorkflowByName(c, def.name);
      let result: Workflow;
      let verb: string;
      if (existing === undefined) {
        result = await c.request<Workflow>('POST', '/api/v1/workflows/import', {
          text: { body: text, contentType: 'application/yaml' },
        });
        verb = 'created';
      } else {
        if (existing.type !== def.type) {
          note(
            `warning: ${def.name} is type ${existing.type}; the type of a workflow does not change (file says ${def.type})`,
          );
        }
        result = await c.patch<Workflow>(workflowPath(existing.id), {
          description: def.description,
          graph: def.graph,
          variables: def.variables,
          runtimeConfig: def.runtimeConfig,
          triggerConfig: def.triggerConfig,
        });
        verb = result.version > existing.version ? 'updated' : 'unchanged';
      }
      if (opts.publish) {
        const published = await publish(c, result.id);
        result = published.wf;
        if (published.changed) verb = `${verb} and published`;
      }
      if (g.json) return printJson(result);
      printWorkflowLine(verb, result);
    });

  wf.command('validate')
    .description(
      "check a workflow YAML file: locally, then against the server's settings (e.g. allowHostNetwork); prints every problem with its path",
    )
    .requiredOption('-f, --file <file>', 'the workflow YAML (- for stdin)')
    .option('--local', 'check only locally, without asking the server')
    .action(async (opts: { file: string; local?: boolean }, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const text = readInput(opts.file);
      let checked = await checkYaml(text);
      // What only the server knows (its settings) is checked there, when one answers.
      let serverNote: string | undefined;
      let warnings: { path: string; message: string }[] = [];
      if (checked.ok && opts.local !== true) {
        const c = client();
        try {
          const answer = await c.request<{ warnings?: { path: string; message: string }[] }>(
            'POST',
            '/api/v1/workflows/validate',
            { text: { body: text, contentType: 'application/yaml' } },
          );
          warnings = answer.warnings ?? [];
        } catch (err) {
          if (!(err instanceof CliError)) throw err;
          if (err.status === 422) {
            const body = err.message.split('\n');
            checked = {
              ok: false,
              message: `${body[0] ?? err.message} (server ${c.baseUrl})`,
              problems: body.slice(1).map((line) => {
                const m = /^\s*(.*?): (.*)$/.exec(line);
                return { path: m?.[1] ?? '', message: m?.[2] ?? line.trim() };
              }),
            };
          } else {
            serverNote = `not checked against the server at ${c.baseUrl} (${err.message.split('\n')[0]}); its settings may refuse more`;
          }
        }
      }
      if (g.json) {
        printJson(
          checked.ok
            ? {
                valid: true,
                name: checked.def.name,
                nodes: checked.def.graph.nodes.length,
                server: serverNote === undefined && opts.local !== true,
                warnings,
              }
            : { valid: false, error: checked.message, problems: checked.problems },
        );
        if (!checked.ok) process.exitCode = ExitCode.failed;
        return;
      }
      if (!checked.ok) throw invalid(opts.file, checked.message, checked.problems);
      if (serverNote !== undefined) note(serverNote);
      for (const w of warnings) note(`warning: ${w.path}: ${w.message}`);
      say(
        `${opts.file}: valid (workflow ${checked.def.name}, ${checked.def.graph.nodes.length} nodes)`,
      );
    });

  wf.command('export')
    .description('print a workflow as YAML (the active version, or --version)')
    .argument('<workflow>', 'id or name')
    .option('--version <n>', 'this version', intOption)
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (ref: string, opts: { version?: number; output?: string }, cmd: Command) => {
      const { client } = ctx(cmd);
      const c = client();
      const yaml = await c.request<string>(
        'GET',
        `${workflowPath(await resolveWorkflowId(c, ref))}/export`,
        {
          query: { version: opts.version },
        },
      );
      if (opts.output === undefined) process.stdout.write(yaml);
      else {
        writeFileSync(opts.output, yaml);
        note(`wrote ${opts.output}`);
      }
    });

  wf.command('import')
    .description('create a new workflow from a YAML file (apply also updates)')
    .requiredOption('-f, --file <file>', 'the workflow YAML (- for stdin)')
    .action(async (opts: { file: string }, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const result = await client().request<Workflow>('POST', '/api/v1/workflows/import', {
        text: { body: readInput(opts.file), contentType: 'application/yaml' },
      });
      if (g.json) return printJson(result);
      printWorkflowLine('created', result);
    });

  wf.command('publish')
    .description('publish the newest draft and make it active')
    .argument('<workflow>', 'id or name')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const c = client();
      const w = await c.post<Workflow>(`${workflowPath(await resolveWorkflowId(c, ref))}/publish`);
      if (g.json) return printJson(w);
      printWorkflowLine('published', w);
    });

  wf.command('promote')
    .description('make an existing published version active (rollback or forward)')
    .argument('<workflow>', 'id or name')
    .argument('<version>', 'a published version', intOption)
    .action(async (ref: string, version: number, _opts: unknown, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const c = client();
      const w = await c.post<Workflow>(`${workflowPath(await resolveWorkflowId(c, ref))}/promote`, {
        version,
      });
      if (g.json) return printJson(w);
      say(`promoted workflow ${w.name} (${w.id}): active version ${w.activeVersion}`);
    });

  wf.command('versions')
    .description('list a workflow’s versions, newest first')
    .argument('<workflow>', 'id or name')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const c = client();
      const page = await c.get<{ items: VersionSummary[] }>(
        `${workflowPath(await resolveWorkflowId(c, ref))}/versions`,
      );
      if (g.json) return printJson(page);
      printTable(page.items, [
        { header: 'version', value: (v) => v.version },
        { header: 'status', value: (v) => v.status },
        { header: 'active', value: (v) => (v.active ? '*' : '') },
        {
          header: 'source',
          value: (v) => (v.restoredFrom === null ? v.source : `${v.source} of ${v.restoredFrom}`),
        },
        { header: 'nodes', value: (v) => v.nodeCount },
        { header: 'created', value: (v) => `${formatTime(v.createdAt)} by ${v.createdBy}` },
        { header: 'published', value: (v) => formatTime(v.publishedAt) },
      ]);
    });

  wf.command('restore')
    .description('copy an old version into a new draft')
    .argument('<workflow>', 'id or name')
    .argument('<version>', 'the version to copy', intOption)
    .action(async (ref: string, version: number, _opts: unknown, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const c = client();
      const v = await c.post<VersionSummary>(
        `${workflowPath(await resolveWorkflowId(c, ref))}/versions/${version}/restore`,
      );
      if (g.json) return printJson(v);
      say(`restored version ${version} as draft version ${v.version}`);
    });

  wf.command('delete')
    .description('archive a workflow and all its versions')
    .argument('<workflow>', 'id or name')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { g, client } = ctx(cmd);
      const c = client();
      const id = await resolveWorkflowId(c, ref);
      await c.delete(workflowPath(id));
      if (g.json) return printJson({ id, deleted: true });
      say(`deleted (archived) workflow ${id}`);
    });
}

interface ListOptions {
  query?: string;
  status?: string;
  type?: string;
  all?: boolean;
  limit?: number;
  cursor?: string;
}
