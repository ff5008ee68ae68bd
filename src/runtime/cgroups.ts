/**
 * Per-execution cgroups for the local runtime: cpu, memory and pids limits, OOM accounting, and a
 * membership list that names every process a command started (no process leaves a cgroup by
 * forking, daemonizing or changing its process group).
 *
 * Layout, under the cgroup the server itself runs in (per controller on v1, since each v1
 * hierarchy places the server separately — e.g. `memory:/process_api/<id>` but `pids:/`):
 *
 *   <server cgroup>/switchyard/<executionId>/         limits of the execution (shared by its nodes)
 *   <server cgroup>/switchyard/<executionId>/<leaf>   one process (and its descendants) each
 *
 * One leaf per spawned process attributes an OOM kill to the node that suffered it (the victim's
 * own cgroup counts it) and lets one node be stopped without touching its parallel siblings.
 *
 * v2 (`cgroup2` holds the controllers): one hierarchy; `cpu.max`, `memory.max`,
 * `memory.swap.max`, `pids.max`, `memory.events` and `cgroup.kill`. v1/hybrid (controllers
 * mounted one by one under /sys/fs/cgroup/<name>): `cpu.cfs_quota_us`, `memory.limit_in_bytes`
 * (+ `memory.memsw.limit_in_bytes`), `pids.max`, `memory.oom_control`.
 */
import { randomUUID } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CgroupController, type CgroupHost, v2Controllers } from './cgroup-detect.ts';
import { isProcessAlive, signalProcess } from './process-tree.ts';
import type { ResourceLimits } from './types.ts';

export { type CgroupController, type CgroupHost } from './cgroup-detect.ts';

/** The limits cgroups enforce, named as in `Sandbox.unenforced`. */
export type CgroupLimit = 'cpu' | 'memory' | 'pids';

const cfsPeriodUs = 100_000;
/** Most time spent SIGKILLing the members of a cgroup that is being removed. */
const removeKillWaitMs = 5000;

/** A cgroup directory name for an execution id (ids are `[A-Za-z0-9_-]` already; others are mapped). */
/**
 * `<execId>~<instance>`: each sandbox has cgroups of its own, so a sandbox being destroyed (an
 * execution that just ended) never touches the one a retry creates for the same execution, and
 * two servers on one host never share one.
 */
