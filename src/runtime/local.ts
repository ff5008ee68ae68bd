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
 * Every process starts through one path: local-sandbox.ts spawns the argv local-argv.ts builds,
 * `[enter cgroup] [bwrap …] [prlimit …] command` with the parts that apply here
 * (local-capabilities.ts probes which do).
 */
import path from 'node:path';
import { reapCgroups } from './cgroups.ts';
import { IdentityAllocator, type IdentityPolicy } from './identity.ts';
import { type LocalCapabilities, type LocalIsolation, probeLocal } from './local-capabilities.ts';
import { type LocalSandbox, createSandbox } from './local-sandbox.ts';
import { reapNamespaces } from './outbound.ts';
import type { EgressAllowEntry } from '../egress/ranges.ts';
import type { Runtime, SandboxSpec } from './types.ts';

export type { LocalIsolation } from './local-capabilities.ts';
export { type LocalSandbox } from './local-sandbox.ts';

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

export interface LocalRuntime extends Runtime {
  readonly name: 'local';
  create(spec: SandboxSpec): Promise<LocalSandbox>;
  capabilities(): Promise<LocalCapabilities>;
}

/** Directory under the workspace for Switchyard's own files (pid records, output files). */
export const stateDirName = '.switchyard';
const defaultIdentityPolicy: IdentityPolicy = {
  kind: 'range',
  first: 3_000_000,
  last: 3_999_999,
};

export function createLocalRuntime(opts: LocalRuntimeOptions): LocalRuntime {
  const isolation = opts.isolation ?? 'auto';
  const cgroupMode = opts.cgroups ?? 'auto';
  let probed: Promise<LocalCapabilities> | undefined;
  const etcDir = path.join(path.resolve(opts.dataDir), 'sandbox-etc');
  const capabilities = () => (probed ??= probeLocal(isolation, cgroupMode, etcDir));
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
