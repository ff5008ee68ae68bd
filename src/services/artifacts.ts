/**
 * Artifacts (DESIGN §6): files of an execution's workspace selected by `artifacts:` globs, copied
 * to `<dataDir>/artifacts/<execId>/<path>` with size, sha256 and content type, listed and
 * downloaded through the API, and deleted by the reaper when their retention ends.
 *
 * Safety: globs with '..' or an absolute start are refused; the walk never descends into a
 * symlinked directory; a symlink to a file is collected (under the link's path) only when its
 * real path is inside the workspace, otherwise it is skipped as `symlink_outside`; every source
 * is opened with O_NOFOLLOW | O_NONBLOCK and checked again after opening (the open descriptor's
 * real path must be inside the workspace and it must be a regular file), so a process swapping
 * files during collection cannot make it read outside the workspace or hang on a FIFO.
 */
import type { ArtifactInfo } from '../engine/types.ts';
import { createHash, randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import {
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { AppError } from '../errors.ts';
import { checkGlob, compileGlob, type CompiledGlob } from '../glob.ts';
import { newId } from '../ids.ts';
import * as artifactsSql from '../store/artifacts.ts';
import type { ArtifactRow } from '../store/artifacts.ts';
import type { Database } from '../store/db.ts';
import { getExecution } from '../store/executions.ts';
import {
  isStrictlyInside,
  openInWorkspace,
  workspaceOpenFlags,
} from '../runtime/workspace-files.ts';
import type { Clock } from '../clock.ts';

/** An artifact as the API shows it: what events announce, plus its state and download URL. */
export interface ArtifactView extends ArtifactInfo {
  createdAt: string;
  /** True once the retention ended: the file is (or is about to be) gone and downloads answer 410. */
  expired: boolean;
  /** Download URL (path segments percent-encoded). */
  url: string;
}

/** Why a file matched by a glob (or a glob itself) was not collected. */
export type ArtifactSkipReason =
  | 'glob_refused'
  | 'symlink_outside'
  | 'not_a_file'
  | 'unsupported_name'
  | 'file_too_large'
  | 'execution_cap'
  | 'walk_limit'
  | 'io_error';

export interface SkippedArtifact {
  /** The file's relative path, or the glob for `glob_refused`. */
  path: string;
  reason: ArtifactSkipReason;
  message: string;
}

export interface CollectInput {
  executionId: string;
  workflowId: string;
  /** The node that succeeded; null when collecting at environment release. */
  nodeId: string | null;
  /** Host directory of the execution's workspace. */
  hostWorkspace: string;
  globs: string[];
  /** `runtime_config.retention_hours`; default 24. */
  retentionHours?: number;
}

export interface CollectResult {
  collected: ArtifactView[];
  skipped: SkippedArtifact[];
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

/** An artifact opened for download. The file is held open, so a reaper run cannot cut it short. */
export interface OpenedArtifact {
  view: ArtifactView;
  /** Streams the whole file or a range of it; the stream closes the file when it ends. */
  stream(range?: ByteRange): Readable;
  /** Closes the file when no stream is taken (304, 416). */
  close(): Promise<void>;
}

export interface ArtifactServiceOptions {
  dataDir: string;
  /** Largest single file collected; default 100 MiB. */
  maxFileBytes?: number;
  /** Most bytes one execution may store; default 1 GiB. */
  maxExecutionBytes?: number;
  /** Most directory entries one collection walks; default 100,000. */
  maxWalkEntries?: number;
}

export const defaultRetentionHours = 24;
export const defaultMaxArtifactFileBytes = 100 * 1024 * 1024;
export const defaultMaxArtifactExecutionBytes = 1024 * 1024 * 1024;
/** Longest artifact path accepted, in characters. */
export const maxArtifactPathLength = 1024;

const contentTypes: Record<string, string> = {
  txt: 'text/plain',
  log: 'text/plain',
  out: 'text/plain',
  md: 'text/markdown',
  json: 'application/json',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  html: 'text/html',
  htm: 'text/html',
  csv: 'text/csv',
  xml: 'application/xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  tar: 'application/x-tar',
};

/** Content type from the file extension; unknown ones are application/octet-stream. */
export function contentTypeOf(relPath: string): string {
  const base = relPath.slice(relPath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return 'application/octet-stream';
  return contentTypes[base.slice(dot + 1).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Why `p` is not an acceptable artifact path, or undefined. Accepted: relative, '/'-separated,
 * no empty, '.' or '..' segment, no backslash, no NUL, at most 1,024 characters.
 */
export function checkArtifactPath(p: string): string | undefined {
  if (p === '') return 'is empty';
  if (p.length > maxArtifactPathLength) return `is longer than ${maxArtifactPathLength} characters`;
  if (p.includes('\0')) return 'holds a NUL character';
  if (p.includes('\\')) return 'holds a backslash';
  if (p.startsWith('/')) return 'is absolute';
  for (const seg of p.split('/')) {
    if (seg === '') return 'has an empty segment';
    if (seg === '.' || seg === '..') return `has a '${seg}' segment`;
  }
  return undefined;
}

/** Workspace entries never collected: the engine's own bookkeeping. */
const privateTopLevel = new Set(['.switchyard']);

export class ArtifactService {
  private readonly root: string;
  private readonly partialDir: string;
  private readonly maxFileBytes: number;
  private readonly maxExecutionBytes: number;
  private readonly maxWalkEntries: number;
  /**
   * Work on one execution's files (collections, reaping) runs one at a time in this process, so
   * the execution cap holds and the reaper never deletes a file a collection just replaced.
   */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    opts: ArtifactServiceOptions,
  ) {
    this.root = path.resolve(opts.dataDir, 'artifacts');
    this.partialDir = path.join(this.root, '.partial');
    this.maxFileBytes = opts.maxFileBytes ?? defaultMaxArtifactFileBytes;
    this.maxExecutionBytes = opts.maxExecutionBytes ?? defaultMaxArtifactExecutionBytes;
    this.maxWalkEntries = opts.maxWalkEntries ?? 100_000;
  }

  /**
   * Copies the workspace files matching `globs` into the artifact store and records them. Files
   * that cannot be taken are listed in `skipped` with the reason; nothing here throws for a bad
   * workspace file or glob. The caller emits `artifact.created` for each collected view.
   */
  async collect(input: CollectInput): Promise<CollectResult> {
    execDirName(input.executionId);
    return this.exclusive(input.executionId, () => this.collectNow(input));
  }

  /** Every artifact of an execution, expired ones included (flagged `expired`), by path. */
  async list(executionId: string): Promise<ArtifactView[]> {
    const now = this.clock.now().toISOString();
    const rows = await artifactsSql.listArtifacts(this.database.db, executionId);
    return rows.map((r) => toView(r, now));
  }

  /** `list` for the API: 404 when the execution is not under the workflow. */
  async listUnder(workflowId: string, executionId: string): Promise<ArtifactView[]> {
    await this.requireExecution(workflowId, executionId);
    return this.list(executionId);
  }

  /**
   * Opens an artifact for download: 400 for a malformed path, 404 when unknown, 410 once its
   * retention ended (the row stays as a tombstone after the reaper removes the file).
   */
  async open(executionId: string, relPath: string): Promise<OpenedArtifact> {
    const why = checkArtifactPath(relPath);
    if (why !== undefined)
      throw new AppError('ERR_ARTIFACT_PATH_INVALID', {
        message: `The artifact path ${why}.`,
        context: { executionId },
      });
    const row = await artifactsSql.getArtifact(this.database.db, executionId, relPath);
    if (!row)
      throw new AppError('ERR_ARTIFACT_NOT_FOUND', {
        message: `Execution ${executionId} has no artifact ${relPath}.`,
        context: { executionId, path: relPath },
      });
    const view = toView(row, this.clock.now().toISOString());
    if (view.expired)
      throw new AppError('ERR_ARTIFACT_EXPIRED', {
        message: `Artifact ${relPath} expired at ${row.expires_at}.`,
        context: { executionId, path: relPath, expiresAt: row.expires_at },
      });
    let handle: FileHandle;
    try {
      handle = await open(this.fileOf(executionId, relPath), workspaceOpenFlags);
    } catch (err) {
      throw new AppError('ERR_ARTIFACT_NOT_FOUND', {
        message: `The file of artifact ${relPath} is missing from the data directory.`,
        context: { executionId, path: relPath },
        cause: err,
      });
    }
    let streamed = false;
    return {
      view,
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

  /** `open` for the API: 404 when the execution is not under the workflow. */
  async openUnder(
    workflowId: string,
    executionId: string,
    relPath: string,
  ): Promise<OpenedArtifact> {
    const why = checkArtifactPath(relPath);
    if (why !== undefined)
      throw new AppError('ERR_ARTIFACT_PATH_INVALID', {
        message: `The artifact path ${why}.`,
        context: { workflowId, executionId },
      });
    await this.requireExecution(workflowId, executionId);
    return this.open(executionId, relPath);
  }

  /**
   * Deletes the files of artifacts whose retention ended by `now` and marks their rows deleted
   * (they stay, so downloads answer 410). `freedBytes` counts the bytes of files removed.
   */
  async reap(now: Date = this.clock.now()): Promise<{ deleted: number; freedBytes: number }> {
    const at = now.toISOString();
    let deleted = 0;
    let freedBytes = 0;
    for (;;) {
      // Every listed row is tombstoned or was renewed, so no row comes back and this ends.
      const rows = await artifactsSql.listExpired(this.database.db, at, 500);
      if (rows.length === 0) break;
      for (const r of rows) {
        await this.exclusive(r.execution_id, async () => {
          // Tombstone first (compare-and-set on the expiry), so a row a collection renewed
          // meanwhile keeps its new file.
          if (!(await artifactsSql.markDeleted(this.database.db, r.id, at))) return;
          deleted++;
          const file = this.fileOf(r.execution_id, r.path);
          try {
            const size = (await lstat(file)).size;
            await unlink(file);
            freedBytes += size;
          } catch {
            // Already gone, or not removable: the row is a tombstone either way (410).
          }
          await this.pruneEmptyDirs(r.execution_id, r.path);
        });
      }
    }
    await this.clearStalePartials();
    return { deleted, freedBytes };
  }

  /** Runs `reap` every `intervalMs` (unref'd timer, runs never overlap); returns a stop function. */
  startReaper(intervalMs: number, onError: (err: unknown) => void = () => {}): () => Promise<void> {
    let running: Promise<unknown> | undefined;
    const timer = setInterval(() => {
      if (running) return;
      running = this.reap()
        .catch(onError)
        .finally(() => {
          running = undefined;
        });
    }, intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await running;
    };
  }

  /** Deletes an execution's artifact rows and files. */
  async deleteExecution(executionId: string): Promise<void> {
    await artifactsSql.deleteByExecutions(this.database.db, [executionId]);
    await this.removeFiles([executionId]);
  }

  /** Removes the artifact directories of executions whose rows are already gone. */
  async removeFiles(executionIds: string[]): Promise<void> {
    for (const id of executionIds) {
      await rm(path.join(this.root, execDirName(id)), { recursive: true, force: true });
    }
  }

  // --- collection ----------------------------------------------------------------------------

  private async collectNow(input: CollectInput): Promise<CollectResult> {
    const collected: ArtifactView[] = [];
    const skipped: SkippedArtifact[] = [];
    const matchers: CompiledGlob[] = [];
    for (const g of input.globs) {
      const why = checkGlob(g);
      if (why !== undefined) {
        skipped.push({ path: g, reason: 'glob_refused', message: `The glob ${why}.` });
        continue;
      }
      matchers.push(compileGlob(g));
    }
    if (matchers.length === 0) return { collected, skipped };
    const db = this.database.db;
    // Nothing is stored for an execution deleted meanwhile; rows take its real workflow.
    const execution = await getExecution(db, input.executionId);
    if (!execution) return { collected, skipped };

    let workspace: string;
    try {
      workspace = await realpath(input.hostWorkspace);
      if (!(await stat(workspace)).isDirectory()) return { collected, skipped };
    } catch {
      return { collected, skipped };
    }

    const stored = new Map<string, number>();
    for (const r of await artifactsSql.listArtifacts(db, input.executionId))
      if (r.deleted_at === null) stored.set(r.path, Number(r.size));
    let total = [...stored.values()].reduce((a, b) => a + b, 0);

    const now = this.clock.now();
    const retention =
      input.retentionHours !== undefined &&
      Number.isFinite(input.retentionHours) &&
      input.retentionHours > 0
        ? input.retentionHours
        : defaultRetentionHours;
    const createdAt = now.toISOString();
    const expiresAt = new Date(now.getTime() + Math.round(retention * 3_600_000)).toISOString();

    const walk = await walkWorkspace(workspace, matchers, this.maxWalkEntries);
    skipped.push(...walk.skipped);
    for (const file of walk.files) {
      const budget = Math.min(
        this.maxFileBytes,
        this.maxExecutionBytes - (total - (stored.get(file.relPath) ?? 0)),
      );
      const copied = await this.copyIn(workspace, file, input.executionId, budget);
      if ('skip' in copied) {
        skipped.push(copied.skip);
        continue;
      }
      const row = await artifactsSql.upsertArtifact(db, {
        id: newId('art', now.getTime()),
        execution_id: input.executionId,
        workflow_id: execution.workflow_id,
        node_id: input.nodeId,
        path: file.relPath,
        size: copied.size,
        sha256: copied.sha256,
        content_type: contentTypeOf(file.relPath),
        created_at: createdAt,
        expires_at: expiresAt,
        deleted_at: null,
      });
      total += copied.size - (stored.get(file.relPath) ?? 0);
      stored.set(file.relPath, copied.size);
      collected.push(toView(row, createdAt));
    }
    return { collected, skipped };
  }

  /** Copies one workspace file into the store (temp file + rename), hashing it as it streams. */
  private async copyIn(
    workspace: string,
    file: WalkedFile,
    executionId: string,
    budget: number,
  ): Promise<{ size: number; sha256: string } | { skip: SkippedArtifact }> {
    const skip = (reason: ArtifactSkipReason, message: string) => ({
      skip: { path: file.relPath, reason, message },
    });
    const opened = await openInWorkspace(workspace, file.source);
    if ('refused' in opened) {
      if (opened.refused === 'symlink')
        return skip('symlink_outside', 'The file became a symlink.');
      if (opened.refused === 'outside') return skip('symlink_outside', opened.message);
      if (opened.refused === 'not_a_file')
        return skip('not_a_file', 'Only regular files are collected.');
      return skip('io_error', opened.message);
    }
    const { handle } = opened;
    let partial: string | undefined;
    try {
      const st = { size: opened.size };
      if (st.size > this.maxFileBytes)
        return skip(
          'file_too_large',
          `The file has ${st.size} bytes; the limit per file is ${this.maxFileBytes}.`,
        );
      if (st.size > budget)
        return skip(
          'execution_cap',
          `The file has ${st.size} bytes; the execution may store ${this.maxExecutionBytes} bytes in all.`,
        );
      await mkdir(this.partialDir, { recursive: true });
      partial = path.join(
        this.partialDir,
        `${execDirName(executionId)}-${randomBytes(8).toString('hex')}`,
      );
      const hash = createHash('sha256');
      let size = 0;
      const out = await open(partial, 'wx', 0o644);
      try {
        const buf = Buffer.allocUnsafe(64 * 1024);
        for (;;) {
          const { bytesRead } = await handle.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          size += bytesRead;
          if (size > budget) {
            return size > this.maxFileBytes
              ? skip(
                  'file_too_large',
                  `The file grew past the limit per file of ${this.maxFileBytes} bytes.`,
                )
              : skip(
                  'execution_cap',
                  `The file grew past the execution's limit of ${this.maxExecutionBytes} bytes.`,
                );
          }
          const chunk = buf.subarray(0, bytesRead);
          hash.update(chunk);
          let written = 0;
          while (written < bytesRead) {
            const r = await out.write(chunk, written, bytesRead - written);
            written += r.bytesWritten;
          }
        }
        await out.sync();
      } finally {
        await out.close();
      }
      const dest = this.fileOf(executionId, file.relPath);
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(partial, dest);
      partial = undefined;
      return { size, sha256: hash.digest('hex') };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return skip('io_error', `The file cannot be stored (${code ?? (err as Error).message}).`);
    } finally {
      await handle.close().catch(() => {});
      if (partial !== undefined) await rm(partial, { force: true }).catch(() => {});
    }
  }

  // --- helpers -------------------------------------------------------------------------------

  private async exclusive<T>(executionId: string, fn: () => Promise<T>): Promise<T> {
    const prior = this.queues.get(executionId) ?? Promise.resolve();
    const run = prior.then(fn, fn);
    this.queues.set(executionId, run);
    try {
      return await run;
    } finally {
      if (this.queues.get(executionId) === run) this.queues.delete(executionId);
    }
  }

  private fileOf(executionId: string, relPath: string): string {
    const dir = path.join(this.root, execDirName(executionId));
    const file = path.join(dir, ...relPath.split('/'));
    // Paths are checked before they get here; this is the last line of defence.
    if (!file.startsWith(dir + path.sep)) throw new Error(`artifact path escapes: ${relPath}`);
    return file;
  }

  private async requireExecution(workflowId: string, executionId: string): Promise<void> {
    const row = await getExecution(this.database.db, executionId);
    if (!row || row.workflow_id !== workflowId)
      throw new AppError('ERR_EXECUTION_NOT_FOUND', {
        message: `Workflow ${workflowId} has no execution ${executionId}.`,
        context: { workflowId, executionId },
      });
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

  /**
   * Temp files of copies a crash interrupted; anything older than an hour is garbage. File times
   * are wall-clock times, so this compares with the wall clock, not the injected one.
   */
  private async clearStalePartials(): Promise<void> {
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
}

function toView(r: ArtifactRow, now: string): ArtifactView {
  return {
    id: r.id,
    path: r.path,
    size: Number(r.size),
    sha256: r.sha256,
    contentType: r.content_type,
    nodeId: r.node_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    expired: r.deleted_at !== null || r.expires_at <= now,
    url: `/api/v1/workflows/${encodeURIComponent(r.workflow_id)}/executions/${encodeURIComponent(r.execution_id)}/artifacts/${r.path.split('/').map(encodeURIComponent).join('/')}`,
  };
}

/** The execution's directory name; ids are checked so none can name another place. */
function execDirName(executionId: string): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(executionId))
    throw new Error(`not an execution id: ${JSON.stringify(executionId)}`);
  return executionId;
}

interface WalkedFile {
  relPath: string;
  /** Absolute path to open: the file, or the real path a symlink inside the workspace names. */
  source: string;
}

/**
 * Walks the workspace (sorted, so caps skip the same files every time) and returns the files the
 * globs match. Symlinked directories are not entered; symlinks to files are resolved and kept
 * only when they stay inside the workspace.
 */
async function walkWorkspace(
  workspace: string,
  matchers: CompiledGlob[],
  maxEntries: number,
): Promise<{ files: WalkedFile[]; skipped: SkippedArtifact[] }> {
  const files: WalkedFile[] = [];
  const skipped: SkippedArtifact[] = [];
  const matches = (rel: string) => matchers.some((m) => m.matches(rel));
  const stack: string[] = [''];
  let seen = 0;
  while (stack.length > 0) {
    const dirRel = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(workspace, ...dirRel.split('/')), { withFileTypes: true });
    } catch {
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[] = [];
    for (const e of entries) {
      if (++seen > maxEntries) {
        skipped.push({
          path: dirRel || '.',
          reason: 'walk_limit',
          message: `The workspace has more than ${maxEntries} entries; the rest was not searched.`,
        });
        return { files, skipped };
      }
      const rel = dirRel === '' ? e.name : `${dirRel}/${e.name}`;
      if (dirRel === '' && privateTopLevel.has(e.name)) continue;
      if (e.isDirectory()) {
        subdirs.push(rel);
        continue;
      }
      if (!matches(rel)) continue;
      if (checkArtifactPath(rel) !== undefined) {
        skipped.push({
          path: rel,
          reason: 'unsupported_name',
          message: `The path ${checkArtifactPath(rel)}; it could not be downloaded.`,
        });
        continue;
      }
      const abs = path.join(workspace, ...rel.split('/'));
      if (e.isSymbolicLink()) {
        let real: string;
        try {
          real = await realpath(abs);
        } catch {
          skipped.push({ path: rel, reason: 'not_a_file', message: 'The symlink is dangling.' });
          continue;
        }
        if (!isStrictlyInside(real, workspace)) {
          skipped.push({
            path: rel,
            reason: 'symlink_outside',
            message: 'The symlink points outside the workspace.',
          });
          continue;
        }
        files.push({ relPath: rel, source: real });
        continue;
      }
      if (e.isFile()) files.push({ relPath: rel, source: abs });
      else
        skipped.push({
          path: rel,
          reason: 'not_a_file',
          message: 'Only regular files are collected.',
        });
    }
    // Reverse so popping visits subdirectories in name order.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  return { files, skipped };
}
