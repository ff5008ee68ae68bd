/**
 * One local sandbox (local.ts makes them): what it enforces, its network, its user, and each
 * command's argv (local-argv.ts), started by local-process.ts.
 */
import { constants as fsConstants } from 'node:fs';
import { access, chmod, chown, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { NetworkMode } from '../definition/model.ts';
import type { EgressAllowEntry } from '../egress/ranges.ts';
import { type CgroupController, ExecutionCgroup } from './cgroups.ts';
import {
  type IdentityAllocator,
  type SandboxIdentity,
  dropPrivilegesArgs,
  writeUserFiles,
} from './identity.ts';
import { type Confinement, type NetnsEntry, commandArgv } from './local-argv.ts';
import { forwarderArgv, sandboxGatewaySocket, withGatewayEnv } from './gateway-forwarder.ts';
import type { LocalCapabilities } from './local-capabilities.ts';
import {
  bwrapRootArgs,
  bwrapWorkspaceArgs,
  hiddenTopOf,
  outboundResolvConf,
  sandboxWorkspace,
} from './local-root.ts';
import { type OutboundNamespace, namespaceName, openOutbound } from './outbound.ts';
import { OrphanRecords, startProcess } from './local-process.ts';
import { type ProcessTree, terminateTree } from './process-tree.ts';
import type { Sandbox, SandboxSpec, SpawnOptions } from './types.ts';

export interface LocalSandbox extends Sandbox {
  readonly runtime: 'local';
  /** The execution's cgroup directories by controller (empty without cgroups), for accounting. */
  readonly cgroupDirs: Readonly<Partial<Record<CgroupController, string>>>;
}

/** What a sandbox takes of the runtime's options (LocalRuntimeOptions, where they are described). */
export interface LocalSandboxOptions {
  dataDir: string;
  owner?: string;
  orphanKillGraceMs?: number;
  readOnlyPaths?: readonly string[];
  egressAllow?: readonly EgressAllowEntry[];
}

/** Thrown by `spawn` when asked for something this runtime does not do (a sidecar `image`). */
const unsupportedCode = 'ERR_NODE_UNSUPPORTED';
const defaultOrphanGraceMs = 2000;

/** How this sandbox confines its commands, decided once from what the host offers. */
interface Mode {
  useBwrap: boolean;
  asRoot: boolean;
  /** A root server drops every command to the sandbox user (setpriv). */
  switchUser: boolean;
  /** Plain mode as root also gets its own pid, mount and net namespaces (unshare). */
  plainNamespaces: boolean;
}

export async function createSandbox(
  spec: SandboxSpec,
  caps: LocalCapabilities,
  opts: LocalSandboxOptions,
  identities: IdentityAllocator,
): Promise<LocalSandbox> {
  const hostWorkspace = path.resolve(spec.hostWorkspace);
  await mkdir(hostWorkspace, { recursive: true });
  const useBwrap = caps.bwrap !== undefined;
  const switchUser = identities.enforced && caps.setpriv !== undefined;
  const mode: Mode = {
    useBwrap,
    asRoot: process.getuid?.() === 0,
    switchUser,
    plainNamespaces: !useBwrap && switchUser && caps.unshare !== undefined,
  };
  const shared = spec.shared === true;
  const cgroup =
    caps.cgroups === undefined
      ? undefined
      : await ExecutionCgroup.create(
          caps.cgroups,
          spec.executionId,
          spec.limits,
          opts.owner ?? 'default',
        );
  const unenforced: string[] = [];
  if (!useBwrap) unenforced.push('isolation');
  if (!useBwrap && !mode.plainNamespaces && spec.network !== 'host') unenforced.push('network');
  let net: { network: NetworkMode; netns?: OutboundNamespace };
  try {
    net = await openNetwork(spec, caps, opts, mode, unenforced);
  } catch (error) {
    await cgroup?.remove();
    throw error;
  }
  if (!switchUser) unenforced.push('identity');
  const prlimit = fallbackLimits(spec, caps, cgroup, mode, identities, unenforced);
  const isolation = [
    useBwrap ? 'bwrap' : mode.plainNamespaces ? 'plain+namespaces' : 'plain',
    ...(cgroup === undefined ? [] : [`cgroup-v${cgroup.host.version}`]),
    ...(prlimit.length > 0 ? ['prlimit'] : []),
  ].join('+');
  const etcDir = path.join(path.resolve(opts.dataDir), 'sandbox-etc');
  const readOnlyPaths = useBwrap ? [...(opts.readOnlyPaths ?? [])] : [];
  const rootArgs = useBwrap
    ? await bwrapRootArgs({ network: net.network, readOnlyPaths, etcDir })
    : [];
  const serverUser: SandboxIdentity = {
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    name: 'sandbox',
  };
  const userFiles = new Map<number, Promise<{ passwd: string; group: string }>>();
  const userFilesOf = (identity: SandboxIdentity, home: string) => {
    let files = userFiles.get(identity.uid);
    if (files === undefined) {
      files = writeUserFiles(etcDir, identity, home);
      userFiles.set(identity.uid, files);
    }
    return files;
  };
  // A sandbox of one execution belongs to it at once; a shared one per command (spawn).
  let user = switchUser ? 'a uid per execution' : `the server's user (uid ${serverUser.uid})`;
  if (shared && switchUser) {
    // Executions' directories below it are their own; the base is only traversed.
    await chown(hostWorkspace, 0, 0);
    await chmod(hostWorkspace, 0o711);
  } else if (switchUser) {
    const identity = await identities.claim(spec.executionId, hostWorkspace);
    if (identity !== undefined) user = `${identity.name} (uid ${identity.uid})`;
  }
  const running = new Set<ProcessTree>();
  const orphans = new OrphanRecords(opts.dataDir, opts.orphanKillGraceMs ?? defaultOrphanGraceMs);
  const netnsEntry: NetnsEntry | undefined =
    net.netns === undefined ? undefined : { nsenter: caps.outbound!.nsenter, path: net.netns.path };

  /** The confinement of one command, run as `identity` in `hostDir` (`insideDir` in bwrap). */
  const confinementOf = async (
    identity: SandboxIdentity | undefined,
    hostDir: string,
    insideDir: string,
    cwd: string,
  ): Promise<Confinement> => {
    if (useBwrap) {
      return {
        kind: 'bwrap',
        bwrap: caps.bwrap!,
        rootArgs,
        workspaceArgs: bwrapWorkspaceArgs({
          userFiles: await userFilesOf(identity ?? serverUser, insideDir),
          hostWorkspace: hostDir,
          inside: insideDir,
          cwd,
        }),
        network: net.network,
        asRoot: mode.asRoot,
        ...(netnsEntry !== undefined && { netns: netnsEntry }),
      };
    }
    if (mode.plainNamespaces) {
      return {
        kind: 'namespaces',
        setpriv: caps.setpriv!,
        unshare: caps.unshare!,
        network: net.network,
        ...(netnsEntry !== undefined && { netns: netnsEntry }),
        hostDir,
        hiddenTop: hiddenTopOf(hostDir) ?? '',
        cwd,
        resolvConf: net.netns === undefined ? '' : await outboundResolvConf(etcDir),
        gatewaySocket: '',
      };
    }
    return caps.setpriv !== undefined
      ? { kind: 'pdeathsig', setpriv: caps.setpriv }
      : { kind: 'none' };
  };

  const toHost = (inside: string) => hostPathOf(inside, useBwrap, hostWorkspace, opts.dataDir);

  return {
    runtime: 'local',
    isolation,
    hostWorkspace,
    workspace: useBwrap ? sandboxWorkspace : hostWorkspace,
    unenforced,
    network: net.network,
    user,
    readOnlyPaths,
    cgroupDirs: cgroup?.dirs ?? {},
    async spawn(argv, spawnOpts) {
      if (spawnOpts.image !== undefined) {
        throw Object.assign(
          new Error(
            `sidecar images are not supported by the local runtime (image ${JSON.stringify(spawnOpts.image)}); run on the docker runtime or remove 'image'`,
          ),
          { code: unsupportedCode },
        );
      }
      const command = argv[0];
      if (command === undefined || command === '') throw new Error('empty command');
      await checkExecutable(command, spawnOpts, toHost);
      // A sandbox shared by executions gets the execution from the caller.
      const executionId =
        spawnOpts.execution ?? spawnOpts.env.SWITCHYARD_EXECUTION_ID ?? spec.executionId;
      if (spawnOpts.key !== undefined) await orphans.reap(executionId, spawnOpts.key);
      const sub = shared && spawnOpts.execution !== undefined;
      const hostDir = sub ? path.join(hostWorkspace, executionId) : hostWorkspace;
      const insideDir = useBwrap
        ? sub
          ? path.posix.join(sandboxWorkspace, executionId)
          : sandboxWorkspace
        : hostDir;
      const identity = switchUser ? await identities.claim(executionId, hostDir) : undefined;
      const leaf = cgroup === undefined ? undefined : await cgroup.leaf();
      const confinement = await confinementOf(identity, hostDir, insideDir, spawnOpts.cwd);
      const access = spawnOpts.gateway;
      const gateway =
        access === undefined
          ? undefined
          : gatewayWiring(access.socket, confinement, identity !== undefined);
      if (gateway !== undefined && confinement.kind === 'bwrap')
        confinement.rootArgs = [...confinement.rootArgs, ...gateway.bwrapArgs];
      if (gateway !== undefined && confinement.kind === 'namespaces')
        confinement.gatewaySocket = access!.socket;
      const full = commandArgv({
        command: argv,
        prlimit,
        dropPrivileges: identity === undefined ? [] : dropPrivilegesArgs(caps.setpriv!, identity),
        confinement,
        ...(gateway?.forwarder !== undefined && { forwarder: gateway.forwarder }),
        ...(leaf !== undefined && { cgroupProcsFiles: leaf.procsFiles() }),
      });
      return startProcess(full, {
        cwd: useBwrap ? hostWorkspace : spawnOpts.cwd,
        // The execution id in the environment identifies orphans later (OrphanRecords.reap).
        env: {
          // The forwarder sets the base URLs itself (its port is its own).
          ...(gateway === undefined
            ? spawnOpts.env
            : withGatewayEnv(
                spawnOpts.env,
                { token: access!.token, socket: gateway.socket },
                gateway.forwarder === undefined ? undefined : { baseUrls: {} },
              )),
          SWITCHYARD_EXECUTION_ID: executionId,
        },
        leaf,
        bwrap: useBwrap,
        running,
        ...(spawnOpts.stdin === true && { stdin: true }),
        ...(spawnOpts.key !== undefined && {
          record: (pid: number, finished: Promise<unknown>) =>
            orphans.record(executionId, spawnOpts.key!, pid, finished),
        }),
      });
    },
    async destroy() {
      for (const tree of running) await terminateTree(tree, 0);
      running.clear();
      await cgroup?.remove();
      await net.netns?.destroy();
      if (!shared) identities.release(spec.executionId);
    },
  };
}

/**
 * How a command reaches the LLM gateway socket (`host`: its host path): under bubblewrap it is
 * bound at a fixed path and the forwarder (host `node`, under /usr) serves it on the command's
 * own loopback; plain as root (namespaces) the mount script binds it at the same path; a plain
 * command of the server's user uses the host path. A plain command of another user without
 * namespaces (setpriv only) cannot reach the server's data directory: it gets no gateway.
 */
function gatewayWiring(
  host: string,
  confinement: Confinement,
  otherUser: boolean,
): { socket: string; bwrapArgs: string[]; forwarder?: string[] } | undefined {
  // The forwarder needs the host's node where the sandbox sees it (bubblewrap shows /usr only).
  const node = process.execPath;
  if (confinement.kind === 'bwrap') {
    return {
      socket: sandboxGatewaySocket,
      bwrapArgs: [
        '--perms',
        '0755',
        '--dir',
        path.posix.dirname(sandboxGatewaySocket),
        '--bind',
        host,
        sandboxGatewaySocket,
      ],
      ...(node.startsWith('/usr/') && { forwarder: forwarderArgv(node, sandboxGatewaySocket) }),
    };
  }
  if (confinement.kind === 'namespaces') {
    return {
      socket: sandboxGatewaySocket,
      bwrapArgs: [],
      forwarder: forwarderArgv(node, sandboxGatewaySocket),
    };
  }
  if (otherUser) return undefined;
  return { socket: host, bwrapArgs: [], forwarder: forwarderArgv(node, host) };
}

/** `outbound` needs namespaces and pasta; without them the sandbox gets no network at all. */
async function openNetwork(
  spec: SandboxSpec,
  caps: LocalCapabilities,
  opts: LocalSandboxOptions,
  mode: Mode,
  unenforced: string[],
): Promise<{ network: NetworkMode; netns?: OutboundNamespace }> {
  if (spec.network !== 'outbound') return { network: spec.network };
  if (caps.outbound === undefined || (!mode.useBwrap && !mode.plainNamespaces)) {
    unenforced.push('outbound');
    return { network: 'none' };
  }
  const netns = await openOutbound(
    caps.outbound,
    namespaceName(opts.owner ?? 'default', spec.executionId),
    opts.egressAllow ?? [],
  );
  return { network: 'outbound', netns };
}

/**
 * Fallbacks for limits the cgroups did not take: the prlimit prefix (empty when none applies);
 * what neither bounds goes to `unenforced`.
 */
function fallbackLimits(
  spec: SandboxSpec,
  caps: LocalCapabilities,
  cgroup: ExecutionCgroup | undefined,
  mode: Mode,
  identities: IdentityAllocator,
  unenforced: string[],
): string[] {
  const enforced = cgroup?.enforced ?? new Set<string>();
  const prlimitArgs: string[] = [];
  const { cpu, memoryBytes, pids } = spec.limits;
  if (cpu !== undefined && !enforced.has('cpu')) unenforced.push('cpu');
  if (memoryBytes !== undefined && !enforced.has('memory')) {
    if (caps.prlimit === undefined) unenforced.push('memory');
    else prlimitArgs.push(`--as=${memoryBytes}`);
  }
  if (pids !== undefined && !enforced.has('pids')) {
    // RLIMIT_NPROC counts all processes of the user: it binds a uid of the execution's own
    // (or the server's user), never root.
    const perUser = mode.switchUser ? identities.policy.kind === 'range' : !mode.asRoot;
    if (caps.prlimit === undefined || !perUser) unenforced.push('pids');
    else prlimitArgs.push(`--nproc=${pids}`);
  }
  return prlimitArgs.length > 0 ? [caps.prlimit!, ...prlimitArgs, '--'] : [];
}

/** A path as the sandbox sees it, on the host (undefined when the host cannot check it). */
function hostPathOf(
  inside: string,
  bwrap: boolean,
  hostWorkspace: string,
  dataDir: string,
): string | undefined {
  if (!bwrap) return inside;
  if (isUnder(sandboxWorkspace, inside)) {
    return path.join(hostWorkspace, path.relative(sandboxWorkspace, inside));
  }
  // Paths on the sandbox's own tmpfs mounts cannot be checked from the host.
  if (isUnder('/tmp', inside) || isUnder(path.resolve(dataDir), inside)) return undefined;
  return inside;
}

function isUnder(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Rejects like `spawn` would (ENOENT/EACCES) when the command cannot be found as the sandbox sees it. */
async function checkExecutable(
  command: string,
  opts: SpawnOptions,
  toHost: (inside: string) => string | undefined,
): Promise<void> {
  const candidates = command.includes('/')
    ? [path.resolve(opts.cwd, command)]
    : (opts.env.PATH ?? '/usr/bin:/bin')
        .split(':')
        .filter((dir) => dir !== '')
        .map((dir) => path.join(path.resolve(opts.cwd, dir), command));
  let denied = false;
  for (const inside of candidates) {
    const host = toHost(inside);
    if (host === undefined) return;
    try {
      await access(host, fsConstants.X_OK);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES') denied = true;
    }
  }
  const code = denied ? 'EACCES' : 'ENOENT';
  throw Object.assign(new Error(`spawn ${command} ${code}`), { code, path: command });
}
