/** `yard`: the Switchyard command line. One file per verb under src/cli/. */
import { Command } from 'commander';
import { migrate } from './migrate.ts';
import { serve } from './serve.ts';

const program = new Command();
program
  .name('yard')
  .description('Switchyard: durable workflows from the command line')
  .version('0.1.0');

program
  .command('serve')
  .description(
    'run the server (same flags as npm start: --port, --host, --data-dir, --database-url, --log-level, --config)',
  )
  .allowUnknownOption(true)
  .helpOption(false)
  .argument('[flags...]')
  .action(async (flags: string[]) => serve(flags));

program
  .command('migrate')
  .description('apply pending database migrations and exit (--data-dir, --database-url, --config)')
  .allowUnknownOption(true)
  .argument('[flags...]')
  .action(async (flags: string[]) => migrate(flags));

await program.parseAsync(process.argv);
