/**
 * One schema-driven walk over a value: it checks the value against a TypeBox (JSON Schema)
 * schema and returns a copy with declared keys in the wanted style. Declared keys are the
 * `properties` of object schemas; record (`patternProperties`) keys and `Unknown` content are
 * copied as they are.
 *
 * This walk, not a generic JSON Schema validator, does the checking because it must render every
 * problem's path in the style of the input ("nodes[1].max_attempts" for YAML,
 * "graph.nodes[1].maxAttempts" for JSON), dispatch nodes on their `type` to the node-type
 * registry, apply the `x-format` checks (CEL, durations, cron, ...) and report one plain message
 * per problem instead of a union's worth.
 */
import type { TSchema } from 'typebox';
import type { ErrorDetail } from '../errors.ts';
import { celError, conditionSource, templateErrors, templateExpressions } from './expressions.ts';
import {
  camelToSnake,
  inStyle,
  pathIndex,
  pathKey,
  quote,
  snakeToCamel,
  type KeyStyle,
} from './keys.ts';
import type { Format } from './model.ts';
import { type Kind, checkFormat, got, kindOf } from './formats.ts';

/** Collects problems; keeps the first `max` and counts the rest. */
export class ProblemList {
  readonly items: ErrorDetail[] = [];
  total = 0;
  constructor(private readonly max = 1000) {}

  add(path: string, message: string): void {
    this.total++;
    if (this.items.length < this.max) this.items.push({ path, message });
  }

  /** The details to report, with a closing note when some were left out. */
  details(): ErrorDetail[] {
    const left = this.total - this.items.length;
    return left > 0
      ? [...this.items, { path: '', message: `…and ${left} more problems` }]
      : this.items;
  }
}

export type NodeKind = 'graph' | 'inline';

export interface Walker {
  /** Key style of the value walked; paths are rendered in it. */
  keys: KeyStyle;
  /** Key style of the returned copy. */
  out: KeyStyle;
  problems: ProblemList;
  maxDepth: number;
  /** Check `${{ }}` spans in text fields (off when only converting keys). */
  templates: boolean;
  /** Called for values whose schema carries `x-node`: picks the node type's schema. */
  node(value: Record<string, unknown>, path: string, kind: NodeKind, depth: number): unknown;
  /** Told each expression that parses (a `${{ }}` span or a condition), for the name checks. */
  expression?(expr: string, path: string): void;
}

type Schema = TSchema & Record<string, unknown>;

interface PropTable {
  /** camelCase name -> schema */
  schemas: Map<string, Schema>;
  /** input key in snake_case -> camelCase name */
  fromSnake: Map<string, string>;
  /** camelCase alias -> the camelCase name it stands for (`x-aliases`). */
  aliases: Map<string, string>;
  required: string[];
}

const propTables = new WeakMap<object, PropTable>();

function propTable(schema: Schema): PropTable {
  let table = propTables.get(schema);
  if (table === undefined) {
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const schemas = new Map(Object.entries(properties));
    const aliases = new Map(
      Object.entries((schema['x-aliases'] ?? {}) as Record<string, string>).filter(([, to]) =>
        schemas.has(to),
      ),
    );
    const fromSnake = new Map(
      [...schemas.keys(), ...aliases.keys()].map((name) => [camelToSnake(name), name]),
    );
    table = {
      schemas,
      fromSnake,
      aliases,
      required: (schema.required as string[] | undefined) ?? [],
    };
    propTables.set(schema, table);
  }
  return table;
}

const patterns = new WeakMap<object, RegExp>();

function patternOf(schema: Schema, source: string): RegExp {
  let re = patterns.get(schema);
  if (re === undefined) {
    re = new RegExp(source, 's');
    patterns.set(schema, re);
  }
  return re;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Sets an own property even for keys like `__proto__`. */
export function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function schemaKinds(schema: Schema): Kind[] {
  if ('const' in schema) return [kindOf(schema.const)];
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Schema[]).flatMap(schemaKinds);
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map(kindOf);
  switch (schema.type) {
    case 'integer':
    case 'number':
      return ['number'];
    case 'string':
    case 'boolean':
    case 'null':
    case 'array':
    case 'object':
      return [schema.type];
    default:
      return ['string', 'number', 'boolean', 'null', 'array', 'object'];
  }
}

