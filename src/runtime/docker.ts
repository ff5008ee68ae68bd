/**
 * The docker runtime (DESIGN §6), on the Docker Engine API through dockerode.
 *
 * One container `sy-<execId>` per sandbox, from the execution's image, idling in `sleep
 * infinity` under docker-init (`Init`, so orphans are reaped), with the cpu/memory/pids limits,
 * its own network namespace (`outbound` attaches pasta and a firewall to it, docker-network.ts;
 * `host` only where the server allows it), and the labels `switchyard=1`,
 * `switchyard.execution=<id>`, `switchyard.workflow=<id>` that `reap` and `destroy` find it by.
 * Each command is a Docker exec in it. A node with its own `image` runs in a sidecar container
 * `sy-<execId>-<hash>` of that image that shares the workspace and is removed once it exits.
 *
 * The workspace is the broker's host directory bind-mounted at /workspace rather than a named
 * volume: artifacts are collected from the host path while and after the container lives, with no
 * copy out of a volume, and sidecars mount the same directory. It needs the engine on this host,
 * which a unix socket implies. Images are never pulled: a missing one fails at once.
 *
 * Hardening (docs/runtimes.md, "Threat model"): `no-new-privileges`, every capability dropped but
 * `keptCapabilities`, and nothing of the host but the workspace: the engine's socket is mounted
 * only when the workflow asks (`runtime_config.docker_socket`) and the server allows it
 * (`allowDockerSocket`), else the sandbox fails with ERR_RUNTIME_FORBIDDEN. Processes run as the
 * image's user (root, for the usual CI images) unless `runtime_config.user` names another; the
 * workspace then belongs to that user's uid/gid on the host.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import Docker from 'dockerode';
import type { NetworkMode } from '../definition/model.ts';
import type { EgressAllowEntry } from '../egress/ranges.ts';
import { containerNetwork } from './docker-network.ts';
import type { OutboundNamespace } from './outbound.ts';
import type {
  ProcessEnd,
  Runtime,
  Sandbox,
  SandboxProcess,
  SandboxSpec,
  SpawnOptions,
} from './types.ts';

/** Where the workspace is mounted in every container. */
export const containerWorkspace = '/workspace';

export const dockerLabels = {
  managed: 'switchyard',
  execution: 'switchyard.execution',
  workflow: 'switchyard.workflow',
  /** `sandbox` for the idle container, `sidecar` for a node-level image's container. */
  role: 'switchyard.role',
} as const;

/** Where the engine's socket appears in a container that asked for it. */
export const containerDockerSocket = '/var/run/docker.sock';

/**
 * The capabilities a container keeps (all others are dropped): Docker's default set without
 * NET_RAW (raw sockets, ARP/ICMP spoofing), MKNOD (device nodes), AUDIT_WRITE, SETFCAP (file
 * capabilities) and SYS_CHROOT. What is left is what package installs, `chown`, `su`/`setpriv`
 * from root and servers on low ports need.
 */
export const keptCapabilities = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'NET_BIND_SERVICE',
] as const;

