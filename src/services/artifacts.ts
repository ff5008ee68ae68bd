/**
 * Artifacts (DESIGN §6): files of an execution's workspace selected by `artifacts:` globs, copied
 * into the artifact content store (the database on PostgreSQL, `<dataDir>/artifacts/<execId>/`
 * on SQLite) with size, sha256 and content type, listed and downloaded through the API, and
 * deleted by the reaper when their retention ends. The content stores, collection and the
 * reaper are `src/runtime/artifacts/`; this service keeps the records (through the store) and
 * the API's view of them.
 */
import type { Readable } from 'node:stream';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import { type SkippedArtifact, collectWorkspace } from '../runtime/artifacts/collect.ts';
import type { ByteRange } from '../runtime/artifacts/content-store.ts';
import { execDirName } from '../runtime/artifacts/file-store.ts';
import { checkArtifactPath, contentTypeOf } from '../runtime/artifacts/paths.ts';
import { reapExpired, startReaper } from '../runtime/artifacts/reaper.ts';
import { ArtifactStorage, type ArtifactStoreKind } from '../runtime/artifacts/storage.ts';
import * as artifactsSql from '../store/artifacts.ts';
import type { ArtifactRow } from '../store/artifacts.ts';
import type { Database } from '../store/db.ts';
import { getExecution } from '../store/executions.ts';
import type { Clock } from '../clock.ts';
import type { ArtifactView } from '../wire/artifacts.ts';

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
  /** A path with the execution's secret values masked; a file whose path changes is skipped. */
  maskPath?: (relPath: string) => string;
}

export interface CollectResult {
  collected: ArtifactView[];
  skipped: SkippedArtifact[];
}

/** An artifact opened for download. */
export interface OpenedArtifact {
  view: ArtifactView;
  /** Streams the whole file or a range of it; the stream releases what it holds when it ends. */
  stream(range?: ByteRange): Readable;
  /** Releases the opened content when no stream is taken (304, 416). */
  close(): Promise<void>;
}

export interface ArtifactServiceOptions {
  dataDir: string;
  /** Where new content is written; default `files` (the server's choice is `artifactStore`). */
  store?: ArtifactStoreKind;
  /** Chunk size of the database store (tests make it small). */
  chunkBytes?: number;
  /** Largest single file collected; default 100 MiB. */
  maxFileBytes?: number;
  /** Most bytes one execution may store; default 1 GiB. */
  maxExecutionBytes?: number;
  /** Most directory entries one collection walks; default 100,000. */
  maxWalkEntries?: number;
}

const defaultRetentionHours = 24;
const defaultMaxArtifactFileBytes = 100 * 1024 * 1024;
const defaultMaxArtifactExecutionBytes = 1024 * 1024 * 1024;

export class ArtifactService {
  private readonly content: ArtifactStorage;
  private readonly maxFileBytes: number;
  private readonly maxExecutionBytes: number;
  private readonly maxWalkEntries: number;

  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    opts: ArtifactServiceOptions,
  ) {
    this.content = new ArtifactStorage({
      dataDir: opts.dataDir,
      db: database.db,
      store: opts.store ?? 'files',
      ...(opts.chunkBytes !== undefined && { chunkBytes: opts.chunkBytes }),
    });
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
    return this.content.exclusive(input.executionId, () => this.collectNow(input));
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
    const opened = await this.content.open(executionId, relPath, row.blob_id, view.size);
    if (opened === undefined)
      throw new AppError('ERR_ARTIFACT_NOT_FOUND', {
        message:
          row.blob_id === null
            ? `The file of artifact ${relPath} is missing from the data directory.`
            : `The content of artifact ${relPath} is missing from the database.`,
        context: { executionId, path: relPath },
      });
    return { view, stream: (range) => opened.stream(range), close: () => opened.close() };
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
    const db = this.database.db;
    return reapExpired(
      this.content,
      {
        listExpired: (at, limit) => artifactsSql.listExpired(db, at, limit),
        markDeleted: (id, at) => artifactsSql.markDeleted(db, id, at),
      },
      now,
    );
  }

  /** Runs `reap` every `intervalMs` (unref'd timer, runs never overlap); returns a stop function. */
  startReaper(intervalMs: number, onError: (err: unknown) => void = () => {}): () => Promise<void> {
    return startReaper(() => this.reap(), intervalMs, onError);
  }

  /** Deletes an execution's artifact rows and content. */
  async deleteExecution(executionId: string): Promise<void> {
    await artifactsSql.deleteByExecutions(this.database.db, [executionId]);
    await this.removeFiles([executionId]);
  }

  /** Removes the artifact content of executions whose rows are already gone. */
  async removeFiles(executionIds: string[]): Promise<void> {
    await this.content.removeExecutions(executionIds);
  }

  /** Collection with the records kept in the store; rows take the execution's real workflow. */
  private async collectNow(input: CollectInput): Promise<CollectResult> {
    const db = this.database.db;
    return collectWorkspace(
      this.content,
      {
        maxFileBytes: this.maxFileBytes,
        maxExecutionBytes: this.maxExecutionBytes,
        maxWalkEntries: this.maxWalkEntries,
      },
      input,
      {
        find: () => getExecution(db, input.executionId),
        open: async (execution) => {
          const stored = new Map<string, number>();
          for (const r of await artifactsSql.listArtifacts(db, input.executionId))
            if (r.deleted_at === null) stored.set(r.path, Number(r.size));
          const now = this.clock.now();
          const retention =
            input.retentionHours !== undefined &&
            Number.isFinite(input.retentionHours) &&
            input.retentionHours > 0
              ? input.retentionHours
              : defaultRetentionHours;
          const createdAt = now.toISOString();
          const expiresAt = new Date(
            now.getTime() + Math.round(retention * 3_600_000),
          ).toISOString();
          return {
            stored,
            record: async (file, within = db) => {
              const row = await artifactsSql.upsertArtifact(within, {
                id: newId('art', now.getTime()),
                execution_id: input.executionId,
                workflow_id: execution.workflow_id,
                node_id: input.nodeId,
                path: file.relPath,
                size: file.size,
                sha256: file.sha256,
                content_type: contentTypeOf(file.relPath),
                created_at: createdAt,
                expires_at: expiresAt,
                deleted_at: null,
                blob_id: file.blobId,
              });
              return toView(row, createdAt);
            },
          };
        },
      },
    );
  }

  private async requireExecution(workflowId: string, executionId: string): Promise<void> {
    const row = await getExecution(this.database.db, executionId);
    if (!row || row.workflow_id !== workflowId)
      throw new AppError('ERR_EXECUTION_NOT_FOUND', {
        message: `Workflow ${workflowId} has no execution ${executionId}.`,
        context: { workflowId, executionId },
      });
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
