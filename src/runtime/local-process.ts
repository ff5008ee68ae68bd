/**
 * A local sandbox's processes: spawning a built argv, the process tree `terminate` and
 * `leftovers` act on, and the pid records that let a restarted server stop a dead one's orphans.
 */
import { type ChildProcess, spawn as spawnChild } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CgroupLeaf } from './cgroups.ts';
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
import type { ProcessEnd, SandboxProcess } from './types.ts';

/** Leaders this server started and that still run: never mistaken for a dead server's orphans. */
const ownLeaders = new Set<number>();

/**
 * The pgid of each keyed command (spawn `key`), kept where no sandbox can reach (the server
 * writes them as root): the data directory.
 */
export class OrphanRecords {
  constructor(
    private readonly dataDir: string,
    private readonly graceMs: number,
  ) {}

  private file(executionId: string, key: string): string {
    return path.join(
      path.resolve(this.dataDir),
      'sandbox-state',
      `pgid-${`${executionId}-${key}`.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
    );
  }

  /** Writes the leader's pid, and removes the record once the command has finished. */
  record(executionId: string, key: string, pid: number, finished: Promise<unknown>): void {
    const file = this.file(executionId, key);
    void mkdir(path.dirname(file), { recursive: true })
      .then(() => writeFile(file, `${pid}\n`))
      .catch(() => {})
      .then(() => finished)
      .then(() => rm(file, { force: true }))
      .catch(() => {});
  }

  /**
   * A server that died mid-command may leave its plain process group running (bwrap sandboxes
   * die with their parent). Before the same key runs again the group is stopped, so the old
   * attempt cannot keep writing to the workspace. It is only signalled when it still belongs to
   * this execution (its leader's environment names it), so a reused pid is never hit.
   */
  async reap(executionId: string, key: string): Promise<void> {
    const file = this.file(executionId, key);
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
    await terminateGroup(pgid, this.graceMs);
  }
}

/** Spawns the built argv and wraps it as a SandboxProcess over its process tree. */
export async function startProcess(
  full: string[],
  o: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    leaf: CgroupLeaf | undefined;
    bwrap: boolean;
    stdin?: boolean;
    running: Set<ProcessTree>;
    record?: (pid: number, finished: Promise<unknown>) => void;
  },
): Promise<SandboxProcess> {
  const { leaf, running } = o;
  let child: ChildProcess;
  try {
    child = spawnChild(full[0]!, full.slice(1), {
      cwd: o.cwd,
      env: o.env,
      // Its own session and process group: one kill(-pgid) reaches a plain command's tree.
      detached: true,
      stdio: [o.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
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
  const tree = treeFor(pid, leaf, o.bwrap);
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
  o.record?.(pid, finished);

  // A reader that went away must not crash the server with EPIPE.
  child.stdin?.on('error', () => {});
  return {
    pid,
    ...(child.stdin !== null && { stdin: child.stdin }),
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
