/**
 * Glob patterns over '/'-separated relative paths: `*` (any characters but '/'), `?` (one
 * character but '/'), `[abc]` / `[a-z]` / `[!abc]` / `[^abc]` (one character of a set, never
 * '/'), `**` as a whole segment (zero or more directories; at the end, everything below), and
 * `\x` for a literal x. `*` and `?` match dot files too. Patterns compile to tokens matched by a
 * memoised walk, not to a RegExp: matching costs at most tokens × path length steps, so no
 * pattern can make it backtrack exponentially.
 */

type Token =
  | { kind: 'char'; char: string }
  | { kind: 'any' }
  | { kind: 'class'; negated: boolean; items: (string | [string, string])[] }
  | { kind: 'star' }
  /** `**` followed by '/': zero or more whole segments each ending in '/'. */
  | { kind: 'dirs' }
  /** `**` as the last segment: the rest of the path, whatever it holds. */
  | { kind: 'rest' };

/** Longest pattern accepted; longer ones are refused by `checkGlob`. */
const maxGlobLength = 1024;

export interface CompiledGlob {
  readonly source: string;
  matches(path: string): boolean;
}

/**
 * Why a pattern cannot select files inside a workspace, or undefined when it can. Refused: empty
 * patterns, absolute ones ('/…', '~…', 'C:…'), '..' segments, NUL and over-long patterns.
 */
export function checkGlob(glob: string): string | undefined {
  if (glob === '') return 'is empty';
  if (glob.length > maxGlobLength) return `is longer than ${maxGlobLength} characters`;
  if (glob.includes('\0')) return 'holds a NUL character';
  if (glob.startsWith('/') || glob.startsWith('\\')) return 'is absolute';
  if (glob.startsWith('~')) return 'starts with ~ (home directories are outside the workspace)';
  if (/^[A-Za-z]:/.test(glob)) return 'names a drive';
  if (glob.split(/[/\\]/).some((s) => s === '..')) return "has a '..' segment";
  return undefined;
}

/** Drops `./` segments and repeated slashes: `./reports//*.json` is `reports/*.json`. */
export function normalizeGlob(glob: string): string {
  return glob
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

export function compileGlob(glob: string): CompiledGlob {
  const source = normalizeGlob(glob);
  const tokens = tokenize(source);
  return { source, matches: (path) => matchTokens(tokens, path).matched };
}

/**
 * A match and the steps its walk took: at most 4 per (token, path position) state, so at most
 * 4 × (pattern length + 1) × (path length + 1) whatever the pattern (tests check this bound).
 */
export function matchSteps(glob: string, path: string): { matched: boolean; steps: number } {
  return matchTokens(tokenize(normalizeGlob(glob)), path);
}

function tokenize(glob: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) {
      out.push({ kind: 'char', char: glob[i + 1]! });
      i += 2;
      continue;
    }
    if (c === '*') {
      let j = i;
      while (glob[j] === '*') j++;
      const segmentStart = i === 0 || glob[i - 1] === '/';
      const segmentEnd = j === glob.length || glob[j] === '/';
      if (j - i >= 2 && segmentStart && segmentEnd) {
        if (j === glob.length) {
          out.push({ kind: 'rest' });
          i = j;
        } else {
          out.push({ kind: 'dirs' });
          i = j + 1; // the '/' belongs to the token
        }
        // `**/**/x` means the same as `**/x`.
        while (glob.startsWith('**/', i)) i += 3;
        continue;
      }
      out.push({ kind: 'star' });
      i = j;
      continue;
    }
    if (c === '?') {
      out.push({ kind: 'any' });
      i++;
      continue;
    }
    if (c === '[') {
      const parsed = parseClass(glob, i);
      if (parsed) {
        out.push(parsed.token);
        i = parsed.end;
        continue;
      }
    }
    out.push({ kind: 'char', char: c });
    i++;
  }
  return out;
}

