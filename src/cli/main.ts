/**
 * `yard`: the Switchyard command line. One file per verb under src/cli/; they talk to the server
 * over HTTP only (`serve`, `migrate` and `secrets rotate` run it). Exit codes are in
 * exit-codes.ts and docs/cli.md.
 */
import { Command, CommanderError, Option } from 'commander';
import { registerArtifacts } from './artifacts.ts';
import { registerChat } from './chat.ts';
import { registerDlq } from './dlq.ts';
import { registerHooks } from './hooks.ts';
import { registerSchedules } from './schedules.ts';
import { registerSecrets } from './secrets.ts';
import { CliError, ExitCode } from './exit-codes.ts';
import { registerExecutions } from './executions.ts';
import { registerLogin } from './login.ts';
import { registerLogs } from './logs.ts';
import { registerRun } from './run.ts';
import { registerTokens } from './tokens.ts';
import { registerTriggers } from './triggers.ts';
import { registerUsage } from './usage.ts';
import { registerWait } from './wait.ts';
import { registerWorkflows } from './workflows.ts';
import { packageVersion } from '../version.ts';

const program = new Command();
program
  .name('yard')
  .description('Switchyard: durable workflows from the command line')
  // `-V` only: subcommands use `--version <n>` for workflow versions (`yard --version` is
  // handled below).
  .version(packageVersion, '-V', 'print the yard version')
  .addOption(
    new Option(
      '--url <url>',
      'server URL (else $YARD_URL, the login config, http://127.0.0.1:3000)',
    ),
  )
  .addOption(new Option('--token <token>', 'API token (else $YARD_TOKEN, the login config)'))
  .option('--json', 'print JSON for scripts instead of tables')
  .showHelpAfterError('(run with --help for usage)')
  // Usage errors exit 4 (not commander's 1, which means "failed" here); set before the
  // subcommands are added so they inherit it.
  .exitOverride();

program
  .command('serve')
  .description(
    'run the server (same flags as npm start: --port, --host, --data-dir, --database-url, --log-level, --config)',
  )
  .allowUnknownOption(true)
  .helpOption(false)
  .argument('[flags...]')
  // The server loads only for serve/migrate, so client commands start fast.
  .action(async (flags: string[]) => (await import('./serve.ts')).serve(flags));

program
  .command('migrate')
  .description('apply pending database migrations and exit (--data-dir, --database-url, --config)')
  .allowUnknownOption(true)
  .argument('[flags...]')
  .action(async (flags: string[]) => (await import('./migrate.ts')).migrate(flags));

registerLogin(program);
registerWorkflows(program);
registerRun(program);
registerWait(program);
registerLogs(program);
registerExecutions(program);
registerChat(program);
registerDlq(program);
registerUsage(program);
registerArtifacts(program);
registerTokens(program);
registerHooks(program);
registerSecrets(program);
registerSchedules(program);
registerTriggers(program);

let code: number;
try {
  if (process.argv.length === 3 && process.argv[2] === '--version')
    program.parse(['-V'], { from: 'user' });
  await program.parseAsync(process.argv);
  code = typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  // serve keeps running until a signal; everything else exits when done.
  if (program.args[0] === 'serve') code = -1;
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed the message (or the help/version text).
    code = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    code = err.exitCode;
  } else {
    process.stderr.write(
      `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    code = ExitCode.failed;
  }
}
// Open streams or sockets must not keep a finished command alive.
if (code >= 0) process.exit(code);
