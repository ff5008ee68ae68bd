/**
 * The local runtime (DESIGN §6): processes on this host, one workspace directory per execution.
 *
 * - Identity (identity.ts): a root server runs every command as an unprivileged uid of the
 *   execution's own (or the configured `sandboxUser`), owner of the 0700 workspace.
 * - Isolation: with bubblewrap, every process runs in its own mount, pid, ipc, uts and (unless
 *   `network: host`) net namespaces (plus a user namespace when the server is not root) on a
 *   minimal read-only root (local-root.ts), with the workspace the only writable place, at
 *   `/workspace`. Without bwrap, a root server still puts each command in new pid, mount and net
 *   namespaces with host sockets and other workspaces hidden (local-root.ts). Either way the
 *   command dies with the server (bwrap `--die-with-parent`; plain: a parent-death signal on the
 *   namespace's parent, whose death kills every process in it).
 * - Limits: per-execution cgroups (v1/hybrid or v2, see cgroups.ts) for cpu, memory and pids.
 *   Without them, `prlimit` bounds each process's address space (memory) and, for non-root
 *   servers, the user's process count (pids); cpu cannot be bounded then.
 * - `unenforced` names what was asked for and is not enforced, for the execution detail.
 *
 * Every process starts through one path: `spawn` builds `[enter cgroup] [bwrap …] [prlimit …]
 * command` and the parts that apply here.
 */
import { type ChildProcess, execFile, spawn as spawnChild } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type CgroupController,
  type CgroupHost,
  type CgroupLeaf,
  ExecutionCgroup,
  detectCgroups,
  reapCgroups,
} from './cgroups.ts';
import {
  IdentityAllocator,
  type IdentityPolicy,
  type SandboxIdentity,
  dropPrivilegesArgs,
  writeUserFiles,
} from './identity.ts';
import {
  bwrapRootArgs,
  bwrapWorkspaceArgs,
  hiddenTopOf,
  outboundResolvConf,
  plainMountScript,
  sandboxWorkspace,
} from './local-root.ts';
import { findExecutable } from './executables.ts';
import {
  type OutboundNamespace,
  type OutboundTools,
  openOutbound,
  namespaceName,
  probeOutbound,
  reapNamespaces,
} from './outbound.ts';
import {
  type ProcessTree,
  groupTree,
  isPidNamespaceInit,
  isProcessAlive,
  processAndDescendants,
  signalProcess,
  terminateGroup,
  terminateTree,
} from './process-tree.ts';
import type { NetworkMode } from '../definition/model.ts';
import type { EgressAllowEntry } from '../egress/ranges.ts';
import type {
  ProcessEnd,
  Runtime,
  Sandbox,
  SandboxProcess,
  SandboxSpec,
  SpawnOptions,
} from './types.ts';

export type LocalIsolation = 'auto' | 'bwrap' | 'plain' | 'none';

export interface LocalRuntimeOptions {
  /** The server's data directory: hidden from sandboxed processes. */
  dataDir: string;
  /**
   * `auto` (default): bwrap when it works here; `bwrap`: required (create fails without);
   * `plain`: never bwrap (a root server still switches users and namespaces); `none`: commands
   * run as the server's user and see the host as it does (development, tests that read host files).
   */
  isolation?: LocalIsolation;
  /** `auto` (default): per-execution cgroups when the host lets the server create them; `off`: never. */
  cgroups?: 'auto' | 'off';
  /**
   * Names the servers that share one database (a hash of it): cgroups carry it, and `reap` only
   * touches cgroups of its own owner, never those of another server (or test) on the same host.
   */
  owner?: string;
  /** Grace between SIGTERM and SIGKILL for a process a dead server left running (spawn `key`). Default 2000. */
  orphanKillGraceMs?: number;
  /** Who commands run as (see identity.ts); default: a uid per execution when the server is root. */
  identity?: IdentityPolicy;
  /** Extra host paths bound read-only into bubblewrap sandboxes (`sandboxReadOnlyPaths`). */
  readOnlyPaths?: readonly string[];
  /** What `outbound` sandboxes may reach although it is refused by default (`egressAllow`). */
  egressAllow?: readonly EgressAllowEntry[];
}

