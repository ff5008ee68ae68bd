/** `yard migrate`: apply pending migrations (opening the database applies them) and exit. */
import {
  ConfigError,
  asksForHelp,
  loadConfig,
  parseFlags,
  redactUrl,
  serverFlagsHelp,
} from '../config.ts';
import { migrateDatabase } from '../server.ts';

export async function migrate(argv: string[]): Promise<void> {
  if (asksForHelp(argv)) {
    process.stdout.write(serverFlagsHelp('migrate'));
    return;
  }
  try {
    const flags = parseFlags(argv);
    const config = loadConfig({
      overrides: flags.values,
      ...(flags.configFile !== undefined && { configFile: flags.configFile }),
    });
    await migrateDatabase(config);
    process.stdout.write(
      `migrations applied (${config.databaseUrl ? redactUrl(config.databaseUrl) : `${config.dataDir}/switchyard.db`})\n`,
    );
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
