/**
 * How long a `yard` call takes to start: `yard --version` through the compiled bin (bin/yard.js,
 * which runs dist/), a fresh node process each run, as a shell or script runs it. The same through
 * tsx on src/ (how the bin ran before it was compiled) is printed beside it for comparison.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { summarize } from './stats.ts';

const root = path.resolve(import.meta.dirname, '..');
const runs = 20;
// Outside the repository, as a user's shell would be.
const cwd = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-cli-'));

function time(args: string[]): number[] {
  const ms: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now();
    const res = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
    const elapsed = performance.now() - t0;
    if (res.status !== 0) throw new Error(`${args.join(' ')} exited ${res.status}: ${res.stderr}`);
    // The first two warm the page cache (and build dist/ if it is stale).
    if (i >= 2) ms.push(elapsed);
  }
  return ms;
}

try {
  const compiled = summarize(time([path.join(root, 'bin/yard.js'), '--version']));
  const viaTsx = summarize(
    // tsx by its file URL: the cwd outside the repository has no node_modules.
    time(['--import', import.meta.resolve('tsx'), path.join(root, 'src/cli/main.ts'), '--version']),
  );
  process.stdout.write(
    `${JSON.stringify({
      bench: 'cli-start',
      command: 'yard --version',
      runs,
      p50_ms: compiled.p50_ms,
      p99_ms: compiled.p99_ms,
      tsx_p50_ms: viaTsx.p50_ms,
      tsx_p99_ms: viaTsx.p99_ms,
    })}\n`,
  );
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