/** What the host offers the local runtime (probed once per runtime). */
export interface LocalCapabilities {
  /** Path of a bwrap that can create the namespaces, or undefined (see `bwrapProblem`). */
  bwrap?: string;
  bwrapProblem?: string;
  cgroups?: CgroupHost;
  cgroupProblem?: string;
  /** Path of `prlimit`, when installed. */
  prlimit?: string;
  /** Path of `setpriv`, when installed (drops to the sandbox user; parent-death signal). */
  setpriv?: string;
  /** Path of `unshare` when it can create pid, mount and net namespaces here (plain mode as root). */
  unshare?: string;
  unshareProblem?: string;
  /** What `network: outbound` needs (pasta, ip, nsenter, iptables), when all of it is here. */
  outbound?: OutboundTools;
  outboundProblem?: string;
}

export interface LocalSandbox extends Sandbox {
  readonly runtime: 'local';
  /** The execution's cgroup directories by controller (empty without cgroups), for accounting. */
  readonly cgroupDirs: Readonly<Partial<Record<CgroupController, string>>>;
}

export interface LocalRuntime extends Runtime {
  readonly name: 'local';
  create(spec: SandboxSpec): Promise<LocalSandbox>;
  capabilities(): Promise<LocalCapabilities>;
}

export { sandboxWorkspace };
/** Directory under the workspace for Switchyard's own files (pid records, output files). */
export const stateDirName = '.switchyard';
/** Thrown by `spawn` when asked for something this runtime does not do (a sidecar `image`). */
export const unsupportedCode = 'ERR_NODE_UNSUPPORTED';
const defaultOrphanGraceMs = 2000;
/** Leaders this server started and that still run: never mistaken for a dead server's orphans. */
const ownLeaders = new Set<number>();
/**
 * Moves the shell into the cgroups named before `--`, then execs the rest: everything the
 * command starts is born inside, so nothing escapes between spawn and placement.
 */
const defaultIdentityPolicy: IdentityPolicy = {
  kind: 'range',
  first: 3_000_000,
  last: 3_999_999,
};
const enterCgroupScript =
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

export function createLocalRuntime(opts: LocalRuntimeOptions): LocalRuntime {
  const isolation = opts.isolation ?? 'auto';
  const cgroupMode = opts.cgroups ?? 'auto';
  let probed: Promise<LocalCapabilities> | undefined;
  const etcDir = path.join(path.resolve(opts.dataDir), 'sandbox-etc');
  const capabilities = () => (probed ??= probe(isolation, cgroupMode, etcDir));
  const identities = new IdentityAllocator(
    isolation === 'none' || process.getuid?.() !== 0
      ? { kind: 'server' }
      : (opts.identity ?? defaultIdentityPolicy),
  );

  return {
    name: 'local',
    available: () => Promise.resolve(true),
    capabilities,
    async create(spec) {
      const caps = await capabilities();
      if (isolation === 'bwrap' && caps.bwrap === undefined) {
        throw new Error(`bubblewrap isolation was required: ${caps.bwrapProblem ?? 'unavailable'}`);
      }
      return createSandbox(spec, caps, opts, identities);
    },
    async reap(alive) {
      const caps = await capabilities();
      const owner = opts.owner ?? 'default';
      return [
        ...(caps.cgroups === undefined ? [] : await reapCgroups(caps.cgroups, alive, owner)),
        ...(caps.outbound === undefined ? [] : await reapNamespaces(caps.outbound, owner, alive)),
      ];
    },
  };
}