/** What a schema accepts, for messages: "a string", "one of: GET, POST", ... */
function describe(schema: Schema): string {
  if ('const' in schema) return JSON.stringify(schema.const);
  const literals = literalsOf(schema);
  if (literals !== undefined) return `one of: ${literals.map((v) => String(v)).join(', ')}`;
  if (Array.isArray(schema.anyOf))
    return [...new Set((schema.anyOf as Schema[]).map(describe))].join(' or ');
  switch (schema.type) {
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'null':
      return 'null';
    case 'array':
      return 'a list';
    case 'object':
      return 'an object (a mapping)';
    default:
      return 'any value';
  }
}

/** The allowed values of a literal union or enum, or undefined. */
function literalsOf(schema: Schema): unknown[] | undefined {
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  if (!Array.isArray(schema.anyOf)) return undefined;
  const variants = schema.anyOf as Schema[];
  return variants.every((v) => 'const' in v) ? variants.map((v) => v.const) : undefined;
}

/** Checks `value` against `schema` and returns a copy with keys in `w.out` style. */
export function walk(
  schema: TSchema,
  value: unknown,
  path: string,
  w: Walker,
  depth: number,
): unknown {
  const s = schema as Schema;
  if (depth > w.maxDepth) {
    w.problems.add(path, `nested deeper than ${w.maxDepth} levels`);
    return value;
  }
  const before = w.problems.total;
  let result = walkShape(s, value, path, w, depth);
  const format = s['x-format'] as Format | undefined;
  if (format !== undefined && w.problems.total === before) {
    const checked = checkFormat(format, result);
    if ('error' in checked) w.problems.add(path, checked.error);
    else result = checked.value;
    if ((format === 'cel' || format === 'timestamp-or-cel') && w.expression !== undefined) {
      // A timestamp literal does not parse as CEL, so only expressions reach the hook.
      const source = conditionSource(result as string);
      if ('expr' in source && celError(source.expr) === undefined) w.expression(source.expr, path);
    }
  }
  return result;
}

function walkShape(s: Schema, value: unknown, path: string, w: Walker, depth: number): unknown {
  const literals = literalsOf(s);
  if (literals !== undefined) {
    if (!literals.some((l) => l === value))
      w.problems.add(path, `must be ${describe(s)}${got(value)}`);
    return value;
  }
  if ('const' in s) {
    if (value !== s.const) w.problems.add(path, `must be ${describe(s)}${got(value)}`);
    return value;
  }
  if (Array.isArray(s.anyOf)) return walkUnion(s, s.anyOf as Schema[], value, path, w, depth);
  switch (s.type) {
    case 'string':
      return walkString(s, value, path, w);
    case 'integer':
    case 'number':
      return walkNumber(s, value, path, w);
    case 'boolean':
      if (typeof value !== 'boolean') w.problems.add(path, `must be ${describe(s)}${got(value)}`);
      return value;
    case 'array':
      return walkArray(s, value, path, w, depth);
    case 'object':
      return walkObject(s, value, path, w, depth);
    default:
      if (w.templates) scanTemplates(value, path, w, depth);
      return value;
  }
}

