/**
 * The artifact content of a server: new copies go to the configured store, and each record is
 * read and deleted where its `blobId` says it is (null: the data directory), so artifacts
 * collected before a change of store stay readable. Work on one execution's content
 * (collections, reaping) runs one at a time in this process, so the execution cap holds and the
 * reaper never deletes content a collection just replaced.
 */
import type { Db } from '../../store/db.ts';
import type { ArtifactContentStore, OpenedContent, RecordContent } from './content-store.ts';
import { DatabaseContentStore } from './database-store.ts';
import { FileContentStore } from './file-store.ts';

/** Where new artifact content is written: the data directory or the database. */
export type ArtifactStoreKind = 'files' | 'database';

export class ArtifactStorage {
  readonly files: FileContentStore;
  private readonly database: DatabaseContentStore;
  private readonly writer: ArtifactContentStore;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(opts: { dataDir: string; db: Db; store: ArtifactStoreKind; chunkBytes?: number }) {
    this.files = new FileContentStore(opts.dataDir);
    this.database = new DatabaseContentStore(opts.db, opts.chunkBytes);
    this.writer = opts.store === 'database' ? this.database : this.files;
  }

  /** Runs `fn` after the work on this execution's content queued before it. */
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

  put<V>(
    executionId: string,
    relPath: string,
    source: AsyncIterable<Buffer>,
    record: RecordContent<V>,
  ): Promise<V> {
    return this.writer.put(executionId, relPath, source, record);
  }

  open(
    executionId: string,
    relPath: string,
    blobId: string | null,
    size: number,
  ): Promise<OpenedContent | undefined> {
    return this.storeOf(blobId).open(executionId, relPath, blobId, size);
  }

  remove(executionId: string, relPath: string, blobId: string | null): Promise<number> {
    return this.storeOf(blobId).remove(executionId, relPath, blobId);
  }

  /** Deletes the content of these executions from every store. */
  async removeExecutions(executionIds: string[]): Promise<void> {
    await this.files.removeExecutions(executionIds);
    await this.database.removeExecutions(executionIds);
  }

  async clearStale(): Promise<void> {
    await this.files.clearStale();
    await this.database.clearStale();
  }

  private storeOf(blobId: string | null): ArtifactContentStore {
    return blobId === null ? this.files : this.database;
  }
}

/** The `artifactStore` setting on a dialect: `auto` is the database on PostgreSQL. */
export function artifactStoreOf(
  setting: string,
  dialect: 'sqlite' | 'postgres',
): ArtifactStoreKind {
  if (setting === 'database' || setting === 'files') return setting;
  return dialect === 'postgres' ? 'database' : 'files';
}
