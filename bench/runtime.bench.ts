/**
 * Environment overhead per execution, one JSON line per runtime mode: create a sandbox, spawn
 * `true` in it, wait for it, destroy the sandbox. Modes:
 *   docker       the docker runtime (container + exec + removal)
 *   docker_run   the floor for comparison: what `docker run --rm <image> true` does, through the
 *                API (create + start + wait + remove), measured in the same run
 * Each mode is an exported `bench*` function returning its line, so another runtime (`local`)
 * is one more function and one more entry in `modes`. BENCH_SCALE shrinks the counts;
 * BENCH_RUNTIMES=docker limits the modes. Needs dockerd (scripts/dockerd.sh start); without it
 * the docker modes print a `skipped` line.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { createDockerRuntime } from '../src/runtime/docker/runtime.ts';
import { createLocalRuntime } from '../src/runtime/local.ts';
import type { ResourceLimits, Runtime } from '../src/runtime/types.ts';
import {
  dockerSocket,
  dockerUnavailable,
  ensureTestImage,
  testDocker,
  testImage,
} from '../test/helpers/docker.ts';
import { summarize } from './stats.ts';

const scale = Number(process.env.BENCH_SCALE ?? 1);
const runs = Math.max(5, Math.round(50 * scale));
const warmup = Math.max(2, Math.round(5 * scale));

export interface RuntimeBenchLine {
  bench: 'runtime';
  mode: string;
  runs: number;
  p50_ms: number;
  p99_ms: number;
  [extra: string]: unknown;
}

/** Latencies of `count` sequential calls of `task`, after `warmup` unmeasured ones. */
async function timeSerial(count: number, task: (i: number) => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await task(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await task(i);
    out.push(performance.now() - t0);
  }
  return out;
}

/** create sandbox + spawn `true` + wait + destroy, through a `Runtime` (any mode). */
export async function benchSandboxRuntime(
  mode: string,
  runtime: Runtime,
  image?: string,
  limits: ResourceLimits = {},
): Promise<RuntimeBenchLine> {
  const base = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-'));
  const tag = Date.now().toString(36);
  try {
    const lat = await timeSerial(runs, async (i) => {
      const id = `exec_bench${tag}${i < 0 ? `w${-i}` : i}`;
      const hostWorkspace = path.join(base, id);
      mkdirSync(hostWorkspace);
      const sandbox = await runtime.create({
        executionId: id,
        workflowId: 'wf_bench',
        ...(image !== undefined && { image }),
        limits,
        network: 'none',
        hostWorkspace,
      });
      try {
        const proc = await sandbox.spawn(['true'], { cwd: sandbox.workspace, env: {} });
        proc.stdout.resume();
        proc.stderr.resume();
        const end = await proc.exited;
        if (end.code !== 0) throw new Error(`true exited ${JSON.stringify(end)}`);
      } finally {
        await sandbox.destroy();
      }
    });
    return { bench: 'runtime', mode, runs, ...summarize(lat) };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

export function benchDocker(): Promise<RuntimeBenchLine> {
  return benchSandboxRuntime(
    'docker',
    createDockerRuntime({ socketPath: dockerSocket }),
    testImage,
  );
}

/** `docker run --rm <image> true` through the API: the engine's own floor per container. */
export async function benchDockerRun(docker: Docker): Promise<RuntimeBenchLine> {
  const lat = await timeSerial(runs, async () => {
    const c = await docker.createContainer({
      Image: testImage,
      Entrypoint: ['true'],
      HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'none', Config: {} } },
    });
    try {
      await c.start();
      const res = (await c.wait()) as { StatusCode: number };
      if (res.StatusCode !== 0) throw new Error(`true exited ${res.StatusCode}`);
    } finally {
      await c.remove({ force: true });
    }
  });
  return { bench: 'runtime', mode: 'docker_run', runs, ...summarize(lat) };
}

const localDir = mkdtempSync(path.join(tmpdir(), 'switchyard-bench-data-'));
const sandboxLimits: ResourceLimits = { cpu: 1, memoryBytes: 512 * 1024 * 1024, pids: 256 };

const modes: Record<string, () => Promise<RuntimeBenchLine>> = {
  local_plain: () =>
    benchSandboxRuntime(
      'local_plain',
      createLocalRuntime({ dataDir: localDir, isolation: 'plain', cgroups: 'off' }),
    ),
  local_sandbox: () =>
    benchSandboxRuntime(
      'local_sandbox',
      createLocalRuntime({ dataDir: localDir, isolation: 'bwrap' }),
      undefined,
      sandboxLimits,
    ),
  docker: benchDocker,
  docker_run: () => benchDockerRun(testDocker()),
};

async function main(): Promise<void> {
  const wanted = (process.env.BENCH_RUNTIMES ?? Object.keys(modes).join(',')).split(',');
  const dockerDown = await dockerUnavailable();
  if (dockerDown === undefined) await ensureTestImage(testDocker());
  for (const mode of wanted) {
    const bench = modes[mode];
    if (bench === undefined) throw new Error(`unknown runtime mode ${mode}`);
    if (mode.startsWith('docker') && dockerDown !== undefined) {
      process.stdout.write(`${JSON.stringify({ bench: 'runtime', mode, skipped: dockerDown })}\n`);
      continue;
    }
    process.stdout.write(`${JSON.stringify(await bench())}\n`);
  }
  rmSync(localDir, { recursive: true, force: true });
}

if (import.meta.filename === process.argv[1]) await main();
