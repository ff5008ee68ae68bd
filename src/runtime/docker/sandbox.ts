/**
 * A docker sandbox: the container `sy-<execId>`, each command a Docker exec in it, and a node
 * with its own `image` a sidecar container `sy-<execId>-<hash>` of that image that shares the
 * workspace (and the network, when it has one) and is removed once it exits.
 */
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { NetworkMode } from '../../definition/model.ts';
import type { OutboundNamespace } from '../outbound.ts';
import { gatewayBaseUrls, sandboxGatewaySocket, withGatewayEnv } from '../gateway-forwarder.ts';
import type { ContainerForwarder } from './gateway.ts';
import type { ProcessEnd, Sandbox, SandboxProcess, SandboxSpec, SpawnOptions } from '../types.ts';
import {
  containerConfig,
  containerName,
  containerWorkspace,
  dockerLabels,
} from './container-config.ts';
import { delay, demux, execCapture, execDone, removeContainer, signalFromCode } from './engine.ts';
import { GroupController } from './controller.ts';
import { SandboxError, missingImage, startError, statusOf } from './errors.ts';
import type { HostView } from './host-view.ts';
import { groupAliveScript, oomScript, signalGroupScript, wrapperScript } from './scripts.ts';

export class DockerSandbox implements Sandbox {
  readonly runtime = 'docker' as const;
  readonly isolation = 'docker';
  readonly workspace = containerWorkspace;
  readonly hostWorkspace: string;

  constructor(
    private readonly docker: Docker,
    private readonly spec: SandboxSpec,
    private readonly image: string,
    private readonly container: Docker.Container,
    readonly unenforced: readonly string[],
    /** Set when the engine runs on this host: process control without execs. */
    private readonly host: HostView | undefined,
    readonly user: string,
    readonly hostUser: { uid: number; gid: number } | undefined,
    private readonly socketPath: string,
    net: { network: NetworkMode; netns?: OutboundNamespace },
    /** The LLM gateway: its socket mounted at `sandboxGatewaySocket`, the forwarder's port. */
    private readonly gateway: { mounted: boolean; forwarder?: ContainerForwarder } = {
      mounted: false,
    },
  ) {
    this.hostWorkspace = path.resolve(spec.hostWorkspace);
    this.network = net.network;
    this.netns = net.netns;
  }

  readonly network: NetworkMode;
  private readonly netns: OutboundNamespace | undefined;
  /** Without a host view: the exec that signals groups (controller.ts), started with the first command. */
  private controller: Promise<GroupController | undefined> | undefined;

  /** The live controller, started anew when a command killed the last one; undefined if it cannot start. */
  private liveController(): Promise<GroupController | undefined> {
    const current = this.controller;
    this.controller = (async () => {
      const c = await current;
      if (c?.alive) return c;
      return GroupController.start(this.docker, this.container);
    })();
    return this.controller;
  }

  /** The container's id, for tests and the execution detail. */
  get containerId(): string {
    return this.container.id;
  }

  spawn(argv: string[], opts: SpawnOptions): Promise<SandboxProcess> {
    if (argv.length === 0) return Promise.reject(new Error('spawn: empty argv'));
    if (opts.image !== undefined && opts.image !== this.image) {
      return this.spawnSidecar(argv, opts, opts.image);
    }
    return this.spawnExec(argv, opts);
  }

  /**
   * The exec's environment with the gateway's (when the command has a token): the mounted
   * socket and the forwarder's base URLs; variables the node set itself stay.
   */
  private gatewayEnv(opts: SpawnOptions): Record<string, string> {
    if (opts.gateway === undefined || !this.gateway.mounted) return opts.env;
    const port = this.gateway.forwarder?.port;
    return withGatewayEnv(
      opts.env,
      { token: opts.gateway.token, socket: sandboxGatewaySocket },
      port === undefined ? undefined : { baseUrls: gatewayBaseUrls(port) },
    );
  }

