/**
 * The workspace directories on the host, `<dataDir>/workspaces/`: `<execId>/` for a
 * `per_execution` environment, `<pool>/<execId>/` inside a long-lived one (`wf-…`, `shared-…`).
 * Docker containers bind-mount the same directories, so removing them here frees both runtimes'.
 * Whether a workspace may go is the caller's decision (worker/workspace-retention.ts).
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** A long-lived environment's directory, which holds one sub-directory per execution. */
export function isPoolDir(name: string): boolean {
  return name.startsWith('wf-') || name.startsWith('shared-');
}

/** An execution's workspace directory found on disk. */
export interface FoundWorkspace {
  executionId: string;
  dir: string;
}

export class WorkspaceDirs {
  constructor(readonly root: string) {}

  /** Every execution's workspace directory on disk (pool directories themselves excluded). */
  async list(): Promise<FoundWorkspace[]> {
    const out: FoundWorkspace[] = [];
    for (const name of await dirsIn(this.root)) {
      if (!isPoolDir(name)) {
        out.push({ executionId: name, dir: path.join(this.root, name) });
        continue;
      }
      const pool = path.join(this.root, name);
      for (const sub of await dirsIn(pool))
        out.push({ executionId: sub, dir: path.join(pool, sub) });
    }
    return out;
  }

  /** Removes an execution's workspace wherever it is; returns the directories removed. */
  async remove(executionId: string): Promise<string[]> {
    if (!isExecutionDirName(executionId)) return [];
    const candidates = [path.join(this.root, executionId)];
    for (const name of await dirsIn(this.root))
      if (isPoolDir(name)) candidates.push(path.join(this.root, name, executionId));
    const removed: string[] = [];
    for (const dir of candidates) if (await removeDir(dir)) removed.push(dir);
    return removed;
  }

  /** Removes one directory `list` returned. */
  async removeFound(found: FoundWorkspace): Promise<boolean> {
    return removeDir(found.dir);
  }
}

/** An id that names one directory under the root (never `..`, a path or a pool). */
function isExecutionDirName(id: string): boolean {
  return id !== '' && id !== '.' && id !== '..' && !id.includes('/') && !isPoolDir(id);
}

async function dirsIn(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** `rm -r` without following symlinks (a workspace's own links are removed, not their targets). */
async function removeDir(dir: string): Promise<boolean> {
  try {
    if (!(await lstat(dir)).isDirectory()) return false;
  } catch {
    return false;
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  return true;
}
