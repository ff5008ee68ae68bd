/**
 * Composes a running Switchyard: configuration, database, services and the HTTP app. Used by
 * `npm start`, `yard serve` and the end-to-end tests.
 */
import type { FastifyServerOptions } from 'fastify';
import { buildApp } from './api/app.ts';
import type { App } from './api/types.ts';
import type { Config } from './config.ts';
import { defaultDefinitionLimits } from './definition/index.ts';
import { systemClock, type Clock } from './services/clock.ts';
import { ExecutionService } from './services/executions.ts';
import { TokenService } from './services/tokens.ts';
import { WorkflowService } from './services/workflows.ts';
import { type Database, openDatabase } from './store/db.ts';
import { ExecutionEngine } from './worker/engine.ts';

export interface Switchyard {
  app: App;
  database: Database;
  /** The admin secret when this start generated it (print it once). */
  bootstrap: { secret?: string; file?: string };
  engine: ExecutionEngine;
  close(): Promise<void>;
}

export interface ComposeOptions {
  config: Config;
  clock?: Clock;
  logger?: FastifyServerOptions['logger'];
  /** PostgreSQL schema (tests). */
  pgSchema?: string;
  /** SQLite file (tests may pass `:memory:`). */
  sqlitePath?: string;
  /** False: serve the API without claiming work (tests that drive the engine by hand). */
  startWorker?: boolean;
}

export async function composeSwitchyard(opts: ComposeOptions): Promise<Switchyard> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    ...(opts.sqlitePath !== undefined && { sqlitePath: opts.sqlitePath }),
    ...(opts.pgSchema !== undefined && { pgSchema: opts.pgSchema }),
  });
  try {
    const limits = {
      ...defaultDefinitionLimits,
      maxNodes: config.maxGraphNodes,
      maxYamlDepth: config.maxYamlDepth,
      maxYamlAliases: config.maxYamlAliases,
    };
    const tokens = new TokenService(database, clock);
    const workflows = new WorkflowService(database, clock, limits);
    const engine = new ExecutionEngine({ database, clock, config });
    const executions = new ExecutionService(database, engine, clock);
    const bootstrap = await tokens.bootstrap({
      adminToken: config.adminToken,
      dataDir: config.dataDir,
    });
    const app = await buildApp({
      services: { tokens, workflows, executions, ping: () => database.ping() },
      bodyLimitBytes: config.bodyLimitBytes,
      logger: opts.logger ?? false,
    });
    if (config.workerConcurrency > 0 && opts.startWorker !== false) await engine.start();
    return {
      app,
      database,
      bootstrap,
      engine,
      close: async () => {
        await app.close();
        await engine.stop();
        await database.close();
      },
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}

/** Opens the database (which applies pending migrations) and closes it: `yard migrate`. */
export async function migrateDatabase(config: Config): Promise<void> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await database.close();
}
