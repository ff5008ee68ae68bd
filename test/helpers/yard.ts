/**
 * Running the `yard` CLI as a child process (`node bin/yard.js …`) against a real server, as a
 * user's shell or script would: stdout and stderr kept apart, the exit code asserted.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   --json output is read loosely, as a script would */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { ensureBuilt, yardBin as bin } from './build.ts';

ensureBuilt();

export interface YardResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Yard {
  spawn(args: string[]): ChildProcess;
  run(args: string[]): Promise<YardResult>;
  /** `--json` output of a command that must exit 0. */
  json(args: string[]): Promise<any>;
}

/** A CLI bound to a server (`YARD_URL`, `YARD_TOKEN`), run in `cwd`. */
export function yardFor(opts: { url: string; token: string; cwd: string }): Yard {
  const env: Record<string, string | undefined> = {
    ...process.env,
    YARD_URL: opts.url,
    YARD_TOKEN: opts.token,
    XDG_CONFIG_HOME: path.join(opts.cwd, 'config'),
    HOME: opts.cwd,
  };
  const spawnYard = (args: string[]) =>
    spawn(process.execPath, [bin, ...args], {
      cwd: opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const run = (args: string[]) => collect(spawnYard(args));
  return {
    spawn: spawnYard,
    run,
    async json(args) {
      const r = expectExit(await run(['--json', ...args]), 0);
      return JSON.parse(r.stdout);
    },
  };
}

export function collect(child: ChildProcess): Promise<YardResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

export function expectExit(r: YardResult, code: number): YardResult {
  assert.equal(
    r.code,
    code,
    `exit ${r.code}, expected ${code}:\n--stdout--\n${r.stdout}\n--stderr--\n${r.stderr}`,
  );
  return r;
}
