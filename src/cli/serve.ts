/** `yard serve` / `npm start`: load config, open storage, listen, stop cleanly on signals. */
import {
  ConfigError,
  asksForHelp,
  loadConfig,
  parseFlags,
  redactUrl,
  serverFlagsHelp,
} from '../config.ts';
import { SecretsKeyError } from '../secrets/key.ts';
import { reportLine } from '../runtime/start-report.ts';
import { composeSwitchyard } from '../server.ts';

export async function serve(argv: string[]): Promise<void> {
  if (asksForHelp(argv)) {
    process.stdout.write(serverFlagsHelp('serve'));
    return;
  }
  let config;
  try {
    const flags = parseFlags(argv);
    config = loadConfig({
      overrides: flags.values,
      ...(flags.configFile !== undefined && { configFile: flags.configFile }),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let yard;
  try {
    yard = await composeSwitchyard({ config, logger: { level: config.logLevel } });
  } catch (err) {
    if (err instanceof SecretsKeyError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const storage = config.databaseUrl
    ? `PostgreSQL ${redactUrl(config.databaseUrl)}`
    : `SQLite ${config.dataDir}/switchyard.db`;
  let address: string;
  try {
    address = await yard.app.listen({ port: config.port, host: config.host });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') throw err;
    const why =
      code === 'EADDRINUSE'
        ? `port ${config.port} is in use on ${config.host}`
        : code === 'EACCES'
          ? `port ${config.port} needs privileges this user lacks`
          : `${config.host} is not an address of this machine`;
    process.stderr.write(
      `switchyard: cannot listen: ${why}; choose another with --port / SWITCHYARD_PORT (or --host / SWITCHYARD_HOST)\n`,
    );
    await yard.close().catch(() => undefined);
    process.exit(2);
  }
  // Once: what executions will run on, and what this host cannot enforce.
  const report = await yard.runtimeReport();
  yard.app.log.info({ runtimeReport: report }, reportLine(report));
  const lines = [`Switchyard listening on ${address} (${storage})`];
  if (yard.bootstrap.secret) {
    lines.push(
      '',
      'Admin token (shown once; also saved to ' + yard.bootstrap.file + ' with mode 0600):',
      `  ${yard.bootstrap.secret}`,
      '',
      `  curl -H "Authorization: Bearer ${yard.bootstrap.secret}" ${address}/api/v1/workflows`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  let closing = false;
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    if (closing) {
      // A second signal while draining: the operator will not wait. What was still running runs
      // again on the next server, as after a crash.
      process.stderr.write(
        `switchyard: ${signal} while draining; exiting without finishing the drain\n`,
      );
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    closing = true;
    yard.app.log.info({ signal }, 'shutting down');
    yard.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`switchyard: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