function walkUnion(
  s: Schema,
  variants: Schema[],
  value: unknown,
  path: string,
  w: Walker,
  depth: number,
): unknown {
  const kind = kindOf(value);
  let candidates = variants.filter((v) => schemaKinds(v).includes(kind));
  if (kind === 'object' && candidates.length > 1) {
    // Discriminated on `type`, as triggers are.
    const tags = candidates.map(
      (v) => (v.properties as Record<string, Schema> | undefined)?.type?.const,
    );
    if (tags.every((t) => typeof t === 'string')) {
      const tag = (value as Record<string, unknown>).type;
      const index = tags.findIndex((t) => t === tag);
      if (index < 0) {
        const where = pathKey(path, 'type');
        if (tag === undefined) w.problems.add(where, 'is required');
        else w.problems.add(where, `must be one of: ${tags.join(', ')}${got(tag)}`);
        return value;
      }
      candidates = [candidates[index]!];
    }
  }
  const [first, ...rest] = candidates;
  if (first === undefined) {
    w.problems.add(path, `must be ${describe(s)}${got(value)}`);
    return value;
  }
  if (rest.length === 0) return walk(first, value, path, w, depth);
  // Several variants take this kind of value: the first that fits wins; report the first's problems.
  // Expressions are held back too, so only the winning variant's are told (once each).
  let firstTry: ProblemList | undefined;
  for (const variant of candidates) {
    const scratch = new ProblemList();
    const held: [string, string][] = [];
    const expression = w.expression && ((expr: string, at: string) => held.push([expr, at]));
    const result = walk(variant, value, path, { ...w, problems: scratch, expression }, depth);
    if (scratch.total === 0) {
      for (const [expr, at] of held) w.expression?.(expr, at);
      return result;
    }
    firstTry ??= scratch;
  }
  for (const item of firstTry?.items ?? []) w.problems.add(item.path, item.message);
  return value;
}

function walkString(s: Schema, value: unknown, path: string, w: Walker): unknown {
  if (typeof value !== 'string') {
    w.problems.add(path, `must be a string${got(value)}`);
    return value;
  }
  const minLength = s.minLength as number | undefined;
  const maxLength = s.maxLength as number | undefined;
  if (minLength !== undefined && value.length < minLength) {
    w.problems.add(
      path,
      minLength === 1 ? 'must not be empty' : `must have at least ${minLength} characters`,
    );
  } else if (maxLength !== undefined && value.length > maxLength) {
    w.problems.add(path, `must have at most ${maxLength} characters`);
  } else if (typeof s.pattern === 'string' && !patternOf(s, s.pattern).test(value)) {
    w.problems.add(path, `${quote(value)} must match ${s.pattern}`);
  }
  const format = s['x-format'] as Format | undefined;
  if (w.templates && format !== 'cel' && format !== 'timestamp-or-cel') templates(value, path, w);
  return value;
}

function walkNumber(s: Schema, value: unknown, path: string, w: Walker): unknown {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    w.problems.add(path, `must be ${describe(s)}${got(value)}`);
    return value;
  }
  if (s.type === 'integer' && !Number.isInteger(value)) {
    w.problems.add(path, `must be an integer (got ${value})`);
    return value;
  }
  const { minimum, maximum, exclusiveMinimum } = s as {
    minimum?: number;
    maximum?: number;
    exclusiveMinimum?: number;
  };
  if (minimum !== undefined && value < minimum)
    w.problems.add(path, `must be at least ${minimum} (got ${value})`);
  else if (maximum !== undefined && value > maximum)
    w.problems.add(path, `must be at most ${maximum} (got ${value})`);
  else if (exclusiveMinimum !== undefined && value <= exclusiveMinimum) {
    w.problems.add(path, `must be greater than ${exclusiveMinimum} (got ${value})`);
  }
  return value;
}

function walkArray(s: Schema, value: unknown, path: string, w: Walker, depth: number): unknown {
  if (!Array.isArray(value)) {
    w.problems.add(path, `must be a list${got(value)}`);
    return value;
  }
  const minItems = s.minItems as number | undefined;
  if (minItems !== undefined && value.length < minItems) {
    w.problems.add(
      path,
      minItems === 1 ? 'must not be empty' : `must have at least ${minItems} items`,
    );
  }
  const items = (s.items ?? {}) as Schema;
  const out: unknown[] = new Array<unknown>(value.length);
  for (let i = 0; i < value.length; i++)
    out[i] = walk(items, value[i], pathIndex(path, i), w, depth + 1);
  return out;
}

