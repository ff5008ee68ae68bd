/**
 * What a local sandbox sees of the host's file system.
 *
 * - Under bubblewrap: a minimal root built from nothing — `/usr` and the `/bin` `/lib*` `/sbin`
 *   links read-only, the parts of `/etc` programs read (the dynamic linker's cache, certificates,
 *   time zone, name service config, `alternatives`), the sandbox's own `passwd`/`group`, a copy
 *   of `resolv.conf` when the network is on, fresh `/dev`, `/proc` and `/tmp`, the workspace, and
 *   the extra read-only paths the server's config names. Nothing of `/root`, `/home`, `/var`,
 *   `/run`, `/srv`, `/mnt`, `/media`, `/opt`, the data directory or the server's checkout.
 * - Plain, as root: the host's root as an unprivileged user sees it, in new pid, mount and
 *   (network none) net namespaces, with `/run` (every host socket: PostgreSQL, Docker, D-Bus,
 *   systemd), `/tmp`, `/var/tmp`, `/dev/shm` and the top-level directory that holds the workspace replaced by
 *   empty tmpfs mounts, and only the workspace mounted back at its own path.
 */
import { readFile, lstat, readlink, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NetworkMode } from '../definition/model.ts';
import { sandboxGatewaySocket } from './gateway-forwarder.ts';
import { outboundDnsAddress } from './outbound.ts';

/** Where processes see the workspace under bubblewrap. */
export const sandboxWorkspace = '/workspace';

/** The parts of the host's /etc that programs read; each bound read-only when present. */
const etcEntries = [
  'alternatives',
  'ca-certificates',
  'ca-certificates.conf',
  'debian_version',
  'gai.conf',
  'host.conf',
  'hosts',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'localtime',
  'mime.types',
  'nsswitch.conf',
  'os-release',
  'protocols',
  'services',
  'ssl',
  'timezone',
];

/** Top-level entries that hold programs and libraries (links on merged-/usr systems). */
const programEntries = ['bin', 'lib', 'lib32', 'lib64', 'libx32', 'sbin'];

/**
 * The fixed part of the bubblewrap command line for one sandbox: everything but the workspace
 * and the user files, which depend on the execution (see `bwrapWorkspaceArgs`).
 */
export async function bwrapRootArgs(opts: {
  network: NetworkMode;
  readOnlyPaths: readonly string[];
  /** Directory for files the sandbox gets instead of the host's (resolv.conf). */
  etcDir: string;
}): Promise<string[]> {
  const args = ['--new-session', '--hostname', 'switchyard', '--ro-bind', '/usr', '/usr'];
  for (const name of programEntries) {
    const entry = `/${name}`;
    const st = await lstat(entry).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isSymbolicLink()) args.push('--symlink', await readlink(entry), entry);
    else if (st.isDirectory()) args.push('--ro-bind', entry, entry);
  }
  args.push('--dir', '/etc');
  for (const name of etcEntries) args.push('--ro-bind-try', `/etc/${name}`, `/etc/${name}`);
  args.push('--ro-bind', await sandboxGitConfig(opts.etcDir), '/etc/gitconfig');
  if (opts.network === 'host') {
    // resolv.conf often links into /run, which the sandbox must not see: bind a copy.
    const copy = await copyResolvConf(opts.etcDir);
    if (copy !== undefined) args.push('--ro-bind', copy, '/etc/resolv.conf');
  } else if (opts.network === 'outbound') {
    args.push('--ro-bind', await outboundResolvConf(opts.etcDir), '/etc/resolv.conf');
  }
  args.push('--dev', '/dev', '--proc', '/proc', '--perms', '1777', '--tmpfs', '/tmp');
  for (const p of opts.readOnlyPaths) args.push(...traversableParents(p), '--ro-bind-try', p, p);
  return args;
}

/** Top-level directories the minimal root has already (with their own modes). */
const rootTops = new Set(['usr', 'etc', 'dev', 'proc', 'tmp', 'workspace', ...programEntries]);

/**
 * `--dir` with mode 0755 for each parent of `p` that the minimal root lacks: bubblewrap would
 * otherwise create them with the server's umask (0700 under root), and the sandbox user could not
 * reach the bound path. The sandbox's /tmp is an empty tmpfs, so a path under it (a checkout in
 * /tmp) needs every parent below /tmp made.
 */
function traversableParents(p: string): string[] {
  const parts = path.resolve(p).split('/').filter(Boolean).slice(0, -1);
  if (parts.length === 0) return [];
  const from = parts[0] === 'tmp' ? 1 : rootTops.has(parts[0]!) ? parts.length : 0;
  return parts
    .slice(from)
    .flatMap((_, i) => ['--perms', '0755', '--dir', `/${parts.slice(0, from + i + 1).join('/')}`]);
}

/**
 * The per-command part: the sandbox's passwd/group, the workspace at `inside` (a sub-directory
 * of /workspace for executions sharing a long-lived sandbox), the root made read-only, and the
 * working directory.
 */
