/** `yard token create|list|revoke`: API tokens (needs `tokens.admin`). */
import type { Command } from 'commander';
import { allPermissions } from '../types.ts';
import type { CreatedToken, TokenView } from '../wire/tokens.ts';
import { clientFor, collect, type GlobalOptions } from './context.ts';
import { usageError } from './exit-codes.ts';
import { formatTime, printJson, printTable, say } from './output.ts';

export function registerTokens(program: Command): void {
  const tok = program
    .command('token')
    .alias('tokens')
    .description('API tokens: create, list, revoke');

  tok
    .command('create')
    .description('create a token; its secret is printed once')
    .argument('<name>', 'a name for the token')
    .option(
      '-p, --permission <permission>',
      `a permission (repeatable, or comma-separated): ${allPermissions.join(', ')}, or all`,
      collect,
    )
    .option('--expires-at <time>', 'an ISO 8601 time after which it stops working')
    .action(
      async (name: string, opts: { permission?: string[]; expiresAt?: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const asked = (opts.permission ?? [])
          .flatMap((p) => p.split(','))
          .map((p) => p.trim())
          .filter(Boolean);
        if (asked.length === 0)
          throw usageError(`token create needs --permission (${allPermissions.join(', ')} or all)`);
        const permissions = asked.includes('all') ? [...allPermissions] : [...new Set(asked)];
        let expiresAt: string | undefined;
        if (opts.expiresAt !== undefined) {
          const d = new Date(opts.expiresAt);
          if (Number.isNaN(d.getTime()))
            throw usageError(`--expires-at: ${JSON.stringify(opts.expiresAt)} is not a time`);
          expiresAt = d.toISOString();
        }
        const t = await clientFor(g).post<CreatedToken>('/api/v1/tokens', {
          name,
          permissions,
          ...(expiresAt !== undefined && { expiresAt }),
        });
        if (g.json) return printJson(t);
        say(`created token ${t.name} (${t.id}) with ${t.permissions.join(', ')}`);
        say(`secret (shown only now): ${t.token}`);
      },
    );

  tok
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--all', 'include revoked tokens')
    .action(async (opts: { all?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const page = await clientFor(g).get<{ items: TokenView[] }>('/api/v1/tokens', {
        includeRevoked: opts.all,
      });
      if (g.json) return printJson(page);
      printTable(
        page.items,
        [
          { header: 'id', value: (t) => t.id },
          { header: 'name', value: (t) => t.name },
          { header: 'permissions', value: (t) => t.permissions.join(',') },
          { header: 'created', value: (t) => `${formatTime(t.createdAt)} by ${t.createdBy}` },
          { header: 'last used', value: (t) => formatTime(t.lastUsedAt) },
          { header: 'expires', value: (t) => formatTime(t.expiresAt) },
          { header: 'revoked', value: (t) => formatTime(t.revokedAt) },
        ],
        'no tokens',
      );
    });

  tok
    .command('revoke')
    .description('revoke a token')
    .argument('<id>', 'token id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      await clientFor(g).delete(`/api/v1/tokens/${encodeURIComponent(id)}`);
      if (g.json) return printJson({ id, revoked: true });
      say(`revoked ${id}`);
    });
}
