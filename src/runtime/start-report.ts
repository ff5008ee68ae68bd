/**
 * What the server tells the operator once at start (docs/operations.md "What the server logs at
 * start"): the runtime new executions get by default, how the local runtime isolates commands,
 * and the limits it cannot enforce here, with the reason. Without it a missing bubblewrap or
 * cgroup delegation shows only in an execution's detail (`environment.unenforced`).
 */
import type { LocalCapabilities } from './local-capabilities.ts';
import type { LocalIsolation } from './local.ts';

export interface RuntimeReport {
  /** The runtime executions get when their workflow does not choose one. */
  runtime: 'local' | 'docker';
  /** Why `auto` is not docker, or why `docker` cannot be had. */
  dockerProblem?: string;
  /** The local runtime's isolation: `bubblewrap`, `plain+namespaces`, `plain` or `none`. */
  isolation: string;
  /** Limits and protections the local runtime cannot give here. */
  unenforced: string[];
  /** Why, one reason per probe that failed. */
  reasons: string[];
}

export interface ReportInput {
  defaultRuntime: 'auto' | 'local' | 'docker';
  dockerAvailable: boolean;
  dockerSocket: string;
  localIsolation: LocalIsolation;
  caps: LocalCapabilities;
  asRoot: boolean;
}

export function runtimeReport(input: ReportInput): RuntimeReport {
  const { caps } = input;
  const runtime =
    input.defaultRuntime === 'docker' || (input.defaultRuntime === 'auto' && input.dockerAvailable)
      ? 'docker'
      : 'local';
  const report: RuntimeReport = {
    runtime,
    isolation: 'none',
    unenforced: [],
    reasons: [],
  };
  if (!input.dockerAvailable && input.defaultRuntime !== 'local')
    report.dockerProblem = `no Docker engine answers on ${input.dockerSocket}`;
  // A root server drops commands to a sandbox user (setpriv); see local-sandbox.ts.
  const switchUser = input.asRoot && input.localIsolation !== 'none' && caps.setpriv !== undefined;
  const plainNamespaces = caps.bwrap === undefined && switchUser && caps.unshare !== undefined;
  report.isolation =
    input.localIsolation === 'none'
      ? 'none'
      : caps.bwrap !== undefined
        ? 'bubblewrap'
        : plainNamespaces
          ? 'plain+namespaces'
          : 'plain';
  const unenforced = (what: string, why: string | undefined) => {
    report.unenforced.push(what);
    if (why !== undefined && !report.reasons.includes(why)) report.reasons.push(why);
  };
  if (caps.bwrap === undefined)
    unenforced('isolation', `bubblewrap: ${caps.bwrapProblem ?? 'unavailable'}`);
  if (caps.bwrap === undefined && !plainNamespaces)
    unenforced('network', caps.unshareProblem ?? (input.asRoot ? undefined : 'not root'));
  if (caps.outbound === undefined)
    unenforced('outbound', `network: outbound: ${caps.outboundProblem ?? 'unavailable'}`);
  const cgroupWhy =
    caps.cgroups === undefined
      ? `cgroups: ${caps.cgroupProblem ?? 'unavailable'}`
      : caps.cgroups.problems.join('; ') || undefined;
  const bases = caps.cgroups?.bases ?? {};
  if (bases.cpu === undefined) unenforced('cpu', cgroupWhy);
  // Without a memory cgroup, prlimit bounds each process's address space instead.
  if (bases.memory === undefined && caps.prlimit === undefined)
    unenforced('memory', `${cgroupWhy ?? 'no memory cgroup'}; prlimit is not installed`);
  // RLIMIT_NPROC counts a user's processes: it binds the sandbox user or a non-root server's.
  if (bases.pids === undefined && (caps.prlimit === undefined || (input.asRoot && !switchUser)))
    unenforced('pids', cgroupWhy);
  if (!switchUser)
    unenforced(
      'identity',
      input.asRoot
        ? input.localIsolation === 'none'
          ? 'isolation: none'
          : 'setpriv is not installed'
        : 'the server is not root: commands run as its user',
    );
  return report;
}

/** The report as one log line. */
export function reportLine(r: RuntimeReport): string {
  const runtime = `runtime: ${r.runtime}${r.dockerProblem !== undefined ? ` (docker: ${r.dockerProblem})` : ''}`;
  const local = `local isolation: ${r.isolation}`;
  const limits =
    r.unenforced.length === 0
      ? 'every limit is enforced'
      : `not enforced on the local runtime: ${r.unenforced.join(', ')} (${r.reasons.join('; ')})`;
  return `${runtime}; ${local}; ${limits}`;
}
