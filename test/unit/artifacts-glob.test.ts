/** The glob matcher used for `artifacts:` patterns, and the artifact path and glob checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkGlob, compileGlob, matchSteps, normalizeGlob } from '../../src/glob.ts';
import { checkArtifactPath, contentTypeOf } from '../../src/runtime/artifacts/paths.ts';

const yes = (glob: string, ...paths: string[]) => {
  const g = compileGlob(glob);
  for (const p of paths) assert.ok(g.matches(p), `${glob} should match ${p}`);
};
const no = (glob: string, ...paths: string[]) => {
  const g = compileGlob(glob);
  for (const p of paths) assert.ok(!g.matches(p), `${glob} should not match ${p}`);
};

describe('glob matcher', () => {
  it('matches literal paths exactly', () => {
    yes('coverage.out', 'coverage.out');
    no('coverage.out', 'coverage.outx', 'xcoverage.out', 'dir/coverage.out', 'coverage_out');
    yes('a+b(c)|d^$.txt', 'a+b(c)|d^$.txt');
    no('a.txt', 'abtxt');
  });

  it('* matches within one segment only', () => {
    yes('*.txt', 'a.txt', '.txt', 'long name.txt', '.hidden.txt');
    no('*.txt', 'dir/a.txt', 'a.txt/b', 'a.txtx');
    yes('reports/*.json', 'reports/a.json', 'reports/.json');
    no('reports/*.json', 'reports/sub/a.json', 'reports.json', 'x/reports/a.json');
    yes('a*b*c', 'abc', 'aXbYc', 'abbbc');
    no('a*b*c', 'a/b/c', 'acb');
    yes('*', 'anything');
    no('*', 'a/b');
  });

  it('? matches one character but /', () => {
    yes('file?.log', 'file1.log', 'filex.log');
    no('file?.log', 'file.log', 'file12.log', 'file/.log');
  });

  it('[...] classes: sets, ranges, negation, never /', () => {
    yes('[abc].txt', 'a.txt', 'c.txt');
    no('[abc].txt', 'd.txt', 'ab.txt');
    yes('log[0-9].txt', 'log0.txt', 'log9.txt');
    no('log[0-9].txt', 'loga.txt');
    yes('[!a]x', 'bx', '.x');
    yes('[^a]x', 'bx');
    no('[!a]x', 'ax', '/x');
    yes('[]]', ']');
    yes('[a-]', 'a', '-');
    no('a[/]b', 'a/b');
    // Unclosed: the '[' is literal.
    yes('a[b', 'a[b');
    no('a[b', 'ab');
  });

  it('** as a segment spans directories', () => {
    yes('**/*.txt', 'a.txt', 'x/a.txt', 'x/y/z/a.txt', '.hidden/a.txt');
    no('**/*.txt', 'a.json', 'x/a.txt/b');
    yes('src/**/test/*.ts', 'src/test/a.ts', 'src/a/b/test/c.ts');
    no('src/**/test/*.ts', 'src/a/test/b/c.ts', 'lib/test/a.ts');
    yes('out/**', 'out/a', 'out/a/b/c');
    no('out/**', 'outx/a', 'out');
    yes('**', 'a', 'a/b/c');
    yes('**/**/x', 'x', 'a/x', 'a/b/x');
    // Not a whole segment: an ordinary star.
    yes('a**b', 'ab', 'axxb');
    no('a**b', 'a/b');
  });

  it('backslash escapes the next character', () => {
    yes('\\*.txt', '*.txt');
    no('\\*.txt', 'a.txt');
    yes('a\\?', 'a?');
    no('a\\?', 'ab');
  });

  it('normalizes ./ and repeated slashes', () => {
    assert.equal(normalizeGlob('./reports//*.json'), 'reports/*.json');
    yes('./reports/*.json', 'reports/a.json');
  });

  it('does bounded work on patterns that make backtracking regexes explode', () => {
    // A backtracking matcher tries ~C(1000, 30) splits here; the walk decides each
    // (token, position) state once: at most 4 steps per state.
    const bound = (glob: string, path: string) => 4 * (glob.length + 1) * (path.length + 1);
    for (const [glob, path, matched] of [
      [`${'*a'.repeat(30)}*b`, 'a'.repeat(1000), false],
      [`${'*a'.repeat(30)}*b`, `${'a'.repeat(1000)}b`, true],
      [`${'**/'.repeat(20)}x`, `${'d/'.repeat(500)}y`, false],
      [`${'**/'.repeat(20)}x`, `${'d/'.repeat(500)}x`, true],
      [`${'?*'.repeat(40)}/z`, `${'q'.repeat(800)}/y`, false],
    ] as const) {
      const got = matchSteps(glob, path);
      assert.equal(got.matched, matched, glob);
      assert.equal(compileGlob(glob).matches(path), matched, glob);
      assert.ok(got.steps <= bound(glob, path), `${glob}: ${got.steps} steps`);
    }
  });

  it('agrees with a reference matcher on random inputs', () => {
    // Reference: the classic regex translation, on short inputs where backtracking is cheap.
    const toRegExp = (glob: string): RegExp => {
      let re = '';
      for (let i = 0; i < glob.length; i++) {
        const c = glob[i]!;
        if (c === '*') {
          if (glob[i + 1] === '*' && (i === 0 || glob[i - 1] === '/')) {
            const end = i + 2;
            if (end === glob.length) {
              re += '.*';
              i++;
              continue;
            }
            if (glob[end] === '/') {
              re += '(?:[^/]*/)*';
              i += 2;
              continue;
            }
          }
          while (glob[i + 1] === '*') i++;
          re += '[^/]*';
        } else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return new RegExp(`^${re}$`);
    };
    const globChar = fc.constantFrom('a', 'b', '/', '*', '?', '.');
    const pathChar = fc.constantFrom('a', 'b', '/', '.');
    fc.assert(
      fc.property(
        fc.array(globChar, { maxLength: 10 }).map((cs) => cs.join('')),
        fc.array(pathChar, { maxLength: 12 }).map((cs) => cs.join('')),
        (glob, p) => {
          fc.pre(!glob.includes('//') && !glob.startsWith('/') && !glob.endsWith('/'));
          fc.pre(!glob.split('/').some((s) => s === '.' || s === '' || s === '..'));
          fc.pre(!/\*\*\*/.test(glob) && !glob.includes('**/**'));
          assert.equal(compileGlob(glob).matches(p), toRegExp(glob).test(p), `${glob} vs ${p}`);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('glob and path checks', () => {
  it('refuses globs that could leave the workspace', () => {
    for (const g of ['../x', 'a/../../x', '..', '/etc/passwd', '\\x', '~/x', 'C:/x', '', 'a\0b'])
      assert.ok(checkGlob(g) !== undefined, `${JSON.stringify(g)} should be refused`);
    assert.ok(checkGlob('x'.repeat(2000)) !== undefined);
    for (const g of ['**/*.txt', 'reports/*.json', './out/*', 'a..b/*', '..a'])
      assert.equal(checkGlob(g), undefined, g);
  });

  it('accepts only relative, clean artifact paths', () => {
    for (const p of [
      '../x',
      'a/../b',
      '..',
      '.',
      './a',
      '/abs',
      'a//b',
      'a/',
      'a\\b',
      'a\0b',
      '',
      'x'.repeat(1025),
    ])
      assert.ok(checkArtifactPath(p) !== undefined, `${JSON.stringify(p)} should be refused`);
    for (const p of ['a.txt', 'reports/x/y.json', '..a', 'a..', '.hidden', 'sp ace/ü.txt'])
      assert.equal(checkArtifactPath(p), undefined, p);
  });

  it('types content by extension', () => {
    assert.equal(contentTypeOf('a/b.txt'), 'text/plain');
    assert.equal(contentTypeOf('coverage.out'), 'text/plain');
    assert.equal(contentTypeOf('x.LOG'), 'text/plain');
    assert.equal(contentTypeOf('r.json'), 'application/json');
    assert.equal(contentTypeOf('p.PNG'), 'image/png');
    assert.equal(contentTypeOf('a.tar.gz'), 'application/gzip');
    assert.equal(contentTypeOf('binary'), 'application/octet-stream');
    assert.equal(contentTypeOf('.bashrc'), 'application/octet-stream');
    assert.equal(contentTypeOf('a.weird'), 'application/octet-stream');
  });
});
