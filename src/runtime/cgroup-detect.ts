/**
 * Where the local runtime's cgroups go: the cgroup hierarchy (v1/hybrid or v2), the server's
 * place in it, and `<server cgroup>/switchyard` made ready (on v2, controllers delegated to it).
 * cgroups.ts makes the executions' cgroups below it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type CgroupController = 'cpu' | 'cpuacct' | 'memory' | 'pids';

const v1Controllers: readonly CgroupController[] = ['cpu', 'cpuacct', 'memory', 'pids'];
export const v2Controllers = ['cpu', 'memory', 'pids'] as const;
/** Directory under the server's cgroup that holds the executions' cgroups. */
const cgroupParentName = 'switchyard';
/** The leaf the server moves itself into on v2 when its own cgroup must delegate controllers. */
const v2ServerLeaf = 'switchyard-server';

export interface CgroupHost {
  version: 1 | 2;
  /** `<server cgroup>/switchyard` per usable controller (v2: the same directory for all). */
  bases: Partial<Record<CgroupController, string>>;
  /** Why a controller cannot be used here (e.g. not mounted, not writable). */
  problems: string[];
}

interface MountInfo {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function readMounts(): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const [fsType, , superOpts] = right.split(' ');
    if (fields[3] === undefined || fields[4] === undefined || fsType === undefined) continue;
    out.push({
      root: unescapeMount(fields[3]),
      mountPoint: unescapeMount(fields[4]),
      fsType,
      superOptions: (superOpts ?? '').split(','),
    });
  }
  return out;
}

function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/** `/proc/self/cgroup`: hierarchy controllers (`''` for v2) to the server's path in it. */
function readOwnCgroups(): { controllers: string[]; path: string }[] {
  const out: { controllers: string[]; path: string }[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match === null) continue;
    out.push({ controllers: match[1] === '' ? [] : match[1]!.split(','), path: match[2]! });
  }
  return out;
}

/** Host directory of cgroup `cgroupPath` in a hierarchy mounted at `mount` (undefined if outside it). */
function dirIn(mount: MountInfo, cgroupPath: string): string | undefined {
  const rel = path.posix.relative(mount.root, cgroupPath);
  if (rel.startsWith('..')) return undefined;
  return path.join(mount.mountPoint, rel);
}

/**
 * Finds the cgroup hierarchy, the server's place in it, and makes `<server cgroup>/switchyard`.
 * A v1 controller that is mounted (even in a hybrid setup with an empty cgroup2 beside it) wins;
 * otherwise a cgroup2 mount is used. Undefined `bases` entries come with a `problems` line.
 */
export async function detectCgroups(): Promise<CgroupHost | { unavailable: string }> {
  let mounts: MountInfo[];
  let own: { controllers: string[]; path: string }[];
  try {
    mounts = readMounts();
    own = readOwnCgroups();
  } catch (error) {
    return { unavailable: `cannot read /proc/self/{mountinfo,cgroup}: ${String(error)}` };
  }
  const v1 = mounts.filter((m) => m.fsType === 'cgroup');
  const hasV1 = v1.some((m) => m.superOptions.some((o) => (v1Controllers as string[]).includes(o)));
  if (hasV1) return detectV1(v1, own);
  const v2Mount = mounts.find((m) => m.fsType === 'cgroup2');
  const ownV2 = own.find((c) => c.controllers.length === 0);
  if (v2Mount === undefined || ownV2 === undefined) return { unavailable: 'no cgroup mounts' };
  return detectV2(v2Mount, ownV2.path);
}

async function detectV1(
  mounts: MountInfo[],
  own: { controllers: string[]; path: string }[],
): Promise<CgroupHost | { unavailable: string }> {
  const host: CgroupHost = { version: 1, bases: {}, problems: [] };
  for (const controller of v1Controllers) {
    const mount = mounts.find((m) => m.superOptions.includes(controller));
    const place = own.find((c) => c.controllers.includes(controller));
    const dir = mount === undefined || place === undefined ? undefined : dirIn(mount, place.path);
    if (dir === undefined) {
      host.problems.push(`cgroup v1 controller ${controller} is not mounted`);
      continue;
    }
    if (controller === 'cpu' && !existsSync(path.join(dir, 'cpu.cfs_quota_us'))) {
      host.problems.push(
        'cgroup v1 cpu controller has no CFS bandwidth control (cpu.cfs_quota_us)',
      );
      continue;
    }
    const base = path.join(dir, cgroupParentName);
    try {
      await mkdir(base, { recursive: true });
      host.bases[controller] = base;
    } catch (error) {
      host.problems.push(`cannot create ${base}: ${(error as Error).message}`);
    }
  }
  if (Object.keys(host.bases).length === 0) {
    return { unavailable: host.problems.join('; ') || 'no usable cgroup v1 controller' };
  }
  return host;
}

async function detectV2(
  mount: MountInfo,
  ownPath: string,
): Promise<CgroupHost | { unavailable: string }> {
  const dir = dirIn(mount, ownPath);
  if (dir === undefined)
    return { unavailable: `the server's cgroup ${ownPath} is outside the cgroup2 mount` };
  const host: CgroupHost = { version: 2, bases: {}, problems: [] };
  let available: string[];
  try {
    available = (await readFile(path.join(dir, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/);
  } catch (error) {
    return { unavailable: `cannot read ${dir}/cgroup.controllers: ${(error as Error).message}` };
  }
  const wanted = v2Controllers.filter((c) => {
    if (available.includes(c)) return true;
    host.problems.push(`cgroup v2 controller ${c} is not delegated to ${dir}`);
    return false;
  });
  if (wanted.length === 0) return { unavailable: host.problems.join('; ') };
  const enable = async (at: string) => {
    for (const c of wanted) await writeFile(path.join(at, 'cgroup.subtree_control'), `+${c}`);
  };
  try {
    await enable(dir);
  } catch (error) {
    // The "no internal processes" rule: a cgroup that holds processes cannot hand controllers to
    // children. When the server is alone in its cgroup it moves into a leaf of its own (as
    // container inits do); a cgroup shared with other processes is left alone.
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') {
      return { unavailable: `cannot enable controllers in ${dir}: ${(error as Error).message}` };
    }
    const procs = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8')).trim().split(/\s+/);
    if (procs.length !== 1 || procs[0] !== String(process.pid)) {
      return {
        unavailable: `${dir} holds other processes, so it cannot delegate controllers; run the server in a cgroup of its own (e.g. systemd Delegate=yes)`,
      };
    }
    try {
      const leaf = path.join(dir, v2ServerLeaf);
      await mkdir(leaf, { recursive: true });
      await writeFile(path.join(leaf, 'cgroup.procs'), String(process.pid));
      await enable(dir);
    } catch (moveError) {
      return {
        unavailable: `cannot delegate controllers in ${dir}: ${(moveError as Error).message}`,
      };
    }
  }
  const base = path.join(dir, cgroupParentName);
  try {
    await mkdir(base, { recursive: true });
    await enable(base);
  } catch (error) {
    return { unavailable: `cannot prepare ${base}: ${(error as Error).message}` };
  }
  for (const c of wanted) host.bases[c] = base;
  return host;
}
