import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { engineErrorCodes } from '../../src/engine/errors.ts';
import { errorCodes } from '../../src/errors.ts';
import { nodeErrorCodes } from '../../src/nodes/errors.ts';

const root = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

describe('node and execution error codes', () => {
  it('docs/engine.md lists exactly the engine and executor catalogs', () => {
    const doc = readFileSync(path.join(root, 'docs/engine.md'), 'utf8');
    const section = (doc.split('\n## Node error codes\n')[1] ?? '').split('\n## ')[0]!;
    const documented = new Set(section.match(/\bERR_[A-Z_]+\b/g) ?? []);
    assert.deepEqual(
      [...documented].sort(),
      [...new Set([...engineErrorCodes, ...nodeErrorCodes])].sort(),
    );
  });

  it('every code the engine, the worker, executors and runtimes write is in a catalog', () => {
    const known = new Set<string>([...engineErrorCodes, ...nodeErrorCodes, ...errorCodes]);
    const unknown: string[] = [];
    for (const dir of ['src/engine', 'src/worker', 'src/nodes', 'src/runtime'])
      for (const file of sourceFiles(dir))
        for (const [, code] of readFileSync(file, 'utf8').matchAll(/['"`](ERR_[A-Z_]+)['"`]/g))
          if (!known.has(code!)) unknown.push(`${path.relative(root, file)}: ${code}`);
    assert.deepEqual(unknown, []);
  });

  it('has one code per meaning', () => {
    for (const gone of ['ERR_NODE_CANCELLED', 'ERR_NODE_CRASH'])
      assert.ok(![...engineErrorCodes, ...nodeErrorCodes].includes(gone as never), gone);
    const overlap = engineErrorCodes.filter(
      (c) => (nodeErrorCodes as string[]).includes(c) && c !== 'ERR_CANCELLED',
    );
    assert.deepEqual(overlap, []);
  });
});
