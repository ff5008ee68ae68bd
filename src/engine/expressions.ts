/**
 * Evaluating CEL (DESIGN §3) against an execution's context: `params`, `vars`,
 * `nodes.<id>.outputs`, `nodes.<id>.status`, `execution`, `trigger`, plus extras (`item`,
 * `index`, `iteration`, ...). Pure: no I/O, no clock. CEL integers are BigInt inside cel-js;
 * they cross this boundary as JS numbers.
 */
import { parse } from '@marcbachmann/cel-js';
import { conditionSource, findExpressionSpans } from '../definition/expressions.ts';

export type ExprContext = Record<string, unknown>;

export class ExpressionError extends Error {
  override name = 'ExpressionError';
  constructor(
    readonly expression: string,
    message: string,
  ) {
    super(message);
  }
}

type Compiled = ReturnType<typeof parse>;
const cache = new Map<string, Compiled>();
const cacheLimit = 2000;

function compile(expr: string): Compiled {
  let fn = cache.get(expr);
  if (!fn) {
    try {
      fn = parse(expr);
    } catch (err) {
      throw new ExpressionError(expr, `invalid CEL '${expr}': ${firstLine(err)}`);
    }
    if (cache.size >= cacheLimit) cache.delete(cache.keys().next().value!);
    cache.set(expr, fn);
  }
  return fn;
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n', 1)[0] ?? m;
}

/** JS values into CEL: integer numbers become BigInt (CEL ints); undefined is dropped. */
function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toCel(v);
    return out;
  }
  return value;
}

/** CEL values back into JSON-safe JS: BigInt to number, Maps to objects. */
function fromCel(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(fromCel);
  if (value instanceof Map)
    return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), fromCel(v)]));
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromCel(v);
    return out;
  }
  return value;
}

/** Evaluates bare CEL, or a value that is one `${{ }}`. Throws ExpressionError. */
export function evaluate(expression: string, ctx: ExprContext): unknown {
  const source = conditionSource(expression);
  if ('error' in source) throw new ExpressionError(expression, source.error);
  const fn = compile(source.expr);
  try {
    return fromCel(fn(toCel(ctx) as Record<string, unknown>));
  } catch (err) {
    throw new ExpressionError(expression, `'${source.expr}' failed: ${firstLine(err)}`);
  }
}

/** A condition must evaluate to a boolean. */
export function evaluateCondition(expression: string, ctx: ExprContext): boolean {
  const v = evaluate(expression, ctx);
  if (typeof v !== 'boolean')
    throw new ExpressionError(
      expression,
      `'${expression}' gave ${JSON.stringify(v)}, not a boolean`,
    );
  return v;
}

function stringify(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? '';
}

/**
 * Renders every `${{ }}` in the strings of `value` (deeply). A string that is exactly one
 * `${{ }}` takes the expression's value with its type; mixed text gets the values as text.
 */
export function render<T>(value: T, ctx: ExprContext): T {
  return renderValue(value, toCel(ctx) as Record<string, unknown>) as T;
}

function renderValue(value: unknown, celCtx: Record<string, unknown>): unknown {
  if (typeof value === 'string') return renderString(value, celCtx);
  if (Array.isArray(value)) return value.map((v) => renderValue(v, celCtx));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderValue(v, celCtx);
    return out;
  }
  return value;
}

function renderString(text: string, celCtx: Record<string, unknown>): unknown {
  if (!text.includes('${{')) return text;
  const scan = findExpressionSpans(text);
  if (scan.error !== undefined) throw new ExpressionError(text, scan.error);
  const run = (expr: string): unknown => {
    const fn = compile(expr);
    try {
      return fromCel(fn(celCtx));
    } catch (err) {
      throw new ExpressionError(expr, `'${expr}' failed: ${firstLine(err)}`);
    }
  };
  const only = scan.spans[0];
  if (scan.spans.length === 1 && only && only.start === 0 && only.end === text.length)
    return run(only.expr);
  let out = '';
  let at = 0;
  for (const span of scan.spans) {
    out += text.slice(at, span.start) + stringify(run(span.expr));
    at = span.end;
  }
  return out + text.slice(at);
}