function walkObject(s: Schema, value: unknown, path: string, w: Walker, depth: number): unknown {
  if (!isPlainObject(value)) {
    w.problems.add(path, `must be an object (a mapping)${got(value)}`);
    return value;
  }
  const nodeKind = s['x-node'] as NodeKind | undefined;
  if (nodeKind !== undefined) return w.node(value, path, nodeKind, depth);
  if (s.properties !== undefined) return walkDeclared(s, value, path, w, depth);
  const patternProperties = s.patternProperties as Record<string, Schema> | undefined;
  const [entry] = Object.entries(patternProperties ?? {});
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const keyPath = pathKey(path, key);
    if (entry !== undefined && !patternOf(entry[1], entry[0]).test(key)) {
      w.problems.add(keyPath, `key ${quote(key)} must match ${entry[0]}`);
    }
    defineKey(out, key, walk(entry?.[1] ?? {}, value[key], keyPath, w, depth + 1));
  }
  return out;
}

function walkDeclared(
  s: Schema,
  value: Record<string, unknown>,
  path: string,
  w: Walker,
  depth: number,
): unknown {
  const table = propTable(s);
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  const given = new Map<string, string>();
  for (const key of Object.keys(value)) {
    const written =
      w.keys === 'camel'
        ? table.schemas.has(key) || table.aliases.has(key)
          ? key
          : undefined
        : table.fromSnake.get(key);
    const name = written === undefined ? undefined : (table.aliases.get(written) ?? written);
    if (name !== undefined) {
      const first = given.get(name);
      if (first !== undefined) {
        w.problems.add(
          pathKey(path, key),
          `gives ${quote(first)} a second time under another name`,
        );
        continue;
      }
      given.set(name, key);
    }
    const propSchema = name === undefined ? undefined : table.schemas.get(name);
    if (name === undefined || propSchema === undefined) {
      w.problems.add(pathKey(path, key), unknownFieldMessage(key, table, w.keys, s));
      continue;
    }
    const item = value[key];
    // An optional field set to null counts as not given (`retry:` with nothing after it in YAML),
    // unless null is a value it can hold (a free-form `body`).
    if (item === undefined) continue;
    if (
      item === null &&
      !table.required.includes(name) &&
      !schemaKinds(propSchema).includes('null')
    )
      continue;
    seen.add(name);
    out[inStyle(name, w.out)] = walk(propSchema, item, pathKey(path, key), w, depth + 1);
  }
  for (const name of table.required) {
    if (!seen.has(name)) w.problems.add(pathKey(path, inStyle(name, w.keys)), 'is required');
  }
  return out;
}

function unknownFieldMessage(key: string, table: PropTable, style: KeyStyle, s: Schema): string {
  const what = typeof s['x-name'] === 'string' ? ` of a ${s['x-name']}` : '';
  // The right field in the other key style gets a pointed hint.
  if (style === 'snake' && table.schemas.has(key) && camelToSnake(key) !== key) {
    return `unknown field ${quote(key)}${what}: YAML keys are snake_case, use '${camelToSnake(key)}'`;
  }
  if (style === 'camel' && table.schemas.has(snakeToCamel(key)) && snakeToCamel(key) !== key) {
    return `unknown field ${quote(key)}${what}: JSON keys are camelCase, use '${snakeToCamel(key)}'`;
  }
  const allowed = [...table.schemas.keys()].map((name) => inStyle(name, style)).join(', ');
  return `unknown field ${quote(key)}${what} (allowed: ${allowed})`;
}

/** Checks the `${{ }}` spans of a text and hands those that parse to `w.expression`. */
function templates(text: string, path: string, w: Walker): void {
  for (const message of templateErrors(text)) w.problems.add(path, message);
  if (w.expression !== undefined)
    for (const expr of templateExpressions(text)) w.expression(expr, path);
}

/** Checks the `${{ }}` spans of every string inside free-form content. */
function scanTemplates(value: unknown, path: string, w: Walker, depth: number): void {
  if (depth > w.maxDepth) {
    w.problems.add(path, `nested deeper than ${w.maxDepth} levels`);
    return;
  }
  if (typeof value === 'string') templates(value, path, w);
  else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      scanTemplates(value[i], pathIndex(path, i), w, depth + 1);
  } else if (isPlainObject(value)) {
    for (const key of Object.keys(value))
      scanTemplates(value[key], pathKey(path, key), w, depth + 1);
  }
}
