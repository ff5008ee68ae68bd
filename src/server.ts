/**
 * Composes a running Switchyard: configuration, database, services and the HTTP app. Used by
 * `npm start`, `yard serve` and the end-to-end tests.
 */
import { type LoggerOptions, pino } from 'pino';
import { buildApp } from './api/app.ts';
import { gatewaySocketPath, listenGatewaySocket } from './api/gateway-socket.ts';
import type { App } from './api/types.ts';
import { SseHub } from './api/sse.ts';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Config, redactUrl } from './config.ts';
import { defaultLlmProvider } from './config-llm-providers.ts';
import { defaultDefinitionLimits } from './definition/index.ts';
import { createEgressClients } from './egress/dispatcher.ts';
import { parseEgressAllow } from './egress/ranges.ts';
import { ArtifactService, type ArtifactServiceOptions } from './services/artifacts.ts';
import { systemClock, type Clock } from './clock.ts';
import { DlqService } from './services/dlq.ts';
import { ExecutionService } from './services/executions.ts';
import { HookService } from './services/hooks.ts';
import { PlatformEventService } from './services/platform-events.ts';
import { ScheduleService } from './services/schedules.ts';
import { SecretService } from './services/secrets.ts';
import { loadSecretsKey } from './secrets/key.ts';
import { ExecutionStream } from './services/stream.ts';
import { TokenService } from './services/tokens.ts';
import { SessionService } from './services/sessions.ts';
import { ExecutionTokenService } from './services/execution-tokens.ts';
import { LlmGateway } from './services/llm-gateway.ts';
import { TriggerRuleService } from './services/trigger-rules.ts';
import { UsageService } from './services/usage.ts';
import { WorkflowService } from './services/workflows.ts';
import { type Database, openDatabase } from './store/db.ts';
import { countOpenDlq } from './store/dlq.ts';
import { queueDepth } from './store/tasks.ts';
import { startReaper } from './runtime/artifacts/reaper.ts';
import { artifactStoreOf } from './runtime/artifacts/storage.ts';
import { RuntimeBroker, type RuntimeChoice } from './runtime/broker.ts';
import { type RuntimeReport, runtimeReport } from './runtime/start-report.ts';
import { identityPolicy } from './runtime/identity.ts';
import { type LocalIsolation, createLocalRuntime } from './runtime/local.ts';
import { createDockerRuntime } from './runtime/docker/runtime.ts';
import { RuleRunner } from './triggers/rules.ts';
import { Scheduler } from './triggers/scheduler.ts';
import { Worker } from './worker/worker.ts';
import { type NodeRegistry, builtinNodeRegistry } from './nodes/registry.ts';

export interface Switchyard {
  app: App;
  database: Database;
  /** The admin secret when this start generated it (print it once). */
  bootstrap: { secret?: string; file?: string };
  /** Claims and runs this process's share of the work. */
  worker: Worker;
  /** Collects, serves and reaps artifacts (the worker calls `collect`). */
  artifacts: ArtifactService;
  /** Platform events: publish, match, and wait for an outcome (tests). */
  events: PlatformEventService;
  /** Wakes event and log streams of this process. */
  streams: ExecutionStream;
  /** The open SSE streams (counts, drops). */
  sse: SseHub;
  /** Fires schedule triggers; `tick(now)` runs one pass (tests with a fake clock). */
  scheduler: Scheduler;
  /** Fires trigger rules; `tick(now)` sends the webhook deliveries due (tests with a fake clock). */
  rules: RuleRunner;
  /** The runtime, isolation and unenforced limits new executions get here (logged at start). */
  runtimeReport(): Promise<RuntimeReport>;
  close(): Promise<void>;
}

export interface ComposeOptions {
  config: Config;
  clock?: Clock;
  /** Logging of the app and the worker (pino options; true: info); none: nothing is logged. */
  logger?: boolean | LoggerOptions;
  /** PostgreSQL schema (tests). */
  pgSchema?: string;
  /** SQLite file (tests may pass `:memory:`). */
  sqlitePath?: string;
  /** False: serve the API without claiming work (tests that drive the engine by hand). */
  startWorker?: boolean;
  /** Artifact caps (defaults: 100 MiB per file, 1 GiB per execution) and reaper period (10 min; 0: none). */
  artifacts?: Omit<ArtifactServiceOptions, 'dataDir'> & { reapIntervalMs?: number };
  /** The node types workflows may use (default: the built-in ones). */
  nodeTypes?: NodeRegistry;
}

