/**
 * Where artifact content lives, behind one small interface: the data directory
 * (`file-store.ts`, the default on SQLite), the database (`database-store.ts`, the default on
 * PostgreSQL, so every server of a scale-out deployment reads what any of them collected), and
 * later an object store. A record names its content by `blobId`: null for a file in the data
 * directory, else the blob's id in the store that wrote it.
 */
import type { Readable } from 'node:stream';
import type { Db } from '../../store/db.ts';

/** Bytes `start` to `end` of a file, both inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What a store wrote: the size and how the record names it. */
interface StoredContent {
  size: number;
  blobId: string | null;
}

/**
 * Records the content just written. A store that writes in a database transaction passes it as
 * `within`, so the record and the content commit together; otherwise the caller's own handle is
 * used.
 */
export type RecordContent<V> = (stored: StoredContent, within?: Db) => Promise<V>;

/** Content opened for reading. */
export interface OpenedContent {
  /** Streams the whole content or a range of it; the stream releases what it holds when it ends. */
  stream(range?: ByteRange): Readable;
  /** Releases what `open` took when no stream is taken (304, 416). */
  close(): Promise<void>;
}

export interface ArtifactContentStore {
  /**
   * Writes the content `source` yields as the artifact `relPath` of the execution, then calls
   * `record`. When `source` throws, nothing is kept and the error propagates.
   */
  put<V>(
    executionId: string,
    relPath: string,
    source: AsyncIterable<Buffer>,
    record: RecordContent<V>,
  ): Promise<V>;
  /** Opens stored content of `size` bytes (as recorded); undefined when it is missing. */
  open(
    executionId: string,
    relPath: string,
    blobId: string | null,
    size: number,
  ): Promise<OpenedContent | undefined>;
  /** Deletes one artifact's content; returns the bytes freed (0 when already gone). */
  remove(executionId: string, relPath: string, blobId: string | null): Promise<number>;
  /** Deletes all content of these executions. */
  removeExecutions(executionIds: string[]): Promise<void>;
  /** Removes what interrupted writes left behind. */
  clearStale(): Promise<void>;
}
