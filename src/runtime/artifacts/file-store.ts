/**
 * Artifact content in the data directory: `<dataDir>/artifacts/<execId>/<path>`, copies staged
 * in `.partial/` and renamed into place. Only the server that collected a file can serve it, so
 * this is the store of a single server (SQLite, or `artifactStore: files`). The records of the
 * files are the service's; nothing here touches the database.
 */
import { lstat, mkdir, open, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { workspaceOpenFlags } from '../workspace-files.ts';
import type { ArtifactContentStore, OpenedContent, RecordContent } from './content-store.ts';

export class FileContentStore implements ArtifactContentStore {
  readonly root: string;
  /** Where copies are written before they are renamed into place. */
  readonly partialDir: string;

  constructor(dataDir: string) {
    this.root = path.resolve(dataDir, 'artifacts');
    this.partialDir = path.join(this.root, '.partial');
  }

  /** Writes to a temp file (fsync'd) and renames it into place before recording it. */
  async put<V>(
    executionId: string,
    relPath: string,
    source: AsyncIterable<Buffer>,
    record: RecordContent<V>,
  ): Promise<V> {
    const dest = this.fileOf(executionId, relPath);
    await mkdir(this.partialDir, { recursive: true });
    let partial: string | undefined = path.join(
      this.partialDir,
      `${execDirName(executionId)}-${randomBytes(8).toString('hex')}`,
    );
    try {
      let size = 0;
      const out = await open(partial, 'wx', 0o644);
      try {
        for await (const chunk of source) {
          size += chunk.length;
          let written = 0;
          while (written < chunk.length) {
            const r = await out.write(chunk, written, chunk.length - written);
            written += r.bytesWritten;
          }
        }
        await out.sync();
      } finally {
        await out.close();
      }
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(partial, dest);
      partial = undefined;
      return await record({ size, blobId: null });
    } finally {
      if (partial !== undefined) await rm(partial, { force: true }).catch(() => {});
    }
  }

  /** Holds the file open, so a reaper run cannot cut a download short. */
  async open(executionId: string, relPath: string): Promise<OpenedContent | undefined> {
    let handle;
    try {
      handle = await open(this.fileOf(executionId, relPath), workspaceOpenFlags);
    } catch {
      return undefined;
    }
    let streamed = false;
    return {
      stream: (range) => {
        streamed = true;
        return handle.createReadStream({
          autoClose: true,
          ...(range !== undefined && { start: range.start, end: range.end }),
        });
      },
      close: async () => {
        if (!streamed) await handle.close();
      },
    };
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
  async remove(executionId: string, relPath: string): Promise<number> {
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
  async clearStale(): Promise<void> {
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
