/**
 * The argv a local sandbox runs a command with, built from what applies here (pure: options in,
 * argv out; spawning is local-sandbox.ts's):
 *
 *   [enter cgroup] [nsenter] [bwrap … | setpriv --pdeathsig [nsenter] unshare … sh mount-script]
 *   [setpriv --reuid …] [gateway forwarder] [prlimit …] command
 */
import type { NetworkMode } from '../definition/model.ts';
import { plainMountScript } from './local-root.ts';

/**
 * Moves the shell into the cgroups named before `--`, then execs the rest: everything the
 * command starts is born inside, so nothing escapes between spawn and placement.
 */
const enterCgroupScript =
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** bwrap's namespaces; a root server needs no user namespace (it drops to the sandbox user). */
export function namespaceArgs(network: NetworkMode, asRoot: boolean): string[] {
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
export function plainNamespaceArgs(network: NetworkMode): string[] {
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

/** Joining an `outbound` sandbox's network namespace. */
export interface NetnsEntry {
  nsenter: string;
  /** The namespace's file (`/run/netns/<name>`). */
  path: string;
}

/** How the command is confined: bubblewrap, unshare's namespaces (plain as root), or neither. */
export type Confinement =
  | {
      kind: 'bwrap';
      bwrap: string;
      rootArgs: readonly string[];
      /** bwrapWorkspaceArgs for this command (its workspace, cwd and user files). */
      workspaceArgs: readonly string[];
      network: NetworkMode;
      asRoot: boolean;
      netns?: NetnsEntry;
    }
  | {
      kind: 'namespaces';
      setpriv: string;
      unshare: string;
      network: NetworkMode;
      netns?: NetnsEntry;
      /** plainMountScript's arguments: the workspace, the host top to hide, the cwd, resolv.conf, the gateway socket. */
      hostDir: string;
      hiddenTop: string;
      cwd: string;
      resolvConf: string;
      /** Host path of the LLM gateway socket to bind in ('' for none). */
      gatewaySocket: string;
    }
  /** No namespaces: at least the command itself dies with the server. */
  | { kind: 'pdeathsig'; setpriv: string }
  | { kind: 'none' };

export interface CommandArgvOptions {
  command: readonly string[];
  /** `[prlimit, --as=…, --nproc=…, --]`, or empty. */
  prlimit: readonly string[];
  /** dropPrivilegesArgs for the sandbox user, or empty. */
  dropPrivileges: readonly string[];
  /** Runs the command behind the gateway forwarder (gateway-forwarder.ts), as the sandbox user. */
  forwarder?: readonly string[];
  confinement: Confinement;
  /** The process's cgroup leaf's `cgroup.procs` files, when it has one. */
  cgroupProcsFiles?: readonly string[];
}

export function commandArgv(o: CommandArgvOptions): string[] {
  // The forwarder is not bound by prlimit's address-space cap (V8 reserves more than it uses).
  let full = [...o.dropPrivileges, ...(o.forwarder ?? []), ...o.prlimit, ...o.command];
  const c = o.confinement;
  const nsenter = (netns: NetnsEntry | undefined) =>
    netns === undefined ? [] : [netns.nsenter, `--net=${netns.path}`, '--'];
  if (c.kind === 'bwrap') {
    full = [
      ...nsenter(c.netns),
      c.bwrap,
      ...c.rootArgs,
      ...c.workspaceArgs,
      ...namespaceArgs(c.network, c.asRoot),
      '--',
      ...full,
    ];
  } else if (c.kind === 'namespaces') {
    full = [
      c.setpriv,
      '--pdeathsig',
      'SIGKILL',
      '--',
      ...nsenter(c.netns),
      c.unshare,
      ...plainNamespaceArgs(c.network),
      '--',
      '/bin/sh',
      '-c',
      plainMountScript,
      'switchyard-plain',
      c.hostDir,
      c.hiddenTop,
      c.cwd,
      c.resolvConf,
      c.gatewaySocket,
      ...full,
    ];
  } else if (c.kind === 'pdeathsig') {
    full = [c.setpriv, '--pdeathsig', 'SIGKILL', '--', ...full];
  }
  if (o.cgroupProcsFiles !== undefined) {
    full = [
      '/bin/sh',
      '-c',
      enterCgroupScript,
      'switchyard-enter',
      ...o.cgroupProcsFiles,
      '--',
      ...full,
    ];
  }
  return full;
}
