/**
 * node:test's describe/it/hooks, with one difference: a suite skipped with `{ skip: reason }`
 * still registers its tests, each skipped with that reason, so the runner's closing
 * `# skipped N` counts them (node 20 counts a skipped suite as no test at all). Its hooks do not
 * run. Files with suites that may skip import these instead of node:test's.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as nodeTest from 'node:test';

type SuiteFn = (s: nodeTest.SuiteContext) => void | Promise<void>;
type TestFn = (t: nodeTest.TestContext) => void | Promise<void>;
type HookFn = (c: nodeTest.TestContext | nodeTest.SuiteContext) => unknown;

/** The skip reason of the suite being registered, if it or one around it is skipped. */
const skipping = new AsyncLocalStorage<string>();

function reasonOf(skip: nodeTest.TestOptions['skip']): string | undefined {
  if (skip === undefined || skip === false) return undefined;
  return skip === true ? 'skipped' : skip;
}

function split<F extends (...args: never[]) => unknown>(
  a: nodeTest.TestOptions | F,
  b?: F,
): [nodeTest.TestOptions, F] {
  return typeof a === 'function' ? [{}, a] : [a, b!];
}

export function describe(name: string, fn: SuiteFn): void;
export function describe(name: string, options: nodeTest.TestOptions, fn: SuiteFn): void;
export function describe(name: string, a: nodeTest.TestOptions | SuiteFn, b?: SuiteFn): void {
  const [{ skip, ...options }, fn] = split(a, b);
  const reason = skipping.getStore() ?? reasonOf(skip);
  void nodeTest.describe(name, options, (s) =>
    reason === undefined ? fn(s) : skipping.run(reason, () => fn(s)),
  );
}

export function it(name: string, fn: TestFn): void;
export function it(name: string, options: nodeTest.TestOptions, fn: TestFn): void;
export function it(name: string, a: nodeTest.TestOptions | TestFn, b?: TestFn): void {
  const [options, fn] = split(a, b);
  const reason = skipping.getStore();
  void nodeTest.it(name, reason === undefined ? options : { ...options, skip: reason }, fn);
}
export const test = it;

/** Hooks of a skipped suite are not registered: they would set up what its tests need. */
const hook =
  (register: (fn: HookFn, options?: nodeTest.HookOptions) => void) =>
  (fn: HookFn, options?: nodeTest.HookOptions): void => {
    if (skipping.getStore() === undefined) register(fn, options);
  };
export const before = hook(nodeTest.before);
export const after = hook(nodeTest.after);
export const beforeEach = hook(nodeTest.beforeEach);
export const afterEach = hook(nodeTest.afterEach);
