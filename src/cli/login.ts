/**
 * `yard login --url URL --token TOKEN`: checks the token against the server, then saves both
 * to the config file (mode 0600) that later commands read when no flag or YARD_* variable is set.
 */
import type { Command } from 'commander';
import { ApiClient } from './client.ts';
import { configFilePath, readSavedConfig, resolveConnection, writeSavedConfig } from './config.ts';
import type { GlobalOptions } from './context.ts';
import { CliError, usageError } from './exit-codes.ts';
import { printJson, say } from './output.ts';

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('save the server URL and token for later commands (checks them first)')
    .option('--no-verify', 'save without checking the token')
    .action(async (opts: { verify: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const conn = resolveConnection({
        ...(g.url !== undefined && { url: g.url }),
        ...(g.token !== undefined && { token: g.token }),
      });
      if (conn.token === undefined) throw usageError('login needs --token TOKEN (or YARD_TOKEN)');
      if (opts.verify) {
        try {
          await new ApiClient(conn).get('/api/v1/workflows', { limit: 1 });
        } catch (err) {
          // 403: the token is valid but may not read workflows; that is for the server to judge.
          if (!(err instanceof CliError && err.status === 403)) throw err;
        }
      }
      const file = configFilePath();
      const saved = { ...readSavedConfig(file), url: conn.url, token: conn.token };
      writeSavedConfig(saved, file);
      if (g.json) return printJson({ url: conn.url, config: file });
      say(`logged in to ${conn.url}; saved to ${file}`);
    });

  program
    .command('logout')
    .description('remove the saved token from the config file')
    .action((_opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const file = configFilePath();
      const { token: _token, ...rest } = readSavedConfig(file);
      writeSavedConfig(rest, file);
      if (g.json) return printJson({ config: file });
      say(`removed the token from ${file}`);
    });
}