async function probe(
  isolation: LocalIsolation,
  cgroupMode: 'auto' | 'off',
  etcDir: string,
): Promise<LocalCapabilities> {
  const caps: LocalCapabilities = {};
  const prlimit = await findExecutable('prlimit', process.env.PATH);
  if (prlimit !== undefined) caps.prlimit = prlimit;
  const setpriv = await findExecutable('setpriv', process.env.PATH);
  if (setpriv !== undefined) caps.setpriv = setpriv;
  const asRoot = process.getuid?.() === 0;
  if (isolation === 'plain' || isolation === 'none') {
    caps.bwrapProblem = `isolation: ${isolation}`;
  } else {
    const bwrap = await findExecutable('bwrap', process.env.PATH);
    if (bwrap === undefined) {
      caps.bwrapProblem = 'bwrap is not installed';
    } else {
      // The sandboxes' own minimal root, not `--ro-bind / /`: binding every host mount
      // recursively fails while dockerd is setting up a container's overlay.
      const rootArgs = await bwrapRootArgs({ network: 'none', readOnlyPaths: [], etcDir });
      // User namespaces may be disabled (sysctl, seccomp in a container): try once.
      const problem = await new Promise<string | undefined>((resolve) => {
        execFile(
          bwrap,
          [...namespaceArgs('none', asRoot), ...rootArgs, '--', 'true'],
          { timeout: 10_000 },
          (error, _stdout, stderr) =>
            resolve(
              error === null
                ? undefined
                : `bwrap does not work here: ${stderr.trim() || error.message}`,
            ),
        );
      });
      if (problem === undefined) caps.bwrap = bwrap;
      else caps.bwrapProblem = problem;
    }
  }
  if (asRoot && isolation !== 'none') {
    const unshare = await findExecutable('unshare', process.env.PATH);
    if (unshare === undefined) {
      caps.unshareProblem = 'unshare is not installed';
    } else {
      const problem = await new Promise<string | undefined>((resolve) => {
        execFile(
          unshare,
          [...plainNamespaceArgs('none'), '--', 'mount', '-t', 'tmpfs', 'probe', '/run'],
          { timeout: 10_000 },
          (error, _stdout, stderr) =>
            resolve(
              error === null
                ? undefined
                : `unshare does not work here: ${stderr.trim() || error.message}`,
            ),
        );
      });
      if (problem === undefined) caps.unshare = unshare;
      else caps.unshareProblem = problem;
    }
  }
  if (asRoot && isolation !== 'none') {
    const outbound = await probeOutbound();
    if (outbound.tools !== undefined) caps.outbound = outbound.tools;
    else caps.outboundProblem = outbound.problem ?? 'unavailable';
  } else {
    caps.outboundProblem = asRoot ? `isolation: ${isolation}` : 'the server is not root';
  }
  if (cgroupMode === 'off') {
    caps.cgroupProblem = 'cgroups: off';
  } else {
    const host = await detectCgroups();
    if ('unavailable' in host) caps.cgroupProblem = host.unavailable;
    else caps.cgroups = host;
  }
  return caps;
}

/** bwrap's namespaces; a root server needs no user namespace (it drops to the sandbox user). */
function namespaceArgs(network: NetworkMode, asRoot: boolean): string[] {
  return [
    ...(asRoot ? [] : ['--unshare-user']),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    ...(network === 'none' ? ['--unshare-net'] : []),
    '--die-with-parent',
  ];
}

/**
 * unshare's namespaces for plain mode as root; `--kill-child` ends the namespace with unshare.
 * An `outbound` command has already joined its sandbox's namespace (nsenter) and keeps it.
 */
function plainNamespaceArgs(network: NetworkMode): string[] {
  return [
    '--pid',
    '--fork',
    '--kill-child=SIGKILL',
    '--mount-proc',
    '--propagation',
    'private',
    ...(network === 'none' ? ['--net'] : []),
  ];
}

