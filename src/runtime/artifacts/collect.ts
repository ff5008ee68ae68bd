/**
 * Artifact collection (DESIGN §6): the files of an execution's workspace selected by
 * `artifacts:` globs, copied into the content store with size and sha256. The records are written
 * through `CollectLedger`, which the artifact service implements over the store: runtime/
 * touches no SQL.
 *
 * Safety: globs with '..' or an absolute start are refused; the walk never descends into a
 * symlinked directory; a symlink to a file is collected (under the link's path) only when its
 * real path is inside the workspace, otherwise it is skipped as `symlink_outside`; every source
 * is opened with O_NOFOLLOW | O_NONBLOCK and checked again after opening (the open descriptor's
 * real path must be inside the workspace and it must be a regular file), so a process swapping
 * files during collection cannot make it read outside the workspace or hang on a FIFO.
 */
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { isUnavailable } from '../../errors.ts';
import { checkGlob, compileGlob, type CompiledGlob } from '../../glob.ts';
import type { Db } from '../../store/db.ts';
import { isStrictlyInside, openInWorkspace } from '../workspace-files.ts';
import { checkArtifactPath } from './paths.ts';
import type { ArtifactStorage } from './storage.ts';

/** Why a file matched by a glob (or a glob itself) was not collected. */
type ArtifactSkipReason =
  | 'glob_refused'
  | 'symlink_outside'
  | 'not_a_file'
  | 'unsupported_name'
  | 'file_too_large'
  | 'execution_cap'
  | 'walk_limit'
  | 'io_error'
  | 'secret_in_path';

export interface SkippedArtifact {
  /** The file's relative path, or the glob for `glob_refused`. */
  path: string;
  reason: ArtifactSkipReason;
  message: string;
}

export interface CollectLimits {
  /** Largest single file collected. */
  maxFileBytes: number;
  /** Most bytes one execution may store. */
  maxExecutionBytes: number;
  /** Most directory entries one collection walks. */
  maxWalkEntries: number;
}

/** A workspace file copied into the content store. */
interface CopiedFile {
  relPath: string;
  size: number;
  sha256: string;
  /** Where the store put it (null: the data directory). */
  blobId: string | null;
}

/** What collection needs of the artifact records; `E` is the execution as the records know it. */
export interface CollectLedger<E, V> {
  /** The execution, or undefined when it is gone: nothing is stored for it. */
  find(): Promise<E | undefined>;
  /** The sizes of the execution's live artifacts by path, and how to record a copied file. */
  open(execution: E): Promise<{
    stored: Map<string, number>;
    /** Records a copy; `within` is the content store's transaction when it has one. */
    record: (file: CopiedFile, within?: Db) => Promise<V>;
  }>;
}

/** Workspace entries never collected: the engine's own bookkeeping. */
const privateTopLevel = new Set(['.switchyard']);

/**
 * Copies the workspace files matching `globs` into the content store and records them. Files
 * that cannot be taken are listed in `skipped` with the reason; nothing here throws for a bad
 * workspace file or glob. The caller holds the execution's turn (`content.exclusive`).
 */
export async function collectWorkspace<E, V>(
  content: ArtifactStorage,
  limits: CollectLimits,
  input: {
    executionId: string;
    hostWorkspace: string;
    globs: string[];
    /** A path with a secret's value masked (`***`); one that changes is not collected. */
    maskPath?: (relPath: string) => string;
  },
  ledger: CollectLedger<E, V>,
): Promise<{ collected: V[]; skipped: SkippedArtifact[] }> {
  const collected: V[] = [];
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
  // Nothing is stored for an execution deleted meanwhile.
  const execution = await ledger.find();
  if (execution === undefined) return { collected, skipped };

  let workspace: string;
  try {
    workspace = await realpath(input.hostWorkspace);
    if (!(await stat(workspace)).isDirectory()) return { collected, skipped };
  } catch {
    return { collected, skipped };
  }

  const { stored, record } = await ledger.open(execution);
  let total = [...stored.values()].reduce((a, b) => a + b, 0);

  const walk = await walkWorkspace(workspace, matchers, limits.maxWalkEntries);
  skipped.push(...walk.skipped);
  for (const file of walk.files) {
    const masked = input.maskPath?.(file.relPath) ?? file.relPath;
    if (masked !== file.relPath) {
      // Its listing would show the value, and the path is its name for downloads.
      skipped.push({
        path: masked,
        reason: 'secret_in_path',
        message: "The path holds a secret's value.",
      });
      continue;
    }
    const budget = Math.min(
      limits.maxFileBytes,
      limits.maxExecutionBytes - (total - (stored.get(file.relPath) ?? 0)),
    );
    let size = 0;
    const copied = await copyIn(
      content,
      limits,
      workspace,
      file,
      input.executionId,
      budget,
      (f, within) => {
        size = f.size;
        return record(f, within);
      },
    );
    if (isSkip(copied)) {
      skipped.push(copied.skip);
      continue;
    }
    total += size - (stored.get(file.relPath) ?? 0);
    stored.set(file.relPath, size);
    collected.push(copied);
  }
  return { collected, skipped };
}

