/**
 * The real Docker engine for container tests (DESIGN §6) and the image they run, built offline:
 * never pulled. `scripts/dockerd.sh start` runs a private dockerd on SWITCHYARD_DOCKER_SOCKET
 * (default /run/switchyard-docker.sock). Without one, Docker suites skip with a printed reason,
 * except under CI (CI=true) or SWITCHYARD_REQUIRE_DOCKER=1, where they fail instead.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';

export const dockerSocket = process.env.SWITCHYARD_DOCKER_SOCKET ?? '/run/switchyard-docker.sock';
/** A busybox root file system: `sh`, `sleep`, `setsid`, `kill`, `cat`, ... and nothing else. */
export const testImage = 'switchyard-test:busybox';

const requireDocker = process.env.CI === 'true' || process.env.SWITCHYARD_REQUIRE_DOCKER === '1';

let probe: Promise<string | undefined> | undefined;

/** Undefined when dockerd answers on the socket, else why not. */
export function dockerUnavailable(): Promise<string | undefined> {
  probe ??= (async () => {
    if (!existsSync(dockerSocket)) {
      return `no Docker socket at ${dockerSocket} (start one with: bash scripts/dockerd.sh start)`;
    }
    try {
      await new Docker({ socketPath: dockerSocket, timeout: 10_000 }).ping();
      return undefined;
    } catch (err) {
      return `dockerd at ${dockerSocket} does not answer (${(err as Error).message})`;
    }
  })();
  return probe;
}

/** Skip option for node:test: a reason string to skip, or false; throws when Docker is required. */
export async function dockerAvailable(): Promise<string | false> {
  const why = await dockerUnavailable();
  if (why === undefined) return false;
  if (requireDocker) throw new Error(`${why}; CI requires Docker`);
  process.stderr.write(`# skipping Docker tests: ${why}\n`);
  return why;
}

export function testDocker(): Docker {
  return new Docker({ socketPath: dockerSocket });
}

/** The statically linked busybox of Debian's `busybox-static`, installed or downloaded with apt. */
function busyboxBinary(scratch: string): string {
  const installed = '/bin/busybox';
  try {
    const owner = execFileSync('dpkg-query', ['-S', installed], { encoding: 'utf8' });
    if (owner.startsWith('busybox-static:')) return installed;
  } catch {
    // not installed from busybox-static: fetch the package below
  }
  const debs = path.join(scratch, 'debs');
  mkdirSync(debs);
  execFileSync('apt-get', ['download', 'busybox-static'], { cwd: debs, stdio: 'ignore' });
  const deb = execFileSync('sh', ['-c', 'ls busybox-static_*.deb'], { cwd: debs, encoding: 'utf8' })
    .trim()
    .split('\n')[0]!;
  const unpacked = path.join(scratch, 'pkg');
  execFileSync('dpkg', ['-x', path.join(debs, deb), unpacked]);
  return path.join(unpacked, 'bin/busybox');
}

/** Lays out a root file system: /bin/busybox, one symlink per applet, /workspace, /tmp. */
function buildRootfs(root: string, busybox: string): void {
  for (const dir of ['bin', 'workspace', 'tmp', 'etc', 'proc', 'sys', 'dev']) {
    mkdirSync(path.join(root, dir), { recursive: true });
  }
  chmodSync(path.join(root, 'tmp'), 0o1777);
  copyFileSync(busybox, path.join(root, 'bin/busybox'));
  chmodSync(path.join(root, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n');
  for (const applet of applets) {
    if (applet === '' || applet === 'busybox' || applet.includes('/')) continue;
    symlinkSync('busybox', path.join(root, 'bin', applet));
  }
  // Busybox `ps`, `id` and `whoami` want these.
  execFileSync('sh', [
    '-c',
    `printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/false\\n' > ${root}/etc/passwd; printf 'root:x:0:\\nnogroup:x:65534:\\n' > ${root}/etc/group`,
  ]);
}

/** `tar -c` of `root` streamed into the engine's image import as `tag`. */
async function importRootfs(docker: Docker, root: string, tag: string): Promise<void> {
  const [repo, version] = tag.split(':') as [string, string];
  const tar = spawn('tar', ['--numeric-owner', '-C', root, '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tarDone = new Promise<void>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`))));
  });
  // No CMD in the image: the runtime always gives the command; dockerd adds a default PATH.
  const progress = await docker.importImage(tar.stdout, { repo, tag: version });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(progress, (err: Error | null, events: { error?: string }[]) => {
      const failed = events?.find((e) => e.error !== undefined);
      if (err) reject(err);
      else if (failed) reject(new Error(`docker import failed: ${failed.error}`));
      else resolve();
    });
  });
  await tarDone;
}

let ensured: Promise<void> | undefined;

/** Makes sure `testImage` exists on the engine, building it offline when it does not. */
export function ensureTestImage(docker: Docker): Promise<void> {
  ensured ??= (async () => {
    try {
      await docker.getImage(testImage).inspect();
      return;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    const scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-image-'));
    try {
      const root = path.join(scratch, 'rootfs');
      buildRootfs(root, busyboxBinary(scratch));
      await importRootfs(docker, root, testImage);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  })();
  return ensured;
}
