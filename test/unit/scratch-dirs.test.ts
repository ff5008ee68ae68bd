/**
 * A test file leaves nothing in the temp directory (test/helpers/scratch.ts): run under a
 * private TMPDIR, the directory is empty afterwards but for tsx's compile cache.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');

describe('temporary directories of tests', () => {
  for (const file of ['test/unit/config.test.ts']) {
    it(`${file} removes what it creates`, async () => {
      const tmp = mkdtempSync(path.join(tmpdir(), 'sy-scratch-check-'));
      try {
        const code = await new Promise<number | null>((resolve) => {
          const child = execFile(
            process.execPath,
            ['--import', 'tsx', '--test', file],
            { cwd: root, env: { ...process.env, TMPDIR: tmp } },
            () => undefined,
          );
          child.on('exit', resolve);
        });
        assert.equal(code, 0);
        const left = readdirSync(tmp).filter((n) => !n.startsWith('tsx-'));
        assert.deepEqual(left, []);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  }
});
