/**
 * `yard secrets set|list|delete`: write-only secrets, global or a workflow's own (needs
 * `secrets.admin`). A value comes from stdin when piped, else from a prompt that does not echo;
 * never from an argument, which `ps` and shell history would show. `yard secrets rotate` opens
 * the database itself, as `yard migrate` does (secrets-rotate.ts).
 */
import type { Command } from 'commander';
// The wire types are the service's (type-only: nothing of the server loads here).
import type { SecretListItem, SecretView } from '../wire/secrets.ts';
import { clientFor, type GlobalOptions } from './context.ts';
import type { ApiClient } from './client.ts';
import { usageError } from './exit-codes.ts';
import { formatTime, printJson, printTable, say } from './output.ts';
import { resolveWorkflowId, workflowPath } from './refs.ts';

interface ScopeOptions {
  workflow?: string;
}

/** `/api/v1/secrets` or `/api/v1/workflows/{id}/secrets`. */
async function secretsPath(client: ApiClient, opts: ScopeOptions): Promise<string> {
  if (opts.workflow === undefined) return '/api/v1/secrets';
  return `${workflowPath(await resolveWorkflowId(client, opts.workflow))}/secrets`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // `echo value | yard secrets set` adds one newline that is not part of the value.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  let value = '';
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(usageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export function registerSecrets(program: Command): void {
  const secrets = program
    .command('secrets')
    .alias('secret')
    .description('write-only secrets, global or a workflow’s own: set, list, delete');

  secrets
    .command('set')
    .description('set a secret; the value is read from stdin when piped, else prompted for')
    .argument('<name>', 'secret name (letters, digits, _; not starting with a digit)')
    .option('--workflow <workflow>', "a workflow's own secret (id or name) instead of a global one")
    .action(async (name: string, opts: ScopeOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const base = await secretsPath(client, opts);
      const value = process.stdin.isTTY
        ? await promptHidden(`value of ${name}: `)
        : await readStdin();
      const secret = await client.request<SecretView>(
        'PUT',
        `${base}/${encodeURIComponent(name)}`,
        { json: { value } },
      );
      if (g.json) return printJson(secret);
      say(`set secret ${secret.name} (${secret.scope})`);
    });

  secrets
    .command('list')
    .description('list secrets (never their values) and the workflows that name them')
    .option('--workflow <workflow>', "a workflow's own secrets (id or name) instead of global ones")
    .action(async (opts: ScopeOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const page = await client.request<{ items: SecretListItem[] }>(
        'GET',
        await secretsPath(client, opts),
      );
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'name', value: (s) => s.name },
          { header: 'scope', value: (s) => s.scope },
          { header: 'updated', value: (s) => `${formatTime(s.updatedAt)} by ${s.updatedBy}` },
          { header: 'used by', value: (s) => (s.usedBy.length > 0 ? s.usedBy.join(', ') : '-') },
        ],
        'no secrets',
      );
    });

  secrets
    .command('delete')
    .description('delete a secret')
    .argument('<name>', 'secret name')
    .option('--workflow <workflow>', "a workflow's own secret (id or name)")
    .action(async (name: string, opts: ScopeOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const base = await secretsPath(client, opts);
      await client.request('DELETE', `${base}/${encodeURIComponent(name)}`);
      if (g.json) return printJson({ name, deleted: true });
      say(`deleted secret ${name}`);
    });

  secrets
    .command('rotate')
    .description(
      're-seal every stored secret under a new key, with the servers stopped (--old-key-file, --new-key-file; the server flags --data-dir, --database-url, --config)',
    )
    .allowUnknownOption(true)
    .argument('[flags...]')
    .addHelpText(
      'after',
      "\nThe old key: --old-key-file FILE, else the server's (secretsKey / SWITCHYARD_SECRETS_KEY, else <dataDir>/secrets.key).\n" +
        'The new key: --new-key-file FILE, else SWITCHYARD_NEW_SECRETS_KEY. See docs/secrets.md.',
    )
    // The server loads only here, so the other commands start fast.
    .action(async (flags: string[]) => (await import('./secrets-rotate.ts')).rotate(flags));
}
