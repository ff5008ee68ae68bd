/**
 * The artifact reaper: deletes the content of artifacts whose retention ended and tombstones their
 * records (they stay, so downloads answer 410). The records are reached through `ReaperLedger`,
 * which the artifact service implements over the store: runtime/ touches no SQL.
 */
import type { ArtifactStorage } from './storage.ts';

/** An artifact record as the reaper needs it. */
interface ExpiredArtifact {
  id: string;
  execution_id: string;
  path: string;
  blob_id: string | null;
}

export interface ReaperLedger {
  /** Up to `limit` live records whose retention ended by `at`, oldest expiry first. */
  listExpired(at: string, limit: number): Promise<ExpiredArtifact[]>;
  /** Tombstones a record (compare-and-set on its expiry); false when it was renewed or gone. */
  markDeleted(id: string, at: string): Promise<boolean>;
}

/**
 * Deletes the content of artifacts whose retention ended by `now` and tombstones their records.
 * `freedBytes` counts the bytes removed.
 */
export async function reapExpired(
  content: ArtifactStorage,
  ledger: ReaperLedger,
  now: Date,
): Promise<{ deleted: number; freedBytes: number }> {
  const at = now.toISOString();
  let deleted = 0;
  let freedBytes = 0;
  for (;;) {
    // Every listed row is tombstoned or was renewed, so no row comes back and this ends.
    const rows = await ledger.listExpired(at, 500);
    if (rows.length === 0) break;
    for (const r of rows) {
      await content.exclusive(r.execution_id, async () => {
        // Tombstone first (compare-and-set on the expiry), so a row a collection renewed
        // meanwhile keeps its new file.
        if (!(await ledger.markDeleted(r.id, at))) return;
        deleted++;
        // A file already gone, or not removable, frees nothing: the row is a tombstone (410).
        freedBytes += await content.remove(r.execution_id, r.path, r.blob_id);
      });
    }
  }
  await content.clearStale();
  return { deleted, freedBytes };
}

/** Runs `reap` every `intervalMs` (unref'd timer, runs never overlap); returns a stop function. */
export function startReaper(
  reap: () => Promise<unknown>,
  intervalMs: number,
  onError: (err: unknown) => void = () => {},
): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = reap()
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
