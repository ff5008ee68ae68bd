/**
 * The LLM gateway in a docker sandbox (docs/runtimes.md): the image need not have `node` or any
 * forwarder, so the server starts the forwarder itself, on the host, entered only into the
 * container's network namespace (`nsenter --net`): it listens on the container's own
 * 127.0.0.1 and connects to the gateway socket by its host path. The container sees a port on
 * its loopback and nothing of the host. It needs the engine on this host (the container's pid
 * here) and a root server; otherwise commands get the mounted socket only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { findExecutable } from '../executables.ts';
import { forwarderArgv } from '../gateway-forwarder.ts';

export interface ContainerForwarder {
  /** The port on the container's loopback. */
  readonly port: number;
  stop(): void;
}

/** How long the forwarder may take to say its port. */
const startTimeoutMs = 10_000;

/** Starts the forwarder in the network namespace of the container's process `pid`, or says why not. */
export async function startContainerForwarder(
  pid: number,
  socket: string,
): Promise<ContainerForwarder | { problem: string }> {
  const nsFile = `/proc/${pid}/ns/net`;
  if (pid <= 0 || !existsSync(nsFile)) return { problem: 'the container is not on this host' };
  if (process.getuid?.() !== 0) return { problem: 'entering its network needs a root server' };
  const nsenter = await findExecutable('nsenter', '/usr/bin:/bin:/usr/sbin:/sbin');
  if (nsenter === undefined) return { problem: 'no nsenter (util-linux)' };
  const child: ChildProcess = spawn(
    nsenter,
    [`--net=${nsFile}`, '--', ...forwarderArgv(process.execPath, socket)],
    // stdin stays open for as long as this server lives: the forwarder ends with it.
    { stdio: ['pipe', 'pipe', 'ignore'] },
  );
  const port = await new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), startTimeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.close();
      const n = Number(line.trim());
      resolve(Number.isInteger(n) && n > 0 ? n : undefined);
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  if (port === undefined) {
    child.kill('SIGKILL');
    return { problem: 'the forwarder did not start' };
  }
  // Neither the process nor its pipes keep the server's event loop alive.
  child.unref();
  for (const stream of [child.stdin, child.stdout]) (stream as Socket | null)?.unref();
  return {
    port,
    stop: () => {
      child.stdin?.end();
      child.kill('SIGTERM');
    },
  };
}
