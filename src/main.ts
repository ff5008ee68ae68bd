/**
 * `switchyard`, the server's command (and `npm start`): `serve` (the default) listens on the
 * configured port (3000) with SQLite under ./data unless DATABASE_URL is set; `migrate` applies
 * pending migrations and exits. Both take the flags in the README's Configuration.
 */
import { packageVersion } from './version.ts';

const usage = `Usage: switchyard [serve] [flags]   run the server (the default)
       switchyard migrate [flags]   apply pending database migrations and exit
       switchyard --version

Flags: --port, --host, --data-dir, --database-url, --log-level, --config and the others in the
README's Configuration; each also has a SWITCHYARD_* environment variable.
`;

const [first, ...rest] = process.argv.slice(2);
if (first === 'migrate') {
  await (await import('./cli/migrate.ts')).migrate(rest);
} else if (first === 'serve') {
  await (await import('./cli/serve.ts')).serve(rest);
} else if (first === undefined || (first.startsWith('-') && !isInfo(first))) {
  // `npm start -- --port 4000`: flags alone mean serve.
  await (await import('./cli/serve.ts')).serve(process.argv.slice(2));
} else if (first === '--version' || first === '-V' || first === 'version') {
  process.stdout.write(`${packageVersion}\n`);
} else if (first === '--help' || first === '-h' || first === 'help') {
  process.stdout.write(usage);
} else {
  process.stderr.write(`switchyard: unknown command '${first}'\n\n${usage}`);
  process.exitCode = 2;
}

function isInfo(arg: string): boolean {
  return ['--version', '-V', '--help', '-h'].includes(arg);
}