function cgroupName(
  executionId: string,
  owner = 'default',
  instance: string = randomBytes(4).toString('hex'),
): string {
  return `${safe(owner)}~${safe(executionId)}~${instance}`;
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** The owner and execution id of a cgroup directory name (undefined for other names). */
function parseCgroupName(name: string): { owner: string; executionId: string } | undefined {
  const parts = name.split('~');
  return parts.length === 3 ? { owner: parts[0]!, executionId: parts[1]! } : undefined;
}

/** The cgroups of one execution: its limits, and a leaf per process. */
export class ExecutionCgroup {
  private constructor(
    readonly host: CgroupHost,
    /** The execution's directory per controller. */
    readonly dirs: Partial<Record<CgroupController, string>>,
    /** Limits written successfully. */
    readonly enforced: ReadonlySet<CgroupLimit>,
    /** Why a limit that was asked for could not be written. */
    readonly problems: readonly string[],
  ) {}

  /** Creates (or reuses, after a restart) the execution's cgroups and writes `limits`. */
  static async create(
    host: CgroupHost,
    executionId: string,
    limits: ResourceLimits,
    owner = 'default',
  ): Promise<ExecutionCgroup> {
    const dirs: Partial<Record<CgroupController, string>> = {};
    const name = cgroupName(executionId, owner);
    for (const [controller, base] of Object.entries(host.bases) as [CgroupController, string][]) {
      const dir = path.join(base, name);
      await mkdir(dir, { recursive: true });
      dirs[controller] = dir;
    }
    const enforced = new Set<CgroupLimit>();
    const problems: string[] = [];
    const attempt = async (limit: CgroupLimit, write: () => Promise<void>) => {
      try {
        await write();
        enforced.add(limit);
      } catch (error) {
        problems.push(`cannot set the ${limit} limit: ${(error as Error).message}`);
      }
    };
    if (host.version === 2) {
      const dir = dirs.memory ?? dirs.cpu ?? dirs.pids;
      if (dir !== undefined) {
        // Leaves get the controllers' files (memory.events for OOM kills, cpu.stat).
        for (const c of v2Controllers) {
          if (host.bases[c] !== undefined) {
            await writeFile(path.join(dir, 'cgroup.subtree_control'), `+${c}`).catch(() => {});
          }
        }
      }
    }
    const { cpu, memoryBytes, pids } = limits;
    if (cpu !== undefined && dirs.cpu !== undefined) {
      const quotaUs = Math.max(1000, Math.round(cpu * cfsPeriodUs));
      const dir = dirs.cpu;
      await attempt('cpu', async () => {
        if (host.version === 2) {
          await writeFile(path.join(dir, 'cpu.max'), `${quotaUs} ${cfsPeriodUs}`);
        } else {
          await writeFile(path.join(dir, 'cpu.cfs_period_us'), String(cfsPeriodUs));
          await writeFile(path.join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
        }
      });
    }
    if (memoryBytes !== undefined && dirs.memory !== undefined) {
      const dir = dirs.memory;
      await attempt('memory', async () => {
        if (host.version === 2) {
          await writeFile(path.join(dir, 'memory.max'), String(memoryBytes));
          // Without it the limit only bounds RAM and a hog goes on in swap.
          await writeFile(path.join(dir, 'memory.swap.max'), '0').catch(ignoreMissing);
          return;
        }
        const ram = path.join(dir, 'memory.limit_in_bytes');
        const memsw = path.join(dir, 'memory.memsw.limit_in_bytes');
        // memsw (RAM + swap) must stay >= the RAM limit, so the order depends on the old values.
        try {
          await writeFile(ram, String(memoryBytes));
          await writeFile(memsw, String(memoryBytes)).catch(ignoreMissing);
        } catch {
          await writeFile(memsw, String(memoryBytes)).catch(ignoreMissing);
          await writeFile(ram, String(memoryBytes));
        }
      });
    }
    if (pids !== undefined && dirs.pids !== undefined) {
      const dir = dirs.pids;
      await attempt('pids', () => writeFile(path.join(dir, 'pids.max'), String(pids)));
    }
    return new ExecutionCgroup(host, dirs, enforced, problems);
  }

  /** A new leaf for one process. */
  async leaf(): Promise<CgroupLeaf> {
    const name = `p-${randomUUID().slice(0, 8)}`;
    const dirs: Partial<Record<CgroupController, string>> = {};
    for (const [controller, dir] of Object.entries(this.dirs) as [CgroupController, string][]) {
      const leafDir = path.join(dir, name);
      if (Object.values(dirs).includes(leafDir)) {
        dirs[controller] = leafDir;
        continue;
      }
      await mkdir(leafDir);
      dirs[controller] = leafDir;
    }
    return new CgroupLeaf(this.host.version, dirs);
  }

  /** Kills whatever still runs in the execution's cgroups and removes them. */
  async remove(): Promise<void> {
    await removeCgroupDirs(Object.values(this.dirs), this.host.version);
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}

/** The cgroup of one spawned process (and everything it starts). */
export class CgroupLeaf {
  constructor(
    private readonly version: 1 | 2,
    readonly dirs: Partial<Record<CgroupController, string>>,
  ) {}

  /** `cgroup.procs` files to write the process's pid into (one per v1 hierarchy). */
  procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs))].map((dir) => path.join(dir, 'cgroup.procs'));
  }

  private membershipDir(): string | undefined {
    return this.dirs.pids ?? this.dirs.memory ?? this.dirs.cpu ?? this.dirs.cpuacct;
  }

  /** Live (non-zombie) processes in the leaf. */
  members(): number[] {
    const dir = this.membershipDir();
    return dir === undefined ? [] : liveMembers(dir);
  }

  /** SIGKILL to every member at once where the kernel offers it (v2 `cgroup.kill`); false otherwise. */
  killAll(): boolean {
    const dir = this.membershipDir();
    if (this.version !== 2 || dir === undefined) return false;
    try {
      // Sync: kill paths run inside the synchronous ProcessTree.signal.
      writeFileSync(path.join(dir, 'cgroup.kill'), '1');
      return true;
    } catch {
      return false;
    }
  }

  /** How many processes of the leaf the OOM killer ended (0 without a memory cgroup). */
  oomKills(): number {
    const dir = this.dirs.memory;
    if (dir === undefined) return 0;
    const file = this.version === 2 ? 'memory.events' : 'memory.oom_control';
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(path.join(dir, file), 'utf8'));
      return match === null ? 0 : Number(match[1]);
    } catch {
      return 0;
    }
  }

  /** Removes the leaf when it is empty (a busy leaf stays for `ExecutionCgroup.remove`). */
  removeIfEmpty(): void {
    for (const dir of new Set(Object.values(this.dirs))) {
      try {
        rmdirSync(dir);
      } catch {
        // Still populated (or already gone): the execution's removal takes care of it.
      }
    }
  }
}

