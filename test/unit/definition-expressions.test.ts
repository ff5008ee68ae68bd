import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  celError,
  conditionSource,
  findExpressionSpans,
  isDuration,
  parseDuration,
} from '../../src/definition/index.ts';

describe('durations', () => {
  it('parses unit sequences in descending order', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('15m'), 900_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration('1m30s250ms'), 90_250);
  });
  it('rejects everything else', () => {
    for (const bad of [
      '',
      '5',
      '1.5h',
      '30m1h',
      '1h1h',
      '-1s',
      '1 h',
      '1H',
      'PT1H',
      '1w',
      `${'9'.repeat(20)}s`,
      'm',
      'ms',
    ]) {
      assert.equal(isDuration(bad), false, bad);
    }
  });
});

describe('expressions', () => {
  it('finds ${{ }} spans, skipping braces and strings inside', () => {
    const text = `a \${{ x }} b \${{ {'k': "}}"}.k }} c`;
    assert.deepEqual(
      findExpressionSpans(text).spans.map((s) => s.expr),
      ['x', `{'k': "}}"}.k`],
    );
    assert.deepEqual(findExpressionSpans('no spans here').spans, []);
    assert.match(findExpressionSpans('x ${{ open').error ?? '', /unterminated/);
  });

  it('takes conditions bare or wrapped in one ${{ }}', () => {
    assert.deepEqual(conditionSource('a == 1'), { expr: 'a == 1' });
    assert.deepEqual(conditionSource(' ${{ a == 1 }} '), { expr: 'a == 1' });
    assert.ok('error' in conditionSource('${{ a }} && ${{ b }}'));
  });

  it('reports CEL parse errors on one line', () => {
    assert.equal(celError('params.x > 1 && "s".size() == 1'), undefined);
    const error = celError('a +');
    assert.ok(error !== undefined && !error.includes('\n'));
    assert.ok(celError('   ') !== undefined);
  });
});
