/**
 * The compiled bins (`bin/switchyard.js`, `bin/yard.js`, which run dist/) in tests: dist/ is
 * brought up to date once per test process, before any of them is spawned, so no spawned bin
 * compiles inside a test's timeout and every test runs the code as built from the current src/.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const switchyardBin = path.join(repoRoot, 'bin/switchyard.js');
export const yardBin = path.join(repoRoot, 'bin/yard.js');

let built = false;

/** Runs `node scripts/build.js --if-stale` (it locks against parallel test files). */
export function ensureBuilt(): void {
  if (built) return;
  const res = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/build.js'), '--if-stale'], {
    cwd: repoRoot,
    encoding: 'utf8',
    // tsc reports on stdout, which node:test reads as the test file's own output.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (res.status !== 0) throw new Error(`building dist/ failed:\n${res.stdout}\n${res.stderr}`);
  built = true;
}
