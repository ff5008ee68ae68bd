/**
 * What the host offers the local runtime, probed once per runtime: bubblewrap (tried once in the
 * sandboxes' own minimal root), unshare for plain mode as root, prlimit, setpriv, what `outbound`
 * needs, and the cgroup hierarchy.
 */
import { execFile } from 'node:child_process';
import { type CgroupHost, detectCgroups } from './cgroup-detect.ts';
import { findExecutable } from './executables.ts';
import { namespaceArgs, plainNamespaceArgs } from './local-argv.ts';
import { bwrapRootArgs } from './local-root.ts';
import { type OutboundTools, probeOutbound } from './outbound.ts';

export type LocalIsolation = 'auto' | 'bwrap' | 'plain' | 'none';

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

export async function probeLocal(
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