/** A sandbox failure with a node error code (`ERR_NODE_IMAGE`, ...) the executor can report. */
export class SandboxError extends Error {
  override name = 'SandboxError';
  constructor(
    readonly code:
      'ERR_NODE_IMAGE' | 'ERR_NODE_SPAWN' | 'ERR_NODE_CONFIG' | 'ERR_RUNTIME_FORBIDDEN',
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DockerRuntimeOptions {
  /** The engine's unix socket, e.g. /run/switchyard-docker.sock. */
  socketPath: string;
  /** Image when the execution names none. */
  defaultImage?: string;
  /**
   * Signal and inspect an exec's processes from this host (its /proc and the container's cgroup)
   * when the engine's processes are visible here; default true. False, or an engine elsewhere
   * (a VM, another pid namespace), uses helper execs in the container instead.
   */
  hostProcessControl?: boolean;
  /** Only containers labelled with this owner are reaped (servers sharing one database share it). */
  owner?: string;
  /**
   * Whether a workflow may have the engine's socket mounted (`runtime_config.docker_socket`);
   * default false: asking fails the sandbox with ERR_RUNTIME_FORBIDDEN.
   */
  allowDockerSocket?: boolean;
  /** What `outbound` containers may reach although it is refused by default (`egressAllow`). */
  egressAllow?: readonly EgressAllowEntry[];
}

export function containerName(executionId: string): string {
  return `sy-${executionId}`;
}

/** What `dockerd` says it can limit, asked once per runtime. */
interface EngineCaps {
  cpu: boolean;
  memory: boolean;
  pids: boolean;
}

export function createDockerRuntime(opts: DockerRuntimeOptions): Runtime {
  // No client-wide timeout: it would also cut the streams of long commands.
  const docker = new Docker({ socketPath: opts.socketPath });
  // A second client just for pings, so a hung engine answers `available()` with false quickly.
  const pinger = new Docker({ socketPath: opts.socketPath, timeout: 2000 });
  let caps: Promise<EngineCaps> | undefined;
  const engineCaps = () =>
    (caps ??= docker.info().then(
      (info: { CpuCfsQuota?: boolean; MemoryLimit?: boolean; PidsLimit?: boolean }) => ({
        cpu: info.CpuCfsQuota !== false,
        memory: info.MemoryLimit !== false,
        pids: info.PidsLimit !== false,
      }),
      () => ({ cpu: true, memory: true, pids: true }),
    ));

  return {
    name: 'docker',

    async available() {
      try {
        await pinger.ping();
        return true;
      } catch {
        return false;
      }
    },

    async create(spec) {
      const image = spec.image ?? opts.defaultImage;
      if (image === undefined || image === '') {
        throw new SandboxError(
          'ERR_NODE_IMAGE',
          'the docker runtime needs an image: set runtime_config.image',
          false,
        );
      }
      if (spec.dockerSocket === true && opts.allowDockerSocket !== true) {
        throw new SandboxError(
          'ERR_RUNTIME_FORBIDDEN',
          'runtime_config.docker_socket asks for the Docker socket, which gives root on the host; this server does not allow it (allowDockerSocket)',
          false,
        );
      }
      const name = containerName(spec.executionId);
      const config = containerConfig(spec, image, name, 'sandbox', opts.socketPath, {
        Entrypoint: ['sleep'],
        Cmd: ['infinity'],
        // The workspace may not be the user's yet; execs set their own working directory.
        ...(spec.user !== undefined && { WorkingDir: '/' }),
      });
      const container = await createOrAdopt(docker, config, image, spec.user);
      const have = await engineCaps();
      const unenforced: string[] = [];
      if (spec.limits.cpu !== undefined && !have.cpu) unenforced.push('cpu');
      if (spec.limits.memoryBytes !== undefined && !have.memory) unenforced.push('memory');
      if (spec.limits.pids !== undefined && !have.pids) unenforced.push('pids');
      const info = await container.inspect();
      let hostUser: { uid: number; gid: number } | undefined;
      if (spec.user !== undefined) {
        try {
          hostUser = await userIds(docker, container, spec.user);
          await giveWorkspace(spec.hostWorkspace, hostUser, spec.user);
        } catch (err) {
          await removeContainer(container);
          throw err;
        }
      }
      const host =
        opts.hostProcessControl === false ? undefined : HostView.of(info.State.Pid, info.Id);
      const user = spec.user ?? (info.Config.User || 'root');
      let net: Awaited<ReturnType<typeof containerNetwork>>;
      try {
        net = await containerNetwork(
          spec,
          { pid: info.State.Pid, resolvConfPath: info.ResolvConfPath },
          { ...opts, hostView: opts.hostProcessControl !== false },
        );
      } catch (err) {
        await removeContainer(container);
        throw err;
      }
      if (net.network !== spec.network) unenforced.push(spec.network);
      return new DockerSandbox(
        docker,
        spec,
        image,
        container,
        unenforced,
        host,
        user,
        hostUser,
        opts.socketPath,
        net,
      );
    },

    async reap(alive) {
      const removed: string[] = [];
      const containers = await docker.listContainers({
        all: true,
        filters: { label: [`${dockerLabels.managed}=${opts.owner ?? '1'}`] },
      });
      const verdicts = new Map<string, Promise<boolean>>();
      const isAlive = (id: string | undefined) => {
        if (id === undefined) return Promise.resolve(false);
        let v = verdicts.get(id);
        if (!v) verdicts.set(id, (v = alive(id)));
        return v;
      };
      for (const c of containers) {
        if (await isAlive(c.Labels[dockerLabels.execution])) continue;
        await removeContainer(docker.getContainer(c.Id));
        removed.push(c.Names[0]?.replace(/^\//, '') ?? c.Id);
      }
      const { Volumes: volumes } = await docker.listVolumes({
        filters: { label: [`${dockerLabels.managed}=${opts.owner ?? '1'}`] },
      });
      for (const v of volumes ?? []) {
        if (await isAlive(v.Labels?.[dockerLabels.execution])) continue;
        await removeVolume(docker.getVolume(v.Name));
        removed.push(v.Name);
      }
      return removed;
    },
  };
}

type Role = 'sandbox' | 'sidecar';

function containerConfig(
  spec: SandboxSpec,
  image: string,
  name: string,
  role: Role,
  socketPath: string,
  extra: Partial<Docker.ContainerCreateOptions>,
): Docker.ContainerCreateOptions {
  const { cpu, memoryBytes, pids } = spec.limits;
  const binds = [`${path.resolve(spec.hostWorkspace)}:${containerWorkspace}`];
  // Only asked for and allowed (create checks): it is root on the host.
  if (spec.dockerSocket === true)
    binds.push(`${path.resolve(socketPath)}:${containerDockerSocket}`);
  return {
    name,
    Image: image,
    Labels: {
      [dockerLabels.managed]: spec.owner ?? '1',
      [dockerLabels.execution]: spec.executionId,
      [dockerLabels.workflow]: spec.workflowId,
      [dockerLabels.role]: role,
    },
    WorkingDir: containerWorkspace,
    ...(spec.user !== undefined && { User: spec.user }),
    AttachStdin: false,
    AttachStdout: role === 'sidecar',
    AttachStderr: role === 'sidecar',
    Tty: false,
    ...extra,
    HostConfig: {
      Binds: binds,
      // A sidecar shares the sandbox's network (its namespace, firewall and pasta) when it has one.
      NetworkMode:
        spec.network === 'host'
          ? 'host'
          : role === 'sidecar' && spec.network === 'outbound'
            ? `container:${containerName(spec.executionId)}`
            : 'none',
      Init: true,
      SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'],
      CapAdd: [...keptCapabilities],
      // Output reaches us through attach/exec streams; the engine need not keep a copy.
      LogConfig: { Type: 'none', Config: {} },
      ...(cpu !== undefined && { NanoCpus: Math.round(cpu * 1e9) }),
      // MemorySwap equal to Memory: no swap on top of the limit.
      ...(memoryBytes !== undefined && { Memory: memoryBytes, MemorySwap: memoryBytes }),
      ...(pids !== undefined && { PidsLimit: pids }),
    },
  };
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function missingImage(image: string, cause: unknown): SandboxError {
  return new SandboxError(
    'ERR_NODE_IMAGE',
    `image ${JSON.stringify(image)} is not on the Docker host; Switchyard never pulls images: build, load or import it there first`,
    false,
    { cause },
  );
}

/**
 * Creates and starts the container; when one of that name exists (a restarted server recreating
 * the sandbox of a running execution) a running one is adopted and a stopped one replaced.
 */
async function createOrAdopt(
  docker: Docker,
  config: Docker.ContainerCreateOptions,
  image: string,
  user: string | undefined,
  attempt = 1,
): Promise<Docker.Container> {
  let container: Docker.Container;
  try {
    container = await docker.createContainer(config);
  } catch (err) {
    if (statusOf(err) === 404) throw missingImage(image, err);
    if (statusOf(err) !== 409 || attempt > 3) throw err;
    const existing = docker.getContainer(config.name!);
    const info = await existing.inspect();
    if (info.State.Running) return existing;
    await removeContainer(existing);
    return createOrAdopt(docker, config, image, user, attempt + 1);
  }
  try {
    await container.start();
  } catch (err) {
    await removeContainer(container);
    throw startError(err, user);
  }
  return container;
}

/** A start refused because the image has no such user is the workflow's to fix. */
function startError(err: unknown, user: string | undefined): unknown {
  const message = (err as Error | null)?.message ?? '';
  if (
    user !== undefined &&
    /unable to find (user|group)|no matching entries in (passwd|group)/i.test(message)
  ) {
    return new SandboxError(
      'ERR_NODE_CONFIG',
      `runtime_config.user ${JSON.stringify(user)} does not exist in the image (a numeric uid:gid needs no entry)`,
      false,
      { cause: err },
    );
  }
  return err;
}

/** The numeric uid and gid of `user` in the container: given as `uid:gid`, else asked with `id`. */
async function userIds(
  docker: Docker,
  container: Docker.Container,
  user: string,
): Promise<{ uid: number; gid: number }> {
  const numeric = /^(\d+):(\d+)$/.exec(user);
  if (numeric) return { uid: Number(numeric[1]), gid: Number(numeric[2]) };
  let out: { code: number | null; stdout: string } | undefined;
  try {
    out = await execCapture(docker, container, ['/bin/sh', '-c', 'id -u; id -g']);
  } catch {
    out = undefined;
  }
  const ids = out?.code === 0 ? out.stdout.trim().split(/\s+/).map(Number) : [];
  if (ids.length === 2 && ids.every((n) => Number.isInteger(n) && n >= 0)) {
    return { uid: ids[0]!, gid: ids[1]! };
  }
  throw new SandboxError(
    'ERR_NODE_CONFIG',
    `cannot tell the uid and gid of runtime_config.user ${JSON.stringify(user)}: the image has no working \`id\`; give it as uid:gid`,
    false,
  );
}

/** Gives the host workspace to the container's user, so it can work there. */
async function giveWorkspace(
  hostWorkspace: string,
  ids: { uid: number; gid: number },
  user: string,
): Promise<void> {
  try {
    await chown(hostWorkspace, ids.uid, ids.gid);
  } catch (err) {
    throw new SandboxError(
      'ERR_NODE_SPAWN',
      `cannot give the workspace to runtime_config.user ${JSON.stringify(user)} (uid ${ids.uid}): ${(err as Error).message}; the server must run as root for that`,
      false,
      { cause: err },
    );
  }
}

async function removeContainer(c: Docker.Container): Promise<void> {
  try {
    await c.remove({ force: true, v: true });
  } catch (err) {
    // Gone already, or its removal is under way.
    if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
  }
}

async function removeVolume(v: Docker.Volume): Promise<void> {
  try {
    await v.remove();
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

/** Demultiplexes a non-TTY Docker stream into two readables that end with it. */
function demux(
  docker: Docker,
  stream: NodeJS.ReadableStream,
): { stdout: PassThrough; stderr: PassThrough; ended: Promise<void> } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const ended = new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      stdout.end();
      stderr.end();
      resolve();
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
  });
  return { stdout, stderr, ended };
}

function collect(r: Readable): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    r.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Polls an exec until the engine reports it stopped (the stream may close a moment earlier). */
async function execDone(exec: Docker.Exec): Promise<Docker.ExecInspectInfo> {
  for (let i = 0; ; i++) {
    const info = await exec.inspect();
    if (!info.Running) return info;
    await new Promise((r) => setTimeout(r, Math.min(5 * (i + 1), 50)));
  }
}

/** Runs a short helper command in a container and returns its exit code and stdout. */
async function execCapture(
  docker: Docker,
  container: Docker.Container,
  cmd: string[],
): Promise<{ code: number | null; stdout: string }> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const { stdout, stderr, ended } = demux(docker, stream);
  stderr.resume();
  const out = collect(stdout);
  await ended;
  return { code: (await execDone(exec)).ExitCode, stdout: await out };
}

/** `128 + n` as a signal name, for processes we stopped. */
function signalFromCode(code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128) return null;
  const n = code - 128;
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const oomCounterFiles = [
  '/sys/fs/cgroup/memory.events',
  '/sys/fs/cgroup/memory/memory.oom_control',
] as const;

/**
 * The wrapper each exec runs under. runc makes every exec process a session and process-group
 * leader, so `$$` is the pgid to signal later (busybox `setsid` would fork here, because the
 * process already leads its group, and the exec would report the forking parent's exit code).
 * It also records the cgroup's `oom_kill` count (v2 `memory.events`, v1 `memory.oom_control`)
 * before the command starts, so `oomKilled()` can tell whether an OOM kill happened since.
 * Shell builtins only, apart from `sh` itself.
 */
const wrapperScript = [
  't=$1; shift',
  'echo $$ > /tmp/.sy-$t.pgid',
  `for f in ${oomCounterFiles.join(' ')}; do`,
  '  if [ -r "$f" ]; then',
  '    while read -r k v; do if [ "$k" = oom_kill ]; then echo "$v" > /tmp/.sy-$t.oom; fi; done < "$f"',
  '    break',
  '  fi',
  'done',
  'exec "$@"',
].join('\n');

/**
 * Helper execs for process control when this host cannot see the engine's processes. Builtins
 * only (`read`, `kill`), so they need no fork besides their own start. Exit codes: 0 done (or
 * alive), 1 no such group, 3 no pgid recorded yet; anything else means the helper did not run.
 */
const signalGroupScript =
  't=$1; read -r p < /tmp/.sy-$t.pgid 2>/dev/null || exit 3; kill -"$2" -"$p" 2>/dev/null || exit 1';
const groupAliveScript =
  't=$1; read -r p < /tmp/.sy-$t.pgid 2>/dev/null || exit 3; kill -0 -"$p" 2>/dev/null || exit 1';

/** Prints `<count before> <count now>` of the cgroup's oom_kill counter. */
const oomScript = [
  't=$1; before=; now=',
  'read -r before < /tmp/.sy-$t.oom 2>/dev/null',
  `for f in ${oomCounterFiles.join(' ')}; do`,
  '  if [ -r "$f" ]; then',
  '    while read -r k v; do if [ "$k" = oom_kill ]; then now=$v; fi; done < "$f"',
  '    break',
  '  fi',
  'done',
  'echo "$before $now"',
].join('\n');

/**
 * The container's processes as this host sees them, when the engine runs on this host (its
 * cgroup and /proc are ours). Signalling from here needs no new process in the container, which a
 * full pids limit (a fork bomb) refuses or delays for seconds.
 */
class HostView {
  private constructor(
    private readonly initPid: number,
    private readonly procsFile: string,
  ) {}

  static of(initPid: number, containerId: string): HostView | undefined {
    if (!(initPid > 0)) return undefined;
    let cgroups: string;
    try {
      cgroups = readFileSync(`/proc/${initPid}/cgroup`, 'utf8');
    } catch {
      return undefined;
    }
    if (!cgroups.includes(containerId)) return undefined;
    const v1 = /^\d+:(?:[^:]*,)?pids(?:,[^:]*)?:(.*)$/m.exec(cgroups)?.[1];
    const v2 = /^0::(.*)$/m.exec(cgroups)?.[1];
    for (const file of [
      v1 === undefined ? undefined : `/sys/fs/cgroup/pids${v1}/cgroup.procs`,
      v2 === undefined ? undefined : `/sys/fs/cgroup${v2}/cgroup.procs`,
    ]) {
      if (file !== undefined && file.includes(containerId) && existsSync(file)) {
        return new HostView(initPid, file);
      }
    }
    return undefined;
  }

  /** A file as the container sees it (its mounts too), through /proc/<pid>/root. */
  read(pathInContainer: string): string | undefined {
    try {
      return readFileSync(`/proc/${this.initPid}/root${pathInContainer}`, 'utf8');
    } catch {
      return undefined;
    }
  }

  /** The pgid the wrapper recorded (in the container's pid namespace). */
  recordedPgid(token: string): number | undefined {
    const n = Number(this.read(`/tmp/.sy-${token}.pgid`));
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }

  /** `<count before the command> <count now>` of the cgroup's oom_kill counter, as oomScript prints. */
  oomCounts(token: string): string {
    const before = this.read(`/tmp/.sy-${token}.oom`)?.trim() ?? '';
    let now = '';
    for (const file of oomCounterFiles) {
      const text = this.read(file);
      if (text === undefined) continue;
      now = /^oom_kill (\d+)$/m.exec(text)?.[1] ?? '';
      break;
    }
    return `${before} ${now}`;
  }

  /** Host pgid of the container's processes in process group `nsPgid` (undefined when none is left). */
  hostPgid(nsPgid: number): number | undefined {
    let pids: string[];
    try {
      pids = readFileSync(this.procsFile, 'utf8').split('\n');
    } catch {
      return undefined;
    }
    for (const pid of pids) {
      if (pid === '') continue;
      let status: string;
      try {
        status = readFileSync(`/proc/${pid}/status`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      // A zombie is over; its parent (the shim, or docker-init) just has not reaped it yet.
      if (/^State:\s+Z/m.test(status)) continue;
      // `NSpgid: <host> ... <innermost>`: the group as seen from each pid namespace.
      const ns = /^NSpgid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number);
      if (ns && ns.length > 1 && ns[ns.length - 1] === nsPgid) return ns[0];
    }
    return undefined;
  }

  /**
   * SIGTERM to the group, SIGKILL after `graceMs` unless it is gone by then; resolves once it is
   * gone (a killed process takes a moment to exit), or a second after the SIGKILL.
   */
  async terminate(nsPgid: number, graceMs: number): Promise<void> {
    const termDeadline = performance.now() + graceMs;
    let killDeadline: number | undefined;
    let sent: NodeJS.Signals | undefined;
    for (;;) {
      const pgid = this.hostPgid(nsPgid);
      if (pgid === undefined) return;
      const now = performance.now();
      const want = now >= termDeadline ? 'SIGKILL' : 'SIGTERM';
      if (want !== sent) {
        try {
          process.kill(-pgid, want);
        } catch {
          return;
        }
        sent = want;
        if (want === 'SIGKILL') killDeadline = now + 1000;
      }
      if (killDeadline !== undefined && now >= killDeadline) return;
      await delay(25);
    }
  }
}

class DockerSandbox implements Sandbox {
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
  ) {
    this.hostWorkspace = path.resolve(spec.hostWorkspace);
    this.network = net.network;
    this.netns = net.netns;
  }

  readonly network: NetworkMode;
  private readonly netns: OutboundNamespace | undefined;

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

  private async spawnExec(argv: string[], opts: SpawnOptions): Promise<SandboxProcess> {
    const token = randomBytes(6).toString('hex');
    let exec: Docker.Exec;
    let stream: NodeJS.ReadableStream;
    try {
      exec = await this.container.exec({
        Cmd: ['/bin/sh', '-c', wrapperScript, 'switchyard', token, ...argv],
        Env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`),
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
     * Runs a control helper until it runs: a container at its pids limit refuses new processes
     * for a while. Waits for the wrapper to record the pgid while the process is starting.
     * Resolves 0, 1 or 3 as the scripts say (1 also when the container is gone).
     */
    const helper = async (script: string, ...args: string[]): Promise<number> => {
      const until = performance.now() + 5000;
      for (let attempt = 1; ; attempt++) {
        let code: number | null;
        try {
          code = (await run(script, ...args)).code;
        } catch (err) {
          if (statusOf(err) === 404 || statusOf(err) === 409) return 1;
          code = null;
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
        if ((await helper(signalGroupScript, 'TERM')) !== 0) return;
        while (performance.now() < deadline) {
          await delay(Math.min(100, Math.max(1, deadline - performance.now())));
          if ((await helper(groupAliveScript)) !== 0) return;
        }
        if ((await helper(signalGroupScript, 'KILL')) !== 0) return;
        // A killed process takes a moment to exit.
        for (let i = 0; i < 10 && (await helper(groupAliveScript)) === 0; i++) await delay(100);
      },
      async leftovers() {
        if (host) {
          const id = await groupId(0);
          if (id !== undefined) return host.hostPgid(id) !== undefined;
        }
        const code = await helper(groupAliveScript).catch(() => 0);
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