/** How long API requests may go on after the worker drained, before their connections are cut. */
const connectionGraceMs = 2000;

/** How often due webhook deliveries of trigger rules are looked for. */
const ruleDeliveryIntervalMs = 1000;

export async function composeSwitchyard(opts: ComposeOptions): Promise<Switchyard> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  // One pino instance: the app's request logs and the worker's reports go to the same place.
  const logger = opts.logger ? pino(opts.logger === true ? {} : opts.logger) : undefined;
  // The data directory holds the database, tokens and every workspace: nobody else may enter.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    ...(opts.sqlitePath !== undefined && { sqlitePath: opts.sqlitePath }),
    ...(opts.pgSchema !== undefined && { pgSchema: opts.pgSchema }),
  });
  // PostgreSQL: the worker gets connections of its own, so API requests (a `POST /run` above
  // all) do not queue behind its decisions; SQLite has one writer either way.
  const workerDatabase =
    database.dialect === 'postgres'
      ? await openDatabase({
          databaseUrl: config.databaseUrl,
          dataDir: config.dataDir,
          ...(opts.pgSchema !== undefined && { pgSchema: opts.pgSchema }),
        }).catch(async (err: unknown) => {
          await database.close();
          throw err;
        })
      : database;
  const closeDatabases = async (): Promise<void> => {
    if (workerDatabase !== database) await workerDatabase.close();
    await database.close();
  };
  if (config.databaseUrl === '') {
    const file = opts.sqlitePath ?? path.join(config.dataDir, 'switchyard.db');
    // SQLite creates its -wal and -shm files with the database file's mode.
    for (const f of [file, `${file}-wal`, `${file}-shm`])
      if (file !== ':memory:' && existsSync(f)) chmodSync(f, 0o600);
  }
  let stopStreams = async (): Promise<void> => {};
  let stopGateway = async (): Promise<void> => {};
  try {
    const fallbackProvider = defaultLlmProvider(config.llmProviders);
    const limits = {
      ...defaultDefinitionLimits,
      maxNodes: config.maxGraphNodes,
      maxYamlDepth: config.maxYamlDepth,
      maxYamlAliases: config.maxYamlAliases,
      allowHostNetwork: config.allowHostNetwork,
      llmProviders: Object.keys(config.llmProviders),
      llmModels: Object.fromEntries(
        Object.entries(config.llmProviders).flatMap(([name, p]) =>
          p.models === undefined ? [] : [[name, p.models]],
        ),
      ),
      ...(fallbackProvider !== undefined && { defaultLlmProvider: fallbackProvider }),
      pricedModels: Object.keys(config.modelPrices),
    };
    // Before anything runs: a server whose key does not open this database's secrets stops here.
    const secretsKey = loadSecretsKey({ secretsKey: config.secretsKey, dataDir: config.dataDir });
    const secrets = new SecretService(database, clock, secretsKey);
    await secrets.checkKey();
    // Hook and webhook-rule secrets an earlier version stored in plaintext.
    await secrets.sealPlaintext();
    const tokens = new TokenService(database, clock);
    const executionTokens = new ExecutionTokenService(database, clock);
    const gatewaySocket = gatewaySocketPath(config.dataDir);
    const nodeTypes = opts.nodeTypes ?? builtinNodeRegistry;
    const workflows = new WorkflowService(database, clock, limits, nodeTypes);
    const artifacts = new ArtifactService(database, clock, {
      dataDir: config.dataDir,
      store: artifactStoreOf(config.artifactStore, database.dialect),
      ...opts.artifacts,
    });
    const owner = databaseOwner(config, opts.sqlitePath, opts.pgSchema);
    const egressAllow = parseEgressAllow(config.egressAllow);
    const local = createLocalRuntime({
      dataDir: config.dataDir,
      isolation: config.localIsolation as LocalIsolation,
      owner,
      identity: identityPolicy(config.sandboxUser, config.sandboxUidRange, process.getuid?.()),
      readOnlyPaths: config.sandboxReadOnlyPaths,
      egressAllow,
    });
    const docker = createDockerRuntime({
      socketPath: config.dockerSocket,
      owner,
      allowDockerSocket: config.allowDockerSocket,
      egressAllow,
      gatewaySocket,
    });
    const broker = new RuntimeBroker({
      dataDir: config.dataDir,
      local,
      docker,
      defaultRuntime: config.runtime as RuntimeChoice,
      owner,
      allowHostNetwork: config.allowHostNetwork,
    });
    // Closed in close() after the worker stopped; the pools are lazy, so a failed start leaks none.
    const egress = createEgressClients({
      egressAllow: config.egressAllow,
      llmBaseUrls: Object.values(config.llmProviders).map((p) => p.baseUrl),
    });
    const worker = new Worker({
      database: workerDatabase,
      apiDatabase: database,
      clock,
      config,
      artifacts,
      broker,
      egress,
      nodeTypes,
      secrets: (workflowId, names) => secrets.resolve(workflowId, names),
      executionTokens,
      gatewaySocket,
      ...(logger && { logger: logger.child({ component: 'worker' }) }),
    });
    const executions = new ExecutionService(database, worker, clock, artifacts);
    const events = new PlatformEventService(database, executions, clock);
    let logRuleError = (err: unknown, context: Record<string, unknown>): void => {
      process.stderr.write(`switchyard: ${String(context.what)} failed: ${String(err)}\n`);
    };
    // Outbound deliveries are calls made for a workflow: the egress policy applies to them.
    const rules = new RuleRunner({
      database,
      clock,
      executions,
      egress: egress.workflow,
      secrets,
      intervalMs: ruleDeliveryIntervalMs,
      onError: (err, context) => logRuleError(err, context),
    });
    events.addMatcher((event) => rules.fire(event));
    // Matching an ended execution's event runs after its decision committed; close() waits for
    // what is under way, and an event left pending by a stop is matched at the next start.
    const matching = new Set<Promise<unknown>>();
    let logMatchError = (err: unknown): void => {
      process.stderr.write(`switchyard: matching a platform event failed: ${String(err)}\n`);
    };
    const match = (run: () => Promise<unknown>): void => {
      const p = run()
        .catch((err: unknown) => logMatchError(err))
        .finally(() => matching.delete(p));
      matching.add(p);
    };
    worker.onExecutionEnded((event) => match(() => events.process(event.id, event)));
    const streams = new ExecutionStream(database);
    worker.onDecision((id, snapshot, events) =>
      streams.committed(id, events, snapshot.execution.status),
    );
    worker.onLogs((id) => streams.notify(id, 'logs'));
    await streams.start(worker.workerId);
    stopStreams = () => streams.stop();
    let logSchedulerError = (err: unknown, context: Record<string, unknown>): void => {
      process.stderr.write(`switchyard: scheduler: ${String(err)} ${JSON.stringify(context)}\n`);
    };
    const scheduler = new Scheduler({
      database,
      clock,
      executions,
      intervalMs: config.schedulerIntervalMs,
      graceMs: config.scheduleGraceMs,
      onError: (err, context) => logSchedulerError(err, context),
    });
    const hooks = new HookService(database, clock, executions, events, secrets);
    events.setHookStarter((event) => hooks.startOwn(event));
    const sse = new SseHub({ heartbeatMs: config.sseHeartbeatMs });
    const bootstrap = await tokens.bootstrap({
      adminToken: config.adminToken,
      dataDir: config.dataDir,
    });
    const app = await buildApp({
      services: {
        tokens,
        sessions: new SessionService(database, clock, tokens, config.sessionTtlHours * 3_600_000),
        executionTokens,
        gateway: new LlmGateway({
          providers: config.llmProviders,
          dispatcher: egress.llm,
          secrets: (workflowId, names) => secrets.resolve(workflowId, names),
          tokens: executionTokens,
        }),
        workflows,
        executions,
        dlq: new DlqService(database, worker, clock),
        usage: new UsageService(database),
        artifacts,
        events,
        hooks,
        schedules: new ScheduleService(database, clock, scheduler),
        secrets,
        rules: new TriggerRuleService(database, clock, secrets),
        streams,
        ping: () => database.ping(),
      },
      bodyLimitBytes: config.bodyLimitBytes,
      hookBodyLimitBytes: config.hookBodyLimitBytes,
      sse,
      workerStats: () => worker.stats(),
      engine: {
        metrics: worker.metrics,
        queue: async () => {
          const now = clock.now();
          const q = await queueDepth(database.db, now.toISOString());
          const oldest = q.oldestDueAt === null ? now.getTime() : Date.parse(q.oldestDueAt);
          return { due: q.due, oldestAgeSeconds: Math.max(0, (now.getTime() - oldest) / 1000) };
        },
        dlqOpen: () => countOpenDlq(database.db),
      },
      ...(logger && { logger }),
    });
    // Before the worker starts: the commands it runs reach the gateway through this socket.
    const gatewayListener = await listenGatewaySocket(app, gatewaySocket);
    stopGateway = () => gatewayListener.close();
    logMatchError = (err) => app.log.error({ err }, 'matching a platform event failed');
    logSchedulerError = (err, context) => app.log.error({ err, ...context }, 'scheduler');
    logRuleError = (err, context) => app.log.error({ err, ...context }, 'trigger rules');
    if (config.workerConcurrency > 0 && opts.startWorker !== false) await worker.start();
    match(() => events.processPending());
    // A server that claims no work fires no schedules either (tests drive `tick` themselves).
    if (opts.startWorker !== false) {
      scheduler.start();
      rules.start();
    }
    // Expired artifacts and the workspaces whose retention ended, on one timer.
    const reapEvery = opts.artifacts?.reapIntervalMs ?? 600_000;
    const stopReaper =
      reapEvery > 0
        ? startReaper(
            async () => {
              const freed = await artifacts.reap();
              if (freed.deleted > 0)
                app.log.info(freed, `reaper deleted ${freed.deleted} expired artifacts`);
              const workspaces = await worker.reapWorkspaces();
              if (workspaces.length > 0)
                app.log.info({ workspaces }, `reaper removed ${workspaces.length} workspaces`);
            },
            reapEvery,
            (err) => app.log.error({ err }, 'reaper failed'),
          )
        : async () => {};
    return {
      app,
      database,
      bootstrap,
      worker,
      artifacts,
      events,
      streams,
      sse,
      scheduler,
      rules,
      runtimeReport: async () =>
        runtimeReport({
          defaultRuntime: config.runtime as RuntimeChoice,
          dockerAvailable: await docker.available().catch(() => false),
          dockerSocket: config.dockerSocket,
          localIsolation: config.localIsolation as LocalIsolation,
          caps: await local.capabilities(),
          asRoot: process.getuid?.() === 0,
        }),
      close: async () => {
        // No new fires once closing; the worker stops claiming at once and drains while the API closes.
        await scheduler.stop();
        const drained = worker.stop();
        const apiClosed = app.close();
        // Requests get the drain and a little more; then connections still open are cut. A client
        // may keep one open (keep-alive, 72 s; a request waiting on a database that is gone) and
        // would otherwise hold the process well past its drain timeout.
        await drained;
        let cut: NodeJS.Timeout | undefined;
        await Promise.race([
          apiClosed,
          new Promise<void>((r) => (cut = setTimeout(r, connectionGraceMs))),
        ]);
        clearTimeout(cut);
        app.server.closeAllConnections();
        await apiClosed;
        await stopGateway();
        await streams.stop();
        await stopReaper();
        // Ends drained above may still be starting their listeners' runs.
        while (matching.size > 0) await Promise.allSettled([...matching]);
        // After matching: a match may have just scheduled a delivery and started a pass.
        await rules.stop();
        await egress.close();
        await broker.close();
        await closeDatabases();
      },
    };
  } catch (err) {
    await stopGateway();
    await stopStreams();
    await closeDatabases();
    throw err;
  }
}

/** Opens the database (which applies pending migrations) and closes it: `yard migrate`. */
export async function migrateDatabase(config: Config): Promise<void> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await database.close();
}

/**
 * `yard secrets rotate`: re-seals every stored secret under `newKey` in one transaction (it
 * refuses unless `oldKey` is the database's key). Opening the database applies pending
 * migrations first, as a server would.
 */
export async function rotateSecretsKey(
  config: Config,
  keys: { oldKey: Buffer; newKey: Buffer },
): Promise<{ values: number; hookSecrets: number; ruleSecrets: number }> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await new SecretService(database, systemClock, keys.oldKey).rotate(keys.newKey);
  } finally {
    await database.close();
  }
}

/**
 * A short name for the database this server uses: servers sharing one database share it, and
 * leftovers (cgroups, containers) are only reaped by servers of the same owner.
 */
export function databaseOwner(config: Config, sqlitePath?: string, pgSchema?: string): string {
  const identity = config.databaseUrl
    ? `${redactUrl(config.databaseUrl)}#${pgSchema ?? ''}`
    : path.resolve(sqlitePath ?? path.join(config.dataDir, 'switchyard.db'));
  return createHash('sha256').update(identity).digest('hex').slice(0, 10);
}
