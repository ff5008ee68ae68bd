/**
 * Stopping a command's whole process group. A command runs as the leader of its own group
 * (`detached: true`), so one `kill(-pgid)` reaches the shell, its children and grandchildren,
 * including the ones that ignore SIGTERM (they get SIGKILL after the grace period).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls start fast (most processes exit on SIGTERM at once) and back off to spare /proc scans. */
const firstPollMs = 10;
const maxPollMs = 100;
/** How long to wait for SIGKILLed processes to disappear before giving up on watching them. */
const killWaitMs = 5000;

function hasProc(): boolean {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
}
const procAvailable = hasProc();

/**
 * True while a process of group `pgid` is still running. `kill(-pgid, 0)` also succeeds for
 * zombies, and where PID 1 does not reap orphans (some container inits) a killed grandchild stays a
 * zombie forever, so on Linux the group's members are looked up in /proc and zombies ignored.
 */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!procAvailable) return true;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== undefined && stat.pgrp === pgid && !isDead(stat.state)) return true;
  }
  return false;
}

/** True while process `pid` exists and is not a zombie. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!procAvailable) return true;
  const stat = procStat(pid);
  return stat !== undefined && !isDead(stat.state);
}

function isDead(state: string): boolean {
  return state === 'Z' || state === 'X' || state === 'x';
}

function procStat(pid: number): { state: string; pgrp: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const pgrp = Number(fields[2]);
  return state === undefined ? undefined : { state, pgrp };
}

/** Sends `signal` to every process of the group; false when none was there to receive it. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM to the group, SIGKILL after `graceMs` if anything still runs, then waits (bounded) for
 * the group to be gone. Resolves once the group is gone or, at worst, SIGKILL was sent.
 */
export async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  if (!isGroupAlive(pgid)) return;
  signalGroup(pgid, 'SIGTERM');
  let poll = firstPollMs;
  const termDeadline = performance.now() + graceMs;
  while (performance.now() < termDeadline) {
    await sleep(Math.min(poll, Math.max(1, termDeadline - performance.now())));
    if (!isGroupAlive(pgid)) return;
    poll = Math.min(poll * 2, maxPollMs);
  }
  if (!signalGroup(pgid, 'SIGKILL')) return;
  poll = firstPollMs;
  const killDeadline = performance.now() + killWaitMs;
  while (isGroupAlive(pgid) && performance.now() < killDeadline) {
    await sleep(poll);
    poll = Math.min(poll * 2, maxPollMs);
  }
}