/** Why a copy stopped part way: the file grew past a cap while it was read. */
class CopyRefused extends Error {
  constructor(readonly reason: ArtifactSkipReason) {
    super(reason);
  }
}

/**
 * Copies one workspace file into the content store, hashing it as it streams, and records it
 * (in the store's transaction when it has one). A failure to read or store the file is a skip;
 * a failure to record it is thrown.
 */
async function copyIn<V>(
  content: ArtifactStorage,
  limits: CollectLimits,
  workspace: string,
  file: WalkedFile,
  executionId: string,
  budget: number,
  record: (file: CopiedFile, within?: Db) => Promise<V>,
): Promise<V | { skip: SkippedArtifact }> {
  const skip = (reason: ArtifactSkipReason, message: string) => ({
    skip: { path: file.relPath, reason, message },
  });
  const opened = await openInWorkspace(workspace, file.source);
  if ('refused' in opened) {
    if (opened.refused === 'symlink') return skip('symlink_outside', 'The file became a symlink.');
    if (opened.refused === 'outside') return skip('symlink_outside', opened.message);
    if (opened.refused === 'not_a_file')
      return skip('not_a_file', 'Only regular files are collected.');
    return skip('io_error', opened.message);
  }
  const { handle } = opened;
  let recording = false;
  try {
    if (opened.size > limits.maxFileBytes)
      return skip(
        'file_too_large',
        `The file has ${opened.size} bytes; the limit per file is ${limits.maxFileBytes}.`,
      );
    if (opened.size > budget)
      return skip(
        'execution_cap',
        `The file has ${opened.size} bytes; the execution may store ${limits.maxExecutionBytes} bytes in all.`,
      );
    const hash = createHash('sha256');
    async function* pieces(): AsyncGenerator<Buffer> {
      const buf = Buffer.allocUnsafe(64 * 1024);
      let size = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        if (bytesRead === 0) return;
        size += bytesRead;
        if (size > budget)
          throw new CopyRefused(size > limits.maxFileBytes ? 'file_too_large' : 'execution_cap');
        const piece = buf.subarray(0, bytesRead);
        hash.update(piece);
        yield piece;
      }
    }
    return await content.put(executionId, file.relPath, pieces(), (stored, within) => {
      recording = true;
      const copied = { relPath: file.relPath, sha256: hash.digest('hex'), ...stored };
      return record(copied, within);
    });
  } catch (err) {
    // The store's database is away (the content store writes into it): the whole collection is
    // retried once it is back, rather than the file dropped as unreadable.
    if (recording || isUnavailable(err)) throw err;
    if (err instanceof CopyRefused)
      return err.reason === 'file_too_large'
        ? skip(
            'file_too_large',
            `The file grew past the limit per file of ${limits.maxFileBytes} bytes.`,
          )
        : skip(
            'execution_cap',
            `The file grew past the execution's limit of ${limits.maxExecutionBytes} bytes.`,
          );
    const code = (err as NodeJS.ErrnoException).code;
    return skip('io_error', `The file cannot be stored (${code ?? (err as Error).message}).`);
  } finally {
    await handle.close().catch(() => {});
  }
}

function isSkip<V>(r: V | { skip: SkippedArtifact }): r is { skip: SkippedArtifact } {
  return typeof r === 'object' && r !== null && 'skip' in r;
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
