/**
 * Engine API calls of the docker runtime (dockerode): creating or adopting a container, removing
 * containers and volumes, short helper execs and their streams.
 */
import { chown } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { SandboxError, missingImage, startError, statusOf } from './errors.ts';

/**
 * Creates and starts the container; when one of that name exists (a restarted server recreating
 * the sandbox of a running execution) a running one is adopted and a stopped one replaced.
 */
export async function createOrAdopt(
  docker: Docker,
  config: Docker.ContainerCreateOptions,
  image: string,
  user: string | undefined,
  attempt = 1,
): Promise<Docker.Container> {
  let container: Docker.Container;
  try {
    container = await docker.createContainer(config);
  } catch (err) {
    if (statusOf(err) === 404) throw missingImage(image, err);
    if (statusOf(err) !== 409 || attempt > 3) throw err;
    const existing = docker.getContainer(config.name!);
    const info = await existing.inspect();
    if (info.State.Running) return existing;
    await removeContainer(existing);
    return createOrAdopt(docker, config, image, user, attempt + 1);
  }
  try {
    await container.start();
  } catch (err) {
    await removeContainer(container);
    throw startError(err, user);
  }
  return container;
}
/** The numeric uid and gid of `user` in the container: given as `uid:gid`, else asked with `id`. */
export async function userIds(
  docker: Docker,
  container: Docker.Container,
  user: string,
): Promise<{ uid: number; gid: number }> {
  const numeric = /^(\d+):(\d+)$/.exec(user);
  if (numeric) return { uid: Number(numeric[1]), gid: Number(numeric[2]) };
  let out: { code: number | null; stdout: string } | undefined;
  try {
    out = await execCapture(docker, container, ['/bin/sh', '-c', 'id -u; id -g']);
  } catch {
    out = undefined;
  }
  const ids = out?.code === 0 ? out.stdout.trim().split(/\s+/).map(Number) : [];
  if (ids.length === 2 && ids.every((n) => Number.isInteger(n) && n >= 0)) {
    return { uid: ids[0]!, gid: ids[1]! };
  }
  throw new SandboxError(
    'ERR_NODE_CONFIG',
    `cannot tell the uid and gid of runtime_config.user ${JSON.stringify(user)}: the image has no working \`id\`; give it as uid:gid`,
    false,
  );
}

/** Gives the host workspace to the container's user, so it can work there. */
export async function giveWorkspace(
  hostWorkspace: string,
  ids: { uid: number; gid: number },
  user: string,
): Promise<void> {
  try {
    await chown(hostWorkspace, ids.uid, ids.gid);
  } catch (err) {
    throw new SandboxError(
      'ERR_NODE_SPAWN',
      `cannot give the workspace to runtime_config.user ${JSON.stringify(user)} (uid ${ids.uid}): ${(err as Error).message}; the server must run as root for that`,
      false,
      { cause: err },
    );
  }
}

export async function removeContainer(c: Docker.Container): Promise<void> {
  try {
    await c.remove({ force: true, v: true });
  } catch (err) {
    // Gone already, or its removal is under way.
    if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
  }
}

export async function removeVolume(v: Docker.Volume): Promise<void> {
  try {
    await v.remove();
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

/** Demultiplexes a non-TTY Docker stream into two readables that end with it. */
export function demux(
  docker: Docker,
  stream: NodeJS.ReadableStream,
): { stdout: PassThrough; stderr: PassThrough; ended: Promise<void> } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const ended = new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      stdout.end();
      stderr.end();
      resolve();
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
  });
  return { stdout, stderr, ended };
}

function collect(r: Readable): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    r.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Polls an exec until the engine reports it stopped (the stream may close a moment earlier). */
export async function execDone(exec: Docker.Exec): Promise<Docker.ExecInspectInfo> {
  for (let i = 0; ; i++) {
    const info = await exec.inspect();
    if (!info.Running) return info;
    await new Promise((r) => setTimeout(r, Math.min(5 * (i + 1), 50)));
  }
}

/** Runs a short helper command in a container and returns its exit code and stdout. */
export async function execCapture(
  docker: Docker,
  container: Docker.Container,
  cmd: string[],
): Promise<{ code: number | null; stdout: string }> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const { stdout, stderr, ended } = demux(docker, stream);
  stderr.resume();
  const out = collect(stdout);
  await ended;
  return { code: (await execDone(exec)).ExitCode, stdout: await out };
}

/** `128 + n` as a signal name, for processes we stopped. */
export function signalFromCode(code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128) return null;
  const n = code - 128;
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
