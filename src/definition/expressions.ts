/**
 * Expressions are CEL (DESIGN §3). Text fields embed them as `${{ expr }}`; condition fields
 * (`if`, `when`, `expression`, ...) hold bare CEL or one `${{ }}` wrapping the whole value.
 * Here they are only parsed, never evaluated: validation rejects what cannot parse.
 */
import { parse } from '@marcbachmann/cel-js';

interface ExpressionSpan {
  /** Offset of `${{`. */
  start: number;
  /** Offset just after `}}`. */
  end: number;
  /** The CEL source between the braces, trimmed. */
  expr: string;
}

export type SpanScan =
  { spans: ExpressionSpan[]; error?: undefined } | { spans: ExpressionSpan[]; error: string };

/**
 * Finds the `${{ }}` spans of a text. The scan skips CEL string literals and balances braces,
 * so `${{ {'a': {'b': 1}} }}` and `${{ "}}" }}` are one span each. Linear in the text length.
 */
export function findExpressionSpans(text: string): SpanScan {
  const spans: ExpressionSpan[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf('${{', from);
    if (start < 0) return { spans };
    const bodyStart = start + 3;
    let depth = 0;
    let i = bodyStart;
    let end = -1;
    while (i < text.length) {
      const ch = text[i];
      if (ch === '"' || ch === "'") {
        i = skipString(text, i);
        continue;
      }
      if (ch === '{') depth++;
      else if (ch === '}') {
        if (depth === 0) {
          if (text[i + 1] === '}') {
            end = i;
            break;
          }
          return { spans, error: `unbalanced '}' in the \${{ }} at offset ${start}` };
        }
        depth--;
      }
      i++;
    }
    if (end < 0) return { spans, error: `unterminated \${{ at offset ${start}` };
    spans.push({ start, end: end + 2, expr: text.slice(bodyStart, end).trim() });
    from = end + 2;
  }
}

/** Index just past the string literal that opens at `at` (or the end of text when unterminated). */
function skipString(text: string, at: number): number {
  const quote = text[at]!;
  const triple = text.startsWith(quote.repeat(3), at);
  if (triple) {
    const close = text.indexOf(quote.repeat(3), at + 3);
    return close < 0 ? text.length : close + 3;
  }
  let i = at + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '\\') i += 2;
    else if (ch === quote) return i + 1;
    else if (ch === '\n') return i;
    else i++;
  }
  return i;
}

/** Undefined when `expr` parses as CEL, else the parser's one-line reason. */
export function celError(expr: string): string | undefined {
  if (expr.trim() === '') return 'empty expression';
  try {
    parse(expr);
    return undefined;
  } catch (err) {
    return firstLine(err);
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n', 1)[0] ?? message;
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/**
 * The CEL source of a condition field: the whole value, or the inside of a single `${{ }}` that
 * wraps the whole value. Returns an error for text mixed with `${{ }}`.
 */
export function conditionSource(text: string): { expr: string } | { error: string } {
  const trimmed = text.trim();
  if (!trimmed.includes('${{')) return { expr: trimmed };
  const scan = findExpressionSpans(trimmed);
  if (scan.error !== undefined) return { error: scan.error };
  const only = scan.spans[0];
  if (
    scan.spans.length === 1 &&
    only !== undefined &&
    only.start === 0 &&
    only.end === trimmed.length
  ) {
    return { expr: only.expr };
  }
  return { error: 'a condition is bare CEL or a single ${{ }} around the whole value' };
}

/** Problems of a condition field (bare CEL or one `${{ }}`), or undefined. */
export function conditionError(text: string): string | undefined {
  const source = conditionSource(text);
  if ('error' in source) return source.error;
  const error = celError(source.expr);
  return error === undefined ? undefined : `invalid CEL: ${error}`;
}

/** Problems of the `${{ }}` spans inside a text field, each as a message. */
export function templateErrors(text: string): string[] {
  if (!text.includes('${{')) return [];
  const scan = findExpressionSpans(text);
  const errors: string[] = [];
  for (const span of scan.spans) {
    const error = celError(span.expr);
    if (error !== undefined)
      errors.push(`invalid CEL in \${{ }} at offset ${span.start}: ${error}`);
  }
  if (scan.error !== undefined) errors.push(scan.error);
  return errors;
}

/** The CEL sources of the `${{ }}` spans of a text that parse (the others are problems already). */
export function templateExpressions(text: string): string[] {
  if (!text.includes('${{')) return [];
  return findExpressionSpans(text)
    .spans.map((span) => span.expr)
    .filter((expr) => celError(expr) === undefined);
}
