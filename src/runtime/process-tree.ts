/**
 * Stopping every process a command started. A tree is whatever set the runtime can name: a
 * process group (plain processes: the command leads its own group, so one `kill(-pgid)` reaches
 * its children and grandchildren), the members of a cgroup, or the descendants of a bubblewrap
 * sandbox (its pid namespace keeps orphans inside the tree). Stopping is SIGTERM, then SIGKILL
 * after the grace period for whatever still runs (including processes that ignore SIGTERM).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls start fast (most processes exit on SIGTERM at once) and back off to spare /proc scans. */
const firstPollMs = 10;
const maxPollMs = 100;
/** How long to wait for SIGKILLed processes to disappear before giving up on watching them. */
const killWaitMs = 5000;

export interface ProcessTree {
  /** True while a member still runs (zombies do not count). */
  isAlive(): boolean;
  /** Sends `signal` to the members; false when none was there to receive it. */
  signal(signal: NodeJS.Signals): boolean;
}

function hasProc(): boolean {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
}
const procAvailable = hasProc();

interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  /** The kernel's `PF_*` flags of the (main) thread. */
  flags: number;
  threads: number;
}

/** `PF_EXITING`: the thread is in `exit()`; it runs no more user code. */
const pfExiting = 0x4;

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === undefined) return undefined;
  return {
    state,
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    flags: Number(fields[6]),
    threads: Number(fields[17]),
  };
}

/**
 * A zombie is over; so is a single-threaded process already in `exit()`. The latter matters under
 * bubblewrap: when the command ends, the pid namespace's init (the inner bwrap) exits and stays
 * listed, running kernel code only, while the kernel tears the namespace down, and it must not
 * pass for a process the command left running. (A leader in `exit()` with other threads left
 * still runs their code, so it counts.)
 */
function isDead(stat: ProcStat): boolean {
  if (stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return true;
  return (stat.flags & pfExiting) !== 0 && stat.threads <= 1;
}

function livePids(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== undefined && !isDead(stat)) out.set(Number(entry), stat);
  }
  return out;
}

/**
 * Whether `pid` is the init (pid 1) of a pid namespace below ours, per the `NSpid` line of its
 * status. Such an init (bubblewrap's inner process) lives exactly as long as the command it runs
 * and takes the whole namespace down when it exits, so it is never something left running.
 */
export function isPidNamespaceInit(pid: number): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  const ns = /^NSpid:\s*(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/);
  return ns !== undefined && ns.length > 1 && ns[ns.length - 1] === '1';
}

/** True while process `pid` exists and is neither a zombie nor exiting (see `isDead`). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!procAvailable) return true;
  const stat = procStat(pid);
  return stat !== undefined && !isDead(stat);
}

/**
 * True while a process of group `pgid` is still running. `kill(-pgid, 0)` also succeeds for
 * zombies, and where PID 1 does not reap orphans (some container inits) a killed grandchild stays a
 * zombie forever, so on Linux the group's members are looked up in /proc and zombies ignored.
 */
function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!procAvailable) return true;
  for (const stat of livePids().values()) if (stat.pgrp === pgid) return true;
  return false;
}

/** Sends `signal` to every process of the group; false when none was there to receive it. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** `pid` (when alive) and every live process below it, parents first. */
export function processAndDescendants(pid: number): number[] {
  const all = livePids();
  const children = new Map<number, number[]>();
  for (const [child, stat] of all) {
    const list = children.get(stat.ppid) ?? [];
    list.push(child);
    children.set(stat.ppid, list);
  }
  const out: number[] = all.has(pid) ? [pid] : [];
  const queue = [...(children.get(pid) ?? [])];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    out.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return out;
}

/** Sends a signal to one process; false when it is gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The process group led by `pgid` as a tree. */
export function groupTree(pgid: number): ProcessTree {
  return { isAlive: () => isGroupAlive(pgid), signal: (s) => signalGroup(pgid, s) };
}

/**
 * SIGTERM to the tree, SIGKILL after `graceMs` if anything still runs (repeated while members
 * remain, so processes forked meanwhile are caught too), then waits (bounded) for the tree to be
 * gone. Resolves once it is gone or, at worst, SIGKILL was sent.
 */
export async function terminateTree(tree: ProcessTree, graceMs: number): Promise<void> {
  if (!tree.isAlive()) return;
  tree.signal('SIGTERM');
  let poll = firstPollMs;
  const termDeadline = performance.now() + graceMs;
  while (performance.now() < termDeadline) {
    await sleep(Math.min(poll, Math.max(1, termDeadline - performance.now())));
    if (!tree.isAlive()) return;
    poll = Math.min(poll * 2, maxPollMs);
  }
  if (!tree.signal('SIGKILL')) return;
  poll = firstPollMs;
  const killDeadline = performance.now() + killWaitMs;
  while (tree.isAlive() && performance.now() < killDeadline) {
    await sleep(poll);
    tree.signal('SIGKILL');
    poll = Math.min(poll * 2, maxPollMs);
  }
}

/** Stops the process group led by `pgid` (see `terminateTree`). */
export function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  return terminateTree(groupTree(pgid), graceMs);
}
