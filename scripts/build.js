/**
 * Compiles src/ into dist/ with tsc (tsconfig.build.json). Plain JavaScript, so `npm start` and the
 * bins can call it before anything is compiled and without a TypeScript loader.
 *
 *   node scripts/build.js             always rebuild (`npm run build`, `npm pack`)
 *   node scripts/build.js --if-stale  rebuild only when dist/ is missing or older than its inputs
 *
 * dist/.built records the newest input mtime the last successful build saw; any input (a file or
 * folder under src/, or a tsconfig) newer than that makes dist/ stale, so edits, deletions and
 * branch switches all rebuild. A stale rebuild is incremental (dist/.tsbuildinfo), then drops the
 * output of sources that are gone; a plain build starts from an empty dist/. A lock under node_modules/.cache keeps concurrent callers (parallel
 * test files, a second `npm start`) from compiling over each other.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as pause } from 'node:timers/promises';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const stampFile = path.join(dist, '.built');
const lockDir = path.join(root, 'node_modules', '.cache', 'switchyard-build.lock');
const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json'];

/** The newest modification time among the build's inputs, folders included (a deleted file). */
function newestInput() {
  let newest = 0;
  const visit = (p) => {
    const st = statSync(p);
    newest = Math.max(newest, st.mtimeMs);
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
  };
  for (const p of inputs) visit(path.join(root, p));
  return newest;
}

function builtFrom() {
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8')).inputsMtimeMs;
  } catch {
    return undefined;
  }
}

/** True when dist/ is missing or was built from older inputs than there are now. */
export function isStale() {
  const built = builtFrom();
  return built === undefined || newestInput() > built;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Takes the build lock, waiting for another builder; a lock whose process died is taken over. */
async function lock() {
  mkdirSync(path.dirname(lockDir), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let holder;
    try {
      holder = Number(readFileSync(path.join(lockDir, 'pid'), 'utf8'));
    } catch {
      // Taken a moment ago, its pid not written yet; or left by a build killed in between.
      const age = Date.now() - statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs;
      if (age > 30_000) rmSync(lockDir, { recursive: true, force: true });
    }
    if (holder > 0 && !alive(holder)) rmSync(lockDir, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`build lock ${lockDir} held for too long`);
    await pause(wait);
  }
}

function unlock() {
  rmSync(lockDir, { recursive: true, force: true });
}

/** Removes compiled files (and emptied folders) of dist/ whose source in src/ no longer exists. */
function pruneOrphans(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      pruneOrphans(full);
      if (readdirSync(full).length === 0) rmSync(full, { recursive: true });
      continue;
    }
    const m = /^(.*)\.js(\.map)?$/.exec(entry.name);
    if (m === null) continue;
    const source = path.join(root, 'src', path.relative(dist, dir), `${m[1]}.ts`);
    if (!existsSync(source)) rmSync(full);
  }
}

function tscPath() {
  try {
    return createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    return undefined;
  }
}

function compile(tsc) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
      cwd: root,
      // tsc reports errors on stdout: they go to stderr, so a bin's stdout stays its own.
      stdio: ['ignore', 2, 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`tsc exited with ${signal ?? code}`)),
    );
  });
}

/**
 * Builds dist/ (always, or only when stale). Messages go to stderr so a bin's stdout stays its
 * own. Throws when the build fails or cannot run.
 */
export async function build({ ifStale = false } = {}) {
  if (ifStale && !isStale()) return false;
  const tsc = tscPath();
  if (tsc === undefined) {
    // An install without devDependencies: run what was built, or say what is missing.
    if (existsSync(path.join(dist, 'main.js'))) return false;
    throw new Error('dist/ is missing and TypeScript is not installed: run `npm install` first');
  }
  await lock();
  try {
    // Another caller may have built while this one waited for the lock.
    if (ifStale && !isStale()) return false;
    const inputsMtimeMs = newestInput();
    process.stderr.write('switchyard: compiling src/ into dist/ …\n');
    if (!ifStale) rmSync(dist, { recursive: true, force: true });
    await compile(tsc);
    pruneOrphans(dist);
    writeFileSync(stampFile, `${JSON.stringify({ inputsMtimeMs })}\n`);
    return true;
  } finally {
    unlock();
  }
}

/** `build`, for a command line: a failure is reported on stderr and exits 1. */
export async function buildOrExit(opts) {
  try {
    await build(opts);
  } catch (err) {
    process.stderr.write(`switchyard: build failed: ${err.message}\n`);
    process.exit(1);
  }
}

if (process.argv[1] === import.meta.filename)
  await buildOrExit({ ifStale: process.argv.includes('--if-stale') });
