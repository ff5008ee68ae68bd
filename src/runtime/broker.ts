/**
 * The runtime broker (DESIGN §6): hands each execution an environment and takes it back.
 *
 * - `per_execution`: a fresh sandbox per execution, destroyed when the execution ends.
 * - `per_workflow`: `replicas` long-lived sandboxes per workflow; each execution works in
 *   `<workspace>/<execId>` of one of them (chosen by a stable hash of the execution id).
 * - `shared`: one pool of `replicas` sandboxes per runtime for every workflow in that mode.
 *
 * The runtime is `runtime_config.runtime` (`local`, `docker`, `auto`), else the server's
 * default; `auto` is docker when its socket answers, else local. Environments are acquired when
 * an execution first runs an executor node (engine-decided nodes need none) and recreated on
 * demand after a restart, so the broker keeps no state another process needs.
 */
import { createHash } from 'node:crypto';
import { lchownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { NetworkMode } from '../definition/model.ts';
import { parseCpu, parseMemory } from '../definition/quantity.ts';
import type { ResourceLimits, Runtime, Sandbox, SandboxProcess, SpawnOptions } from './types.ts';
import { WorkspaceDirs, isPoolDir } from './workspaces.ts';

export type RuntimeChoice = 'auto' | 'local' | 'docker';

/** No environment can be had right now (the node fails with ERR_RUNTIME_UNAVAILABLE, retryable). */
export class RuntimeUnavailableError extends Error {
  override name = 'RuntimeUnavailableError';
}

/** The environment asked for cannot be given by the runtime chosen (fixing the workflow helps). */
class RuntimeRefusedError extends Error {
  override name = 'RuntimeRefusedError';
  readonly retryable = false;
  constructor(
    readonly code: 'ERR_NODE_UNSUPPORTED' | 'ERR_RUNTIME_FORBIDDEN',
    message: string,
  ) {
    super(message);
  }
}

export interface BrokerOptions {
  dataDir: string;
  local: Runtime;
  docker?: Runtime;
  defaultRuntime: RuntimeChoice;
  /** Labels what this server creates (see databaseOwner). */
  owner?: string;
  /** Whether `runtime_config.network: host` may run (`allowHostNetwork`); default false. */
  allowHostNetwork?: boolean;
}

/** Where the operator opens the host's network to workflows, for messages. */
const allowHostNetworkSetting = 'allowHostNetwork (SWITCHYARD_ALLOW_HOST_NETWORK)';

export interface ExecutionRuntime {
  executionId: string;
  workflowId: string;
  /** The effective runtime config pinned on the execution (camelCase). */
  config: Record<string, unknown>;
}

export class RuntimeBroker {
  private readonly sandboxes = new Map<string, Promise<Sandbox>>();
  private dockerUp: { at: number; ok: boolean } | undefined;
  private lastSharedRuntime: 'local' | 'docker' = 'local';
  /** The workspace directories (`<dataDir>/workspaces`). */
  readonly workspaceDirs: WorkspaceDirs;

  constructor(private readonly opts: BrokerOptions) {
    this.workspaceDirs = new WorkspaceDirs(this.workspaces());
  }

  /** The sandbox an execution's nodes run in (created on first use). */
  async sandboxFor(exec: ExecutionRuntime): Promise<Sandbox> {
    if (exec.config.network === 'host' && this.opts.allowHostNetwork !== true) {
      // Checked when the workflow is saved too; this catches a setting changed since.
      throw new RuntimeRefusedError(
        'ERR_RUNTIME_FORBIDDEN',
        `runtime_config.network: host reaches every service on the host's loopback; this server does not allow it (${allowHostNetworkSetting}). Use network: outbound to reach the outside.`,
      );
    }
    const runtime = await this.pick(exec.config.runtime);
    if (runtime.name === 'local' && exec.config.dockerSocket === true) {
      throw new RuntimeRefusedError(
        'ERR_NODE_UNSUPPORTED',
        'runtime_config.docker_socket needs the docker runtime; this execution runs on the local runtime',
      );
    }
    const mode = typeof exec.config.mode === 'string' ? exec.config.mode : 'per_execution';
    if (mode === 'per_execution')
      return this.get(
        exec.executionId,
        runtime,
        exec,
        path.join(this.workspaces(), exec.executionId),
      );
    const replicas = Math.max(1, Number(exec.config.replicas ?? 1) || 1);
    const slot = createHash('sha256').update(exec.executionId).digest().readUInt32BE(0) % replicas;
    if (mode !== 'per_workflow') this.lastSharedRuntime = runtime.name;
    const key =
      mode === 'per_workflow'
        ? `wf-${exec.workflowId}-${slot}`
        : `shared-${runtime.name}${sharedVariant(exec.config)}-${slot}`;
    const base = await this.get(
      key,
      runtime,
      { ...exec, executionId: key },
      path.join(this.workspaces(), key),
      true,
    );
    return new SubSandbox(base, exec.executionId);
  }

  /** Where an execution's files are on the host (without acquiring anything). */
  hostWorkspaceOf(exec: ExecutionRuntime): string {
    const mode = typeof exec.config.mode === 'string' ? exec.config.mode : 'per_execution';
    if (mode === 'per_execution') return path.join(this.workspaces(), exec.executionId);
    const replicas = Math.max(1, Number(exec.config.replicas ?? 1) || 1);
    const slot = createHash('sha256').update(exec.executionId).digest().readUInt32BE(0) % replicas;
    const runtimeName =
      exec.config.runtime === 'docker' || exec.config.runtime === 'local'
        ? exec.config.runtime
        : undefined;
    // Shared pools are keyed by runtime; the workspace is found under whichever pool exists.
    const key =
      mode === 'per_workflow'
        ? `wf-${exec.workflowId}-${slot}`
        : `shared-${runtimeName ?? this.lastSharedRuntime}${sharedVariant(exec.config)}-${slot}`;
    return path.join(this.workspaces(), key, exec.executionId);
  }

  /**
   * Ends an execution's use of its environment: a per-execution sandbox is detached at once (a
   * retry that reopens the execution gets a fresh one) and destroyed once `stopped` settles, i.e.
   * after the attempts still running in it stopped their processes themselves (SIGTERM, the
   * grace period, SIGKILL): destroying it earlier would SIGKILL them at once.
   */
  async release(executionId: string, stopped: Promise<unknown> = Promise.resolve()): Promise<void> {
    const s = this.sandboxes.get(executionId);
    if (!s) return;
    this.sandboxes.delete(executionId);
    await stopped.catch(() => undefined);
    await (await s.catch(() => undefined))?.destroy();
  }

  /**
   * Removes an execution's workspace (every copy: its own directory, its directory in a pool).
   * Called once its environment is released or the execution is deleted; returns what went.
   */
  removeWorkspace(executionId: string): Promise<string[]> {
    return this.workspaceDirs.remove(executionId);
  }

  /**
   * Removes environments left by executions that are over (after a crash), and the workspace
   * directories `keepWorkspace` does not keep (it defaults to `alive`).
   */
  async reap(
    alive: (executionId: string) => Promise<boolean>,
    keepWorkspace: (executionId: string) => Promise<boolean> = alive,
  ): Promise<string[]> {
    const isAlive = async (id: string) =>
      this.sandboxes.has(id) || isPoolDir(id) || (await alive(id));
    const removed = await this.opts.local.reap(isAlive);
    if (this.opts.docker && (await this.dockerAvailable()))
      removed.push(...(await this.opts.docker.reap(isAlive)));
    removed.push(...(await this.reapWorkspaces(keepWorkspace)));
    return removed;
  }

  /** Removes the workspace directories `keep` does not keep; returns them. */
  async reapWorkspaces(keep: (executionId: string) => Promise<boolean>): Promise<string[]> {
    const removed: string[] = [];
    for (const found of await this.workspaceDirs.list()) {
      if (await keep(found.executionId)) continue;
      // An environment this server holds is in use, whatever the database said.
      if (this.sandboxes.has(found.executionId)) continue;
      if (await this.workspaceDirs.removeFound(found)) removed.push(found.dir);
    }
    return removed;
  }

  /**
   * Destroys every sandbox on shutdown. Running attempts were already stopped by the worker and
   * run again after a restart, which recreates what it needs (the workspaces stay on disk).
   */
  async close(): Promise<void> {
    const all = [...this.sandboxes.values()];
    this.sandboxes.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.destroy()));
  }

  private workspaces(): string {
    return path.resolve(this.opts.dataDir, 'workspaces');
  }

  private get(
    key: string,
    runtime: Runtime,
    exec: ExecutionRuntime,
    hostWorkspace: string,
    shared = false,
  ): Promise<Sandbox> {
    let s = this.sandboxes.get(key);
    if (!s) {
      mkdirSync(hostWorkspace, { recursive: true });
      s = runtime.create({
        executionId: exec.executionId,
        workflowId: exec.workflowId,
        ...(typeof exec.config.image === 'string' && { image: exec.config.image }),
        limits: limitsOf(exec.config),
        network: networkOf(exec.config),
        hostWorkspace,
        ...(typeof exec.config.user === 'string' && { user: exec.config.user }),
        ...(exec.config.dockerSocket === true && { dockerSocket: true }),
        ...(this.opts.owner !== undefined && { owner: this.opts.owner }),
        ...(shared && { shared: true }),
      });
      // A failed creation is not cached: the next node attempt tries again.
      s.catch(() => this.sandboxes.delete(key));
      this.sandboxes.set(key, s);
    }
    return s;
  }

  private async pick(choice: unknown): Promise<Runtime> {
    const wanted =
      choice === 'local' || choice === 'docker' || choice === 'auto'
        ? choice
        : this.opts.defaultRuntime;
    if (wanted === 'local') return this.opts.local;
    if (wanted === 'docker') {
      if (!this.opts.docker || !(await this.dockerAvailable())) {
        throw new RuntimeUnavailableError(
          'The docker runtime was asked for, but no Docker engine answers on its socket.',
        );
      }
      return this.opts.docker;
    }
    return this.opts.docker && (await this.dockerAvailable()) ? this.opts.docker : this.opts.local;
  }

  private async dockerAvailable(): Promise<boolean> {
    const now = Date.now();
    if (this.dockerUp && now - this.dockerUp.at < 10_000) return this.dockerUp.ok;
    const ok = this.opts.docker ? await this.opts.docker.available().catch(() => false) : false;
    this.dockerUp = { at: now, ok };
    return ok;
  }
}