  private async spawnExec(argv: string[], opts: SpawnOptions): Promise<SandboxProcess> {
    const token = randomBytes(6).toString('hex');
    // Before the command starts, while the container still has room for the controller.
    const controller = this.host ? undefined : await this.liveController();
    let exec: Docker.Exec;
    let stream: NodeJS.ReadableStream;
    try {
      exec = await this.container.exec({
        Cmd: ['/bin/sh', '-c', wrapperScript, 'switchyard', token, ...argv],
        Env: Object.entries(this.gatewayEnv(opts)).map(([k, v]) => `${k}=${v}`),
        WorkingDir: opts.cwd,
        AttachStdin: false,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      stream = await exec.start({});
    } catch (err) {
      throw this.spawnError(err);
    }
    const { stdout, stderr, ended } = demux(this.docker, stream);
    const container = this.container;
    const name = containerName(this.spec.executionId);
    const host = this.host;
    let finished = false;
    let hostPid: number | undefined;
    let terminated = false;
    const exited = ended.then(async (): Promise<ProcessEnd> => {
      const info = await execDone(exec).catch(() => undefined);
      finished = true;
      // The engine reports an exec's host pid once it has ended.
      if (info?.Pid) hostPid = info.Pid;
      const code = info?.ExitCode ?? null;
      const signal = terminated ? signalFromCode(code) : null;
      return signal === null ? { code, signal } : { code: null, signal };
    });
    /** The group's id in the container, as the wrapper recorded it (it may not have yet). */
    const groupId = async (waitMs: number) => {
      const until = performance.now() + waitMs;
      for (;;) {
        const id = host?.recordedPgid(token);
        if (id !== undefined || finished || performance.now() >= until) return id;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const run = (script: string, ...args: string[]) =>
      execCapture(this.docker, container, ['/bin/sh', '-c', script, 'switchyard', token, ...args]);
    /**
     * Signals the group (`0`: checks it exists) through the controller, or else a helper exec,
     * until that runs: a container at its pids limit refuses new processes for a while. Waits
     * for the wrapper to record the pgid while the process is starting. Resolves 0, 1 or 3 as
     * the scripts say (1 also when the container is gone).
     */
    const signalGroup = async (signal: 'TERM' | 'KILL' | '0'): Promise<number> => {
      const until = performance.now() + 5000;
      for (let attempt = 1; ; attempt++) {
        let code: number | null | undefined = controller?.alive
          ? await controller.signal(token, signal)
          : undefined;
        if (code === undefined) {
          try {
            code = (await (signal === '0' ? run(groupAliveScript) : run(signalGroupScript, signal)))
              .code;
          } catch (err) {
            if (statusOf(err) === 404 || statusOf(err) === 409) return 1;
            code = null;
          }
        }
        if (code === 0 || code === 1 || (code === 3 && finished)) return code;
        if (performance.now() >= until) {
          if (code === 3) return 3;
          throw new Error(
            `could not run a process-control helper in ${name} (exit ${code}); is its pids limit exhausted?`,
          );
        }
        await delay(code === 3 ? 10 : Math.min(500, 50 * attempt));
      }
    };
    let oom: Promise<boolean> | undefined;
    return {
      get pid() {
        return hostPid;
      },
      stdout,
      stderr,
      exited,
      async terminate(graceMs) {
        terminated = true;
        if (host) {
          const id = await groupId(5000);
          if (id !== undefined) return host.terminate(id, graceMs);
        }
        const deadline = performance.now() + graceMs;
        if ((await signalGroup('TERM')) !== 0) return;
        while (performance.now() < deadline) {
          await delay(Math.min(100, Math.max(1, deadline - performance.now())));
          if ((await signalGroup('0')) !== 0) return;
        }
        if ((await signalGroup('KILL')) !== 0) return;
        // A killed process takes a moment to exit.
        for (let i = 0; i < 10 && (await signalGroup('0')) === 0; i++) await delay(100);
      },
      async leftovers() {
        if (host) {
          const id = await groupId(0);
          if (id !== undefined) return host.hostPgid(id) !== undefined;
        }
        const code = await signalGroup('0').catch(() => 0);
        return code === 0;
      },
      oomKilled: () =>
        (oom ??= (async () => {
          const end = await exited;
          // The OOM killer sends SIGKILL: the process, or the shell whose child it was, ends 137.
          if (end.code !== 137 && end.signal !== 'SIGKILL') return false;
          const counts = host
            ? host.oomCounts(token)
            : (await run(oomScript).catch(() => undefined))?.stdout;
          const out = counts?.trim().split(/\s+/) ?? [];
          const before = Number(out[0]);
          const now = Number(out[1]);
          if (out.length === 2 && Number.isFinite(before) && Number.isFinite(now))
            return now > before;
          // No counter readable in the container: the engine's flag for the whole container.
          const info = await container.inspect();
          return info.State.OOMKilled;
        })()),
    };
  }

  private async spawnSidecar(
    argv: string[],
    opts: SpawnOptions,
    image: string,
  ): Promise<SandboxProcess> {
    const hash = createHash('sha256')
      .update(`${image}\0${randomBytes(8).toString('hex')}`)
      .digest('hex')
      .slice(0, 10);
    const config = containerConfig(
      this.spec,
      image,
      `${containerName(this.spec.executionId)}-${hash}`,
      'sidecar',
      this.socketPath,
      {
        Entrypoint: [argv[0]!],
        Cmd: argv.slice(1),
        Env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`),
        WorkingDir: opts.cwd,
      },
    );
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(config);
    } catch (err) {
      if (statusOf(err) === 404) throw missingImage(image, err);
      throw err;
    }
    let stdout: PassThrough;
    let stderr: PassThrough;
    let ended: Promise<void>;
    try {
      const stream = await container.attach({ stream: true, stdout: true, stderr: true });
      ({ stdout, stderr, ended } = demux(this.docker, stream));
      await container.start();
    } catch (err) {
      await removeContainer(container);
      const refused = startError(err, this.spec.user);
      throw refused === err ? this.spawnError(err) : refused;
    }
    const info = await container.inspect().catch(() => undefined);
    const pid = info?.State.Pid || undefined;
    let terminated = false;
    let oom = false;
    let finished = false;
    const exited = (async (): Promise<ProcessEnd> => {
      let code: number | null = null;
      try {
        code = ((await container.wait()) as { StatusCode: number }).StatusCode;
        oom = (await container.inspect()).State.OOMKilled;
      } catch {
        // Removed under us (destroy): the process is gone.
      }
      finished = true;
      await ended.catch(() => {});
      await removeContainer(container);
      const signal = terminated ? signalFromCode(code) : null;
      return signal === null ? { code, signal } : { code: null, signal };
    })();
    const kill = async (signal: string) => {
      try {
        await container.kill({ signal });
      } catch (err) {
        if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
      }
    };
    return {
      pid,
      stdout,
      stderr,
      exited,
      async terminate(graceMs) {
        terminated = true;
        if (finished) return;
        await kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<'late'>(
          (r) => (timer = setTimeout(() => r('late'), graceMs)),
        );
        const how = await Promise.race([exited.then(() => 'gone' as const), graceOver]);
        clearTimeout(timer);
        if (how === 'late') await kill('SIGKILL');
      },
      // The sidecar's processes live in its own PID namespace, which ends with the container.
      leftovers: () => Promise.resolve(false),
      oomKilled: async () => {
        await exited;
        return oom;
      },
    };
  }

  async destroy(): Promise<void> {
    const label = `${dockerLabels.execution}=${this.spec.executionId}`;
    // The sandbox container goes at once; sidecars still around (a cancel mid-sidecar) are found
    // by label. Sandboxes create no volumes (the workspace is a bind mount); reap sweeps any.
    await this.netns?.destroy();
    this.gateway.forwarder?.stop();
    void this.controller?.then((c) => c?.close());
    const own = removeContainer(this.container);
    const containers = await this.docker.listContainers({ all: true, filters: { label: [label] } });
    await Promise.all([
      own,
      ...containers
        .filter((c) => c.Id !== this.container.id)
        .map((c) => removeContainer(this.docker.getContainer(c.Id))),
    ]);
  }

  private spawnError(err: unknown): Error {
    const status = statusOf(err);
    if (status === 404 || status === 409) {
      return new SandboxError(
        'ERR_NODE_SPAWN',
        `the sandbox container ${containerName(this.spec.executionId)} is not running`,
        true,
        { cause: err },
      );
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}