export function bwrapWorkspaceArgs(opts: {
  userFiles?: { passwd: string; group: string };
  hostWorkspace: string;
  inside: string;
  cwd: string;
}): string[] {
  const args: string[] = [];
  if (opts.userFiles !== undefined) {
    args.push('--ro-bind', opts.userFiles.passwd, '/etc/passwd');
    args.push('--ro-bind', opts.userFiles.group, '/etc/group');
  }
  args.push('--dir', sandboxWorkspace);
  if (opts.inside !== sandboxWorkspace) args.push('--dir', opts.inside);
  args.push('--bind', opts.hostWorkspace, opts.inside, '--remount-ro', '/', '--chdir', opts.cwd);
  return args;
}

/**
 * The sandbox's system git config. Each execution runs as a uid of its own, so git calls a
 * repository bound read-only from the host (sandboxReadOnlyPaths) "dubious" and refuses it; inside
 * the sandbox every directory is the execution's own or read-only, so trusting them all is safe.
 * (safe.directory counts only in system or global config, not in `-c` or the environment.)
 */
async function sandboxGitConfig(etcDir: string): Promise<string> {
  await mkdir(etcDir, { recursive: true, mode: 0o755 });
  const file = path.join(etcDir, 'gitconfig');
  await writeFile(file, '[safe]\n\tdirectory = *\n', { mode: 0o644 });
  return file;
}

/** resolv.conf of `outbound` sandboxes: the one DNS address pasta forwards to the host's resolver. */
export async function outboundResolvConf(etcDir: string): Promise<string> {
  await mkdir(etcDir, { recursive: true, mode: 0o755 });
  const file = path.join(etcDir, 'resolv.conf.outbound');
  await writeFile(file, `nameserver ${outboundDnsAddress}\n`, { mode: 0o644 });
  return file;
}

async function copyResolvConf(etcDir: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile('/etc/resolv.conf', 'utf8');
  } catch {
    return undefined;
  }
  await mkdir(etcDir, { recursive: true, mode: 0o755 });
  const file = path.join(etcDir, 'resolv.conf');
  await writeFile(file, text, { mode: 0o644 });
  return file;
}

/**
 * Run as root inside fresh pid + mount (+ net) namespaces, before privileges are dropped:
 * hides /run, /dev/shm, /tmp, /var/tmp and the workspace's top-level directory under empty
 * tmpfs mounts, mounts the workspace back at its own path, changes to the working directory and
 * runs the rest (which drops privileges) as its child. An `outbound` command gets its own
 * resolv.conf (also where the host's links into the hidden /run).
 * Arguments: workspace, top-level directory, working directory, resolv.conf (or empty), the LLM
 * gateway socket to bind at `sandboxGatewaySocket` (or empty), then the command.
 */
export const plainMountScript = [
  'ws=$1; top=$2; cwd=$3; resolv=$4; gw=$5; shift 5',
  'mount -t tmpfs -o mode=0755,size=16m switchyard-run /run || exit 125',
  // The LLM gateway socket, bound before the data directory's top is hidden; its forwarder
  // listens on the loopback, which a new network namespace starts with down.
  'if [ -n "$gw" ]; then',
  '  PATH="$PATH:/usr/sbin:/sbin" ip link set lo up 2>/dev/null',
  `  mkdir -p ${path.posix.dirname(sandboxGatewaySocket)} && : > ${sandboxGatewaySocket} && mount --bind "$gw" ${sandboxGatewaySocket} || exit 125`,
  'fi',
  'if [ -n "$resolv" ]; then',
  '  t=$(readlink -f /etc/resolv.conf)',
  '  case "$t" in /run/*) mkdir -p "${t%/*}" && : > "$t" ;; esac',
  '  if [ -e "$t" ]; then mount --bind "$resolv" "$t" || exit 125; fi',
  'fi',
  'mkdir /run/.workspace && mount --bind "$ws" /run/.workspace || exit 125',
  'mount -t tmpfs -o mode=1777 switchyard-shm /dev/shm 2>/dev/null',
  'for d in /tmp /var/tmp; do',
  '  if [ -d "$d" ] && [ "$d" != "$top" ]; then',
  '    mount -t tmpfs -o mode=1777 switchyard-tmp "$d" || exit 125',
  '  fi',
  'done',
  'if [ -n "$top" ]; then',
  '  if [ "$top" = /tmp ]; then mode=1777; else mode=0755; fi',
  '  mount -t tmpfs -o mode=$mode switchyard-top "$top" || exit 125',
  'fi',
  'mkdir -p "$ws" && mount --move /run/.workspace "$ws" && rmdir /run/.workspace || exit 125',
  'cd "$cwd" || exit 125',
  // Not exec: this shell stays the namespace's init (which the kernel shields from signals
  // without a handler), so `kill -9 $$` in the command works as on the host.
  '"$@"',
].join('\n');

/** Top-level directories that hold what every program needs: never hidden in plain mode. */
const systemTops = new Set([
  '/',
  '/usr',
  '/bin',
  '/lib',
  '/lib64',
  '/sbin',
  '/etc',
  '/dev',
  '/proc',
]);

/** The top-level directory of `hostWorkspace` that plain mode hides, or undefined when it cannot. */
export function hiddenTopOf(hostWorkspace: string): string | undefined {
  const [first] = path.resolve(hostWorkspace).split(path.sep).filter(Boolean);
  const top = first === undefined ? '/' : `/${first}`;
  return systemTops.has(top) ? undefined : top;
}
