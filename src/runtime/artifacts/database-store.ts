/**
 * Artifact content in the database, shared by every server on it (the default on PostgreSQL).
 * A file is a blob of chunks of `chunkBytes` keyed by the byte offset each starts at. A copy is
 * a new blob written in one transaction together with its record, and the blob it replaces is
 * deleted in that transaction: a half-written copy is never visible, and a crash leaves nothing
 * behind. Reads go chunk by chunk, one statement each, and a range reads only the chunks it
 * overlaps; nothing holds a whole file in memory. The SQL is `src/store/artifact-chunks.ts`.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as chunksSql from '../../store/artifact-chunks.ts';
import type { Db } from '../../store/db.ts';
import type {
  ArtifactContentStore,
  ByteRange,
  OpenedContent,
  RecordContent,
} from './content-store.ts';

/** Size of the chunks a file is cut into. */
const defaultChunkBytes = 256 * 1024;

export class DatabaseContentStore implements ArtifactContentStore {
  constructor(
    private readonly db: Db,
    private readonly chunkBytes = defaultChunkBytes,
  ) {}

  async put<V>(
    executionId: string,
    relPath: string,
    source: AsyncIterable<Buffer>,
    record: RecordContent<V>,
  ): Promise<V> {
    const blobId = `blob_${randomBytes(12).toString('hex')}`;
    return chunksSql.inBlobTransaction(this.db, async (trx) => {
      let offset = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (bytes: number) => {
        const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        const data = all.subarray(0, bytes);
        await chunksSql.insertChunk(trx, {
          execution_id: executionId,
          blob_id: blobId,
          byte_offset: offset,
          data: Buffer.from(data),
        });
        offset += bytes;
        const rest = all.subarray(bytes);
        pending = rest.length > 0 ? [Buffer.from(rest)] : [];
        pendingBytes = rest.length;
      };
      for await (const piece of source) {
        if (piece.length === 0) continue;
        // The source may reuse its buffer, so the piece is copied before it is kept.
        pending.push(Buffer.from(piece));
        pendingBytes += piece.length;
        while (pendingBytes >= this.chunkBytes) await flush(this.chunkBytes);
      }
      // Every blob has a chunk at 0 (an empty file's is empty), which marks it as present.
      if (pendingBytes > 0 || offset === 0) await flush(pendingBytes);
      const previous = await chunksSql.blobOfArtifact(trx, executionId, relPath);
      const recorded = await record({ size: offset, blobId }, trx);
      if (previous?.blob_id != null && previous.blob_id !== blobId)
        await chunksSql.deleteBlob(trx, executionId, previous.blob_id);
      return recorded;
    });
  }

  async open(
    executionId: string,
    _relPath: string,
    blobId: string | null,
    size: number,
  ): Promise<OpenedContent | undefined> {
    if (blobId === null || !(await chunksSql.blobExists(this.db, executionId, blobId)))
      return undefined;
    return {
      stream: (range) =>
        Readable.from(this.read(executionId, blobId, range ?? { start: 0, end: size - 1 })),
      close: () => Promise.resolve(),
    };
  }

  async remove(executionId: string, _relPath: string, blobId: string | null): Promise<number> {
    if (blobId === null) return 0;
    return chunksSql.deleteBlob(this.db, executionId, blobId);
  }

  async removeExecutions(executionIds: string[]): Promise<void> {
    await chunksSql.deleteChunksOfExecutions(this.db, executionIds);
  }

  /** Nothing to clear: an interrupted copy's transaction rolled back. */
  clearStale(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * The bytes of a range, chunk by chunk as the reader pulls. A chunk missing midway
   * (the artifact was replaced or reaped during the download) ends the stream with an error
   * rather than a short or mixed file.
   */
  private async *read(
    executionId: string,
    blobId: string,
    { start, end }: ByteRange,
  ): AsyncGenerator<Buffer> {
    if (end < start) return; // an empty file
    const first = await chunksSql.chunkHolding(this.db, executionId, blobId, start);
    if (first === undefined) throw missingChunk(executionId, blobId, start);
    let offset = first.byte_offset;
    let data: Buffer | undefined = first.data;
    for (;;) {
      const from = Math.max(0, start - offset);
      const to = Math.min(data.length, end - offset + 1);
      if (to > from) yield data.subarray(from, to);
      offset += data.length;
      if (offset > end || data.length === 0) return;
      data = await chunksSql.chunkAt(this.db, executionId, blobId, offset);
      if (data === undefined) throw missingChunk(executionId, blobId, offset);
    }
  }
}

function missingChunk(executionId: string, blobId: string, offset: number): Error {
  return new Error(
    `artifact content ${blobId} of execution ${executionId} has no chunk at byte ${offset}`,
  );
}