/**
 * Shared pools are split by what changes who a process is and what it can reach (the user, the
 * Docker socket): a workflow never lands in an environment another one was granted more in.
 */
function sharedVariant(config: Record<string, unknown>): string {
  const user = typeof config.user === 'string' ? config.user : undefined;
  const socket = config.dockerSocket === true;
  const network = networkOf(config);
  if (user === undefined && !socket && network === 'none') return '';
  const digest = createHash('sha256')
    .update(JSON.stringify([user ?? null, socket, ...(network === 'none' ? [] : [network])]))
    .digest('hex');
  return `-${digest.slice(0, 8)}`;
}

/** The network an execution asked for; executions pinned before `network` existed get `none`. */
function networkOf(config: Record<string, unknown>): NetworkMode {
  return config.network === 'host' || config.network === 'outbound' ? config.network : 'none';
}

export function limitsOf(config: Record<string, unknown>): ResourceLimits {
  const limits: ResourceLimits = {};
  const cpu = parseCpu(config.cpu);
  const memory = parseMemory(config.memory);
  if (cpu !== undefined) limits.cpu = cpu;
  if (memory !== undefined) limits.memoryBytes = memory;
  if (typeof config.pids === 'number') limits.pids = config.pids;
  return limits;
}

/** One execution's directory inside a long-lived sandbox (per_workflow and shared modes). */
class SubSandbox implements Sandbox {
  readonly runtime: Sandbox['runtime'];
  readonly isolation: string;
  readonly hostWorkspace: string;
  readonly workspace: string;
  readonly unenforced: readonly string[];
  readonly network: NetworkMode;
  readonly user?: string;
  readonly readOnlyPaths?: readonly string[];
  readonly hostUser?: { uid: number; gid: number };

  constructor(
    private readonly base: Sandbox,
    private readonly executionId: string,
  ) {
    this.runtime = base.runtime;
    this.isolation = base.isolation;
    this.hostWorkspace = path.join(base.hostWorkspace, executionId);
    this.workspace = path.posix.join(base.workspace, executionId);
    this.unenforced = base.unenforced;
    this.network = base.network;
    if (base.user !== undefined) this.user = base.user;
    if (base.readOnlyPaths !== undefined) this.readOnlyPaths = base.readOnlyPaths;
    mkdirSync(this.hostWorkspace, { recursive: true });
    if (base.hostUser !== undefined) {
      this.hostUser = base.hostUser;
      // Never through a symlink another execution of the pool may have left in its place.
      lchownSync(this.hostWorkspace, base.hostUser.uid, base.hostUser.gid);
    }
  }

  spawn(argv: string[], opts: SpawnOptions): Promise<SandboxProcess> {
    return this.base.spawn(argv, { ...opts, execution: this.executionId });
  }

  /** The shared sandbox outlives the execution. */
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}
