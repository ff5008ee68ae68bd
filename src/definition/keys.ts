/**
 * Key styles. YAML documents use snake_case keys, JSON bodies camelCase. Only keys declared by
 * a schema are ever converted (see `walk.ts`); user-named keys (variables, env, headers, inputs,
 * params, free-form bodies) pass through untouched.
 */

export type KeyStyle = 'camel' | 'snake';

/** `retentionHours` -> `retention_hours`. Only applied to declared (camelCase) property names. */
export function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `retention_hours` -> `retentionHours`. */
export function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function inStyle(camelName: string, style: KeyStyle): string {
  return style === 'camel' ? camelName : camelToSnake(camelName);
}

const identifier = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Appends a key to a path: `a.b` for plain keys, `a["x y"]` otherwise (long keys shortened). */
export function pathKey(path: string, key: string): string {
  if (identifier.test(key) && key.length <= 64) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(shorten(key))}]`;
}

export function pathIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** A user-supplied string made safe to quote in a message: at most 64 characters. */
function shorten(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** Quotes a user-supplied value for a message. */
export function quote(value: unknown): string {
  if (typeof value === 'string') return `'${shorten(value)}'`;
  try {
    return shorten(JSON.stringify(value) ?? String(value));
  } catch {
    return typeof value;
  }
}