/** `[...]` starting at `start`; undefined when unclosed (the '[' is then literal). */
function parseClass(glob: string, start: number): { token: Token; end: number } | undefined {
  let i = start + 1;
  let negated = false;
  if (glob[i] === '!' || glob[i] === '^') {
    negated = true;
    i++;
  }
  const items: (string | [string, string])[] = [];
  let first = true;
  while (i < glob.length) {
    let c = glob[i]!;
    if (c === ']' && !first) return { token: { kind: 'class', negated, items }, end: i + 1 };
    if (c === '/') return undefined; // a class never spans segments
    if (c === '\\' && i + 1 < glob.length) c = glob[++i]!;
    first = false;
    if (glob[i + 1] === '-' && i + 2 < glob.length && glob[i + 2] !== ']') {
      let hi = glob[i + 2]!;
      let next = i + 3;
      if (hi === '\\' && i + 3 < glob.length) {
        hi = glob[i + 3]!;
        next = i + 4;
      }
      items.push(c <= hi ? [c, hi] : [hi, c]);
      i = next;
      continue;
    }
    items.push(c);
    i++;
  }
  return undefined;
}

function classMatches(t: Extract<Token, { kind: 'class' }>, c: string): boolean {
  if (c === '/') return false;
  const hit = t.items.some((it) => (typeof it === 'string' ? it === c : it[0] <= c && c <= it[1]));
  return hit !== t.negated;
}

/**
 * Memoised match over (token index, path index): each state is expanded once and decided once,
 * and each of its (at most 2) successors pushed is popped once.
 */
function matchTokens(tokens: Token[], path: string): { matched: boolean; steps: number } {
  const width = path.length + 1;
  // 0 unknown, 1 false, 2 true.
  const memo = new Uint8Array((tokens.length + 1) * width);
  const nextSlash = new Int32Array(path.length + 1);
  let slash = -1;
  for (let i = path.length; i >= 0; i--) {
    if (path[i] === '/') slash = i;
    nextSlash[i] = slash;
  }
  // An explicit stack instead of recursion, so long paths cannot overflow the call stack.
  const at = (ti: number, pi: number): number => memo[ti * width + pi]!;
  const set = (ti: number, pi: number, v: boolean): void => {
    memo[ti * width + pi] = v ? 2 : 1;
  };
  const stack: [number, number][] = [[0, 0]];
  let steps = 0;
  while (stack.length > 0) {
    steps++;
    const [ti, pi] = stack[stack.length - 1]!;
    if (at(ti, pi) !== 0) {
      stack.pop();
      continue;
    }
    if (ti === tokens.length) {
      set(ti, pi, pi === path.length);
      stack.pop();
      continue;
    }
    const t = tokens[ti]!;
    const c = path[pi];
    // Successor states whose answers decide this one: this state is true when any is true.
    const next: [number, number][] = [];
    switch (t.kind) {
      case 'char':
        if (c === t.char) next.push([ti + 1, pi + 1]);
        break;
      case 'any':
        if (c !== undefined && c !== '/') next.push([ti + 1, pi + 1]);
        break;
      case 'class':
        if (c !== undefined && classMatches(t, c)) next.push([ti + 1, pi + 1]);
        break;
      case 'star':
        next.push([ti + 1, pi]);
        if (c !== undefined && c !== '/') next.push([ti, pi + 1]);
        break;
      case 'dirs': {
        next.push([ti + 1, pi]);
        const s = nextSlash[pi]!;
        if (s >= 0) next.push([ti, s + 1]);
        break;
      }
      case 'rest':
        next.push([tokens.length, path.length]);
        break;
    }
    const pending = next.filter(([a, b]) => at(a, b) === 0);
    if (pending.length > 0) {
      stack.push(...pending);
      continue;
    }
    set(
      ti,
      pi,
      next.some(([a, b]) => at(a, b) === 2),
    );
    stack.pop();
  }
  return { matched: at(0, 0) === 2, steps };
}
