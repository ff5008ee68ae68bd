/**
 * The artifact files: `<dataDir>/artifacts/<execId>/<path>`, copies staged in `.partial/` and
 * renamed into place. Work on one execution's files (collections, reaping) runs one at a time in
 * this process, so the execution cap holds and the reaper never deletes a file a collection just
 * replaced. The records of the files are the service's; nothing here touches the database.
 */
import { lstat, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';

export class ArtifactBlobStore {
  readonly root: string;
  /** Where copies are written before they are renamed into place. */
  readonly partialDir: string;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir, 'artifacts');
    this.partialDir = path.join(this.root, '.partial');
  }

  /** Runs `fn` after the work on this execution's files queued before it. */
  async exclusive<T>(executionId: string, fn: () => Promise<T>): Promise<T> {
    const prior = this.queues.get(executionId) ?? Promise.resolve();
    const run = prior.then(fn, fn);
    this.queues.set(executionId, run);
    try {
      return await run;
    } finally {
      if (this.queues.get(executionId) === run) this.queues.delete(executionId);
    }
  }

  /** The file of an artifact; `relPath` was checked with `checkArtifactPath`. */
  fileOf(executionId: string, relPath: string): string {
    const dir = path.join(this.root, execDirName(executionId));
    const file = path.join(dir, ...relPath.split('/'));
    // Paths are checked before they get here; this is the last line of defence.
    if (!file.startsWith(dir + path.sep)) throw new Error(`artifact path escapes: ${relPath}`);
    return file;
  }

  /**
   * Deletes one artifact's file and the directories it leaves empty; returns the bytes freed
   * (0 when the file was already gone or cannot be removed).
   */
  async removeFile(executionId: string, relPath: string): Promise<number> {
    let freed = 0;
    const file = this.fileOf(executionId, relPath);
    try {
      const size = (await lstat(file)).size;
      await unlink(file);
      freed = size;
    } catch {
      // Already gone, or not removable.
    }
    await this.pruneEmptyDirs(executionId, relPath);
    return freed;
  }

  /** Removes the artifact directories of these executions. */
  async removeExecutions(executionIds: string[]): Promise<void> {
    for (const id of executionIds) {
      await rm(path.join(this.root, execDirName(id)), { recursive: true, force: true });
    }
  }

  /**
   * Temp files of copies a crash interrupted; anything older than an hour is garbage. File times
   * are wall-clock times, so this compares with the wall clock, not the injected one.
   */
  async clearStalePartials(): Promise<void> {
    const now = Date.now();
    let names: string[];
    try {
      names = await readdir(this.partialDir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(this.partialDir, name);
      try {
        if (now - (await lstat(p)).mtimeMs > 3_600_000) await rm(p, { force: true });
      } catch {
        // raced with another reaper
      }
    }
  }

  /** Removes the directories a deleted file leaves empty, up to and including the execution's. */
  private async pruneEmptyDirs(executionId: string, relPath: string): Promise<void> {
    const segments = relPath.split('/').slice(0, -1);
    const top = path.join(this.root, execDirName(executionId));
    for (let i = segments.length; i >= 0; i--) {
      try {
        await rmdir(path.join(top, ...segments.slice(0, i)));
      } catch {
        return; // not empty (or already gone)
      }
    }
  }
}

/** The execution's directory name; ids are checked so none can name another place. */
export function execDirName(executionId: string): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(executionId))
    throw new Error(`not an execution id: ${JSON.stringify(executionId)}`);
  return executionId;
}