async function createSandbox(
  spec: SandboxSpec,
  caps: LocalCapabilities,
  opts: LocalRuntimeOptions,
  identities: IdentityAllocator,
): Promise<LocalSandbox> {
  const hostWorkspace = path.resolve(spec.hostWorkspace);
  await mkdir(hostWorkspace, { recursive: true });
  const useBwrap = caps.bwrap !== undefined;
  const asRoot = process.getuid?.() === 0;
  // A root server drops every command to the sandbox user (setpriv); plain mode as root also
  // gets its own pid, mount and net namespaces (unshare).
  const switchUser = identities.enforced && caps.setpriv !== undefined;
  const plainNamespaces = !useBwrap && switchUser && caps.unshare !== undefined;
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
  const enforced = cgroup?.enforced ?? new Set<string>();
  const unenforced: string[] = [];
  if (!useBwrap) unenforced.push('isolation');
  if (!useBwrap && !plainNamespaces && spec.network !== 'host') unenforced.push('network');
  // `outbound` needs namespaces and pasta; without them the sandbox gets no network at all.
  let network: NetworkMode = spec.network;
  let netns: OutboundNamespace | undefined;
  if (network === 'outbound') {
    if (caps.outbound === undefined || (!useBwrap && !plainNamespaces)) {
      network = 'none';
      unenforced.push('outbound');
    } else {
      try {
        netns = await openOutbound(
          caps.outbound,
          namespaceName(opts.owner ?? 'default', spec.executionId),
          opts.egressAllow ?? [],
        );
      } catch (error) {
        await cgroup?.remove();
        throw error;
      }
    }
  }
  if (!switchUser) unenforced.push('identity');

  // Fallbacks for limits the cgroups did not take.
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
    const perUser = switchUser ? identities.policy.kind === 'range' : !asRoot;
    if (caps.prlimit === undefined || !perUser) unenforced.push('pids');
    else prlimitArgs.push(`--nproc=${pids}`);
  }
  const prefix = prlimitArgs.length > 0 ? [caps.prlimit!, ...prlimitArgs, '--'] : [];
  const isolation = [
    useBwrap ? 'bwrap' : plainNamespaces ? 'plain+namespaces' : 'plain',
    ...(cgroup === undefined ? [] : [`cgroup-v${cgroup.host.version}`]),
    ...(prefix.length > 0 ? ['prlimit'] : []),
  ].join('+');
  const workspace = useBwrap ? sandboxWorkspace : hostWorkspace;
  const etcDir = path.join(path.resolve(opts.dataDir), 'sandbox-etc');
  const readOnlyPaths = useBwrap ? [...(opts.readOnlyPaths ?? [])] : [];
  const rootArgs = useBwrap ? await bwrapRootArgs({ network, readOnlyPaths, etcDir }) : [];
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
  const orphanGraceMs = opts.orphanKillGraceMs ?? defaultOrphanGraceMs;

  const toHost = (inside: string): string | undefined => {
    if (!useBwrap) return inside;
    if (isUnder(sandboxWorkspace, inside)) {
      return path.join(hostWorkspace, path.relative(sandboxWorkspace, inside));
    }
    // Paths on the sandbox's own tmpfs mounts cannot be checked from the host.
    if (isUnder('/tmp', inside) || isUnder(path.resolve(opts.dataDir), inside)) return undefined;
    return inside;
  };

  // Kept where no sandbox can reach (the server writes them as root): the data directory.
  const pidFile = (executionId: string, key: string) =>
    path.join(
      path.resolve(opts.dataDir),
      'sandbox-state',
      `pgid-${`${executionId}-${key}`.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
    );

  /**
   * A server that died mid-command may leave its plain process group running (bwrap sandboxes die
   * with their parent). Before the same key runs again the group is stopped, so the old attempt
   * cannot keep writing to the workspace. It is only signalled when it still belongs to this
   * execution (its leader's environment names it), so a reused pid is never hit.
   */
  const reapOrphan = async (executionId: string, key: string) => {
    const file = pidFile(executionId, key);
    let pgid: number;
    try {
      pgid = Number((await readFile(file, 'utf8')).trim());
    } catch {
      return;
    }
    // Another process of this server under the same key (map items share node ids) is no orphan.
    if (!Number.isInteger(pgid) || pgid <= 1 || ownLeaders.has(pgid)) return;
    await rm(file, { force: true });
    let environ = '';
    try {
      environ = await readFile(`/proc/${pgid}/environ`, 'utf8');
    } catch {
      return;
    }
    if (!environ.split('\0').includes(`SWITCHYARD_EXECUTION_ID=${executionId}`)) return;
    await terminateGroup(pgid, orphanGraceMs);
  };

  const sandbox: LocalSandbox = {
    runtime: 'local',
    isolation,
    hostWorkspace,
    workspace,
    unenforced,
    network,
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
      if (spawnOpts.key !== undefined) await reapOrphan(executionId, spawnOpts.key);
      const sub = shared && spawnOpts.execution !== undefined;
      const hostDir = sub ? path.join(hostWorkspace, executionId) : hostWorkspace;
      const insideDir = useBwrap
        ? sub
          ? path.posix.join(sandboxWorkspace, executionId)
          : sandboxWorkspace
        : hostDir;
      const identity = switchUser ? await identities.claim(executionId, hostDir) : undefined;

      const leaf = cgroup === undefined ? undefined : await cgroup.leaf();
      let full = [...prefix, ...argv];
      if (identity !== undefined) full = [...dropPrivilegesArgs(caps.setpriv!, identity), ...full];
      if (useBwrap) {
        const files = await userFilesOf(identity ?? serverUser, insideDir);
        full = [
          caps.bwrap!,
          ...rootArgs,
          ...bwrapWorkspaceArgs({
            userFiles: files,
            hostWorkspace: hostDir,
            inside: insideDir,
            cwd: spawnOpts.cwd,
          }),
          ...namespaceArgs(network, asRoot),
          '--',
          ...full,
        ];
        if (netns !== undefined)
          full = [caps.outbound!.nsenter, `--net=${netns.path}`, '--', ...full];
      } else if (plainNamespaces) {
        full = [
          caps.setpriv!,
          '--pdeathsig',
          'SIGKILL',
          '--',
          ...(netns === undefined ? [] : [caps.outbound!.nsenter, `--net=${netns.path}`, '--']),
          caps.unshare!,
          ...plainNamespaceArgs(network),
          '--',
          '/bin/sh',
          '-c',
          plainMountScript,
          'switchyard-plain',
          hostDir,
          hiddenTopOf(hostDir) ?? '',
          spawnOpts.cwd,
          netns === undefined ? '' : await outboundResolvConf(etcDir),
          ...full,
        ];
      } else if (caps.setpriv !== undefined) {
        // No namespaces: at least the command itself dies with the server.
        full = [caps.setpriv, '--pdeathsig', 'SIGKILL', '--', ...full];
      }
      if (leaf !== undefined) {
        full = [
          '/bin/sh',
          '-c',
          enterCgroupScript,
          'switchyard-enter',
          ...leaf.procsFiles(),
          '--',
          ...full,
        ];
      }
      // The execution id in the environment identifies orphans later (see reapOrphan).
      const env = { ...spawnOpts.env, SWITCHYARD_EXECUTION_ID: executionId };
      let child: ChildProcess;
      try {
        child = spawnChild(full[0]!, full.slice(1), {
          cwd: useBwrap ? hostWorkspace : spawnOpts.cwd,
          env,
          // Its own session and process group: one kill(-pgid) reaches a plain command's tree.
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (error) {
        leaf?.removeIfEmpty();
        throw error;
      }
      const exited = new Promise<ProcessEnd>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      const spawnError = await new Promise<Error | undefined>((resolve) => {
        child.once('spawn', () => resolve(undefined));
        child.once('error', resolve);
      });
      if (spawnError !== undefined) {
        leaf?.removeIfEmpty();
        throw spawnError;
      }
      // Later 'error' events (none are expected once spawned) must not crash the server.
      child.on('error', () => {});
      const pid = child.pid!;
      const tree = treeFor(pid, leaf, useBwrap);
      ownLeaders.add(pid);
      running.add(tree);

      let oomKills = 0;
      let done = false;
      const finished = exited.then((end) => {
        done = true;
        ownLeaders.delete(pid);
        oomKills = leaf?.oomKills() ?? 0;
        if (!tree.isAlive()) {
          running.delete(tree);
          leaf?.removeIfEmpty();
        }
        return end;
      });
      if (spawnOpts.key !== undefined) {
        const file = pidFile(executionId, spawnOpts.key);
        void mkdir(path.dirname(file), { recursive: true })
          .then(() => writeFile(file, `${pid}\n`))
          .catch(() => {})
          .then(() => finished)
          .then(() => rm(file, { force: true }))
          .catch(() => {});
      }

      const handle: SandboxProcess = {
        pid,
        stdout: child.stdout!,
        stderr: child.stderr!,
        exited: finished,
        async terminate(graceMs) {
          await terminateTree(tree, graceMs);
          if (done && !tree.isAlive()) {
            running.delete(tree);
            leaf?.removeIfEmpty();
          }
        },
        leftovers: () => Promise.resolve(tree.isAlive()),
        oomKilled: async () => {
          await finished;
          return oomKills > 0;
        },
      };
      return handle;
    },
    async destroy() {
      for (const tree of running) await terminateTree(tree, 0);
      running.clear();
      await cgroup?.remove();
      await netns?.destroy();
      if (!shared) identities.release(spec.executionId);
    },
  };
  return sandbox;
}

/**
 * The set `terminate` and `leftovers` act on. With a cgroup: its members (complete whatever the
 * processes do). Under bwrap without one: the outer bwrap and its descendants (the pid namespace
 * keeps orphans below its init). Plain: the process group. Under bwrap SIGTERM skips the outer
 * bwrap, which would die of it and take the sandbox down with SIGKILL before the grace period.
 */
function treeFor(pid: number, leaf: CgroupLeaf | undefined, bwrap: boolean): ProcessTree {
  if (leaf === undefined && !bwrap) return groupTree(pid);
  // Under bwrap the pid namespace's init outlives the command only while the kernel tears the
  // namespace down (and kills the rest with it): it is not a process the command left running.
  const all = () => (leaf === undefined ? processAndDescendants(pid) : leaf.members());
  const members = () => (bwrap ? all().filter((p) => !isPidNamespaceInit(p)) : all());
  return {
    isAlive: () => members().length > 0,
    signal(signal) {
      if (signal === 'SIGKILL' && leaf?.killAll() === true) return true;
      let sent = false;
      for (const member of members()) {
        if (signal === 'SIGTERM' && bwrap && member === pid) continue;
        sent = signalProcess(member, signal) || sent;
      }
      return sent || (signal === 'SIGTERM' && isProcessAlive(pid));
    },
  };
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
