/**
 * Temporary directories of a test process, removed when it exits (also when a test failed before
 * its own cleanup ran), so a run leaves nothing under the temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const made = new Set<string>();
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** `mkdtemp` under the temp directory (or `parent`), removed at the latest when the process exits. */
export function scratchDir(prefix: string, parent = tmpdir()): string {
  const dir = mkdtempSync(path.join(parent, prefix));
  made.add(dir);
  return dir;
}
