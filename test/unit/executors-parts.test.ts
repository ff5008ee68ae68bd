import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRetryAfter } from '../../src/nodes/errors.ts';
import { sumUsage } from '../../src/nodes/fan-out.ts';
import { LineSplitter } from '../../src/nodes/line-splitter.ts';
import { parseOutputFile } from '../../src/nodes/output-file.ts';

function split(chunks: (string | Buffer)[], maxChars?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), maxChars);
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('joins partial lines across chunks and ends CRLF lines cleanly', () => {
    assert.deepEqual(split(['ab', 'c\r', '\nd\n', '', 'e']), ['abc', 'd', 'e']);
    assert.deepEqual(split(['\n\n']), ['', '']);
    assert.deepEqual(split([]), []);
  });

  it('keeps a multi-byte character split across chunks whole', () => {
    const bytes = Buffer.from('héllo €\n', 'utf8');
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    assert.deepEqual(split(chunks), ['héllo €']);
  });

  it('cuts long lines with a marker and keeps the lines after them', () => {
    assert.deepEqual(split(['abcdefgh', 'ij\r\nnext\n'], 4), [
      'abcd … [line truncated: 6 more characters]',
      'next',
    ]);
    // Exactly at the cap is not truncated, CRLF included.
    assert.deepEqual(split(['abcd\r\n'], 4), ['abcd']);
  });
});

describe('parseOutputFile', () => {
  it('reads key=value and heredoc blocks, CRLF included, later keys winning', () => {
    const { outputs, problems } = parseOutputFile(
      'a=1\r\nb=x=y\nempty=\nmulti<<END\nl1\r\nl2\nEND\na=2\n',
    );
    assert.deepEqual(outputs, { a: '2', b: 'x=y', empty: '', multi: 'l1\nl2' });
    assert.deepEqual(problems, []);
  });

  it('reports bad keys, bad lines and an unterminated block', () => {
    const { outputs, problems } = parseOutputFile('9x=1\njunk\nok=1\nm<<EOF\nnever closed\n');
    assert.deepEqual(outputs, { ok: '1' });
    assert.equal(problems.length, 3);
    assert.match(problems[0]!, /line 1: ignored key "9x"/);
    assert.match(problems[1]!, /line 2: ignored/);
    assert.match(problems[2]!, /line 4: no closing "EOF"/);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP-dates', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});

describe('sumUsage', () => {
  it('adds seconds and tokens and names the model when there is one', () => {
    assert.equal(sumUsage([undefined]), undefined);
    assert.deepEqual(
      sumUsage([
        { runtimeSeconds: 1.5 },
        { model: 'm', promptTokens: 3, completionTokens: 1 },
        { model: 'm', promptTokens: 2, completionTokens: 2 },
      ]),
      { runtimeSeconds: 1.5, promptTokens: 5, completionTokens: 3, model: 'm' },
    );
  });
});
