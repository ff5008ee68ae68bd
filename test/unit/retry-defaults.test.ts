/** The retry defaults the docs show are the ones the engine uses (one definition). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultRetryPolicy } from '../../src/engine/retry-policy.ts';
import { describe, it } from '../helpers/suite.ts';

const docs = path.resolve(import.meta.dirname, '../../docs');

/** The default column of a markdown table's rows keyed by a retry field, backticks removed. */
function documentedDefaults(file: string, column: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(docs, file), 'utf8').split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim().replaceAll('`', ''));
    const field = cells[1];
    if (
      field !== undefined &&
      ['max_attempts', 'backoff', 'initial_interval', 'max_interval', 'jitter'].includes(field) &&
      !(field in out)
    )
      out[field] = cells[column] ?? '';
  }
  return out;
}

const seconds = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);

describe('retry defaults', () => {
  const expected = {
    max_attempts: String(defaultRetryPolicy.maxAttempts),
    backoff: defaultRetryPolicy.backoff,
    initial_interval: seconds(defaultRetryPolicy.initialIntervalMs),
    max_interval: seconds(defaultRetryPolicy.maxIntervalMs),
  };

  it('docs/workflow-yaml.md shows the engine defaults', () => {
    const d = documentedDefaults('workflow-yaml.md', 3);
    assert.deepEqual({ ...d, jitter: undefined }, { ...expected, jitter: undefined });
    assert.equal(d.jitter, defaultRetryPolicy.jitter === 0 ? 'false' : 'true');
  });

  it('docs/engine.md shows the engine defaults', () => {
    const d = documentedDefaults('engine.md', 2);
    assert.deepEqual({ ...d, jitter: undefined }, { ...expected, jitter: undefined });
    assert.equal(d.jitter, defaultRetryPolicy.jitter === 0 ? 'off' : 'on');
  });
});