function liveMembers(dir: string): number[] {
  let text: string;
  try {
    text = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map(Number)
    .filter((pid) => isProcessAlive(pid));
}

/** Every cgroup directory below `dir` (deepest first), then `dir`. */
async function subtree(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const child of entries) out.push(...(await subtree(child)));
  out.push(dir);
  return out;
}

/** SIGKILLs every member of the cgroups at `dirs` (and their children) and removes them. */
async function removeCgroupDirs(dirs: string[], version: 1 | 2): Promise<void> {
  const all: string[] = [];
  for (const dir of new Set(dirs)) all.push(...(await subtree(dir)));
  if (all.length === 0) return;
  if (version === 2) {
    for (const dir of new Set(dirs)) {
      await writeFile(path.join(dir, 'cgroup.kill'), '1').catch(() => {});
    }
  }
  const deadline = performance.now() + removeKillWaitMs;
  for (;;) {
    const members = all.flatMap((dir) => liveMembers(dir));
    if (members.length === 0 || performance.now() > deadline) break;
    for (const pid of members) signalProcess(pid, 'SIGKILL');
    await sleep(20);
  }
  for (const dir of all) {
    // A just-killed process may linger in the cgroup for a moment after its last signal.
    for (let i = 0; i < 50; i++) {
      try {
        await rmdir(dir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || i === 49) break;
        await sleep(20);
      }
    }
  }
}

/**
 * Removes `switchyard/<executionId>` cgroups whose execution is not alive (what a crashed server
 * left), killing their members first. Returns the removed cgroup names (the execution ids).
 */
export async function reapCgroups(
  host: CgroupHost,
  alive: (executionId: string) => Promise<boolean>,
  owner = 'default',
): Promise<string[]> {
  const byName = new Map<string, string[]>();
  for (const base of new Set(Object.values(host.bases))) {
    let names: string[];
    try {
      names = (await readdir(base, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const list = byName.get(name) ?? [];
      list.push(path.join(base, name));
      byName.set(name, list);
    }
  }
  const removed: string[] = [];
  for (const [name, dirs] of byName) {
    const parsed = parseCgroupName(name);
    // Only this owner's cgroups: other servers (or tests) on the host have their own.
    if (!parsed || parsed.owner !== safe(owner) || (await alive(parsed.executionId))) continue;
    await removeCgroupDirs(dirs, host.version);
    if (dirs.every((dir) => !existsSync(dir))) removed.push(parsed.executionId);
  }
  return removed;
}
