/**
 * Save-time checks of `concurrency.group` beyond CEL syntax (the walk checks that): the key is
 * rendered when an execution is created, before any node ran, so its expressions may read only
 * `params`, `trigger` and `vars`. A reference to anything else would fail every run, so it is
 * refused when the workflow is saved.
 */
import { findExpressionSpans } from './expressions.ts';

const concurrencyGroupRoots = ['params', 'trigger', 'vars'] as const;

const allowed = new Set<string>(concurrencyGroupRoots);
/** CEL words that are not variables. */
const keywords = new Set(['true', 'false', 'null', 'in']);
const stringLiteral = /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g;
const identifier = /[A-Za-z_][A-Za-z0-9_]*/g;

/** Problems of a group template: each root variable it reads that is not known at creation. */
export function concurrencyGroupProblems(group: string): string[] {
  const scan = findExpressionSpans(group);
  if (scan.error !== undefined) return [];
  const problems: string[] = [];
  for (const span of scan.spans) {
    const expr = span.expr.replace(stringLiteral, '""');
    for (const m of expr.matchAll(identifier)) {
      const name = m[0];
      const at = m.index;
      const before = expr.slice(0, at).trimEnd();
      const after = expr.slice(at + name.length).trimStart();
      // A member (`params.env`), a function (`size(...)`) or a number's exponent is no root.
      if (before.endsWith('.') || after.startsWith('(') || /[0-9]$/.test(before)) continue;
      if (keywords.has(name) || allowed.has(name)) continue;
      problems.push(
        `\${{ ${span.expr} }} reads '${name}', which a run does not have when it is created (use ${concurrencyGroupRoots.join(', ')})`,
      );
    }
  }
  return problems;
}
