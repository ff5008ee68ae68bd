import { existsSync, readFileSync } from 'node:fs';
import { delay } from './engine.ts';
import { oomCounterFiles } from './scripts.ts';

/**
 * The container's processes as this host sees them, when the engine runs on this host (its
 * cgroup and /proc are ours). Signalling from here needs no new process in the container, which a
 * full pids limit (a fork bomb) refuses or delays for seconds.
 */
export class HostView {
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
