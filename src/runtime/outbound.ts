/**
 * The `outbound` network mode (issue "Security: network: host …"): a sandbox in a network
 * namespace of its own that reaches the outside and not the host.
 *
 * - `pasta` (Debian's `passt`) gives the namespace user-mode networking: the sandbox's packets
 *   leave as ordinary sockets of the host, so no bridge, NAT or host firewall change is needed.
 *   It runs with `--no-map-gw` (the gateway address is not the host's loopback) and with every
 *   port forwarding off (`-t/-u/-T/-U none`: nothing of the host's loopback is mapped in). DNS
 *   goes to one address that pasta forwards to the host's resolver (`--dns-forward`).
 * - A firewall inside the namespace (iptables, installed before pasta attaches) refuses what
 *   `refusedRanges` lists (loopback, private, CGNAT, link-local, ULA, multicast, …) and every
 *   address of the host's own interfaces, except what the operator's `egressAllow` opens. The
 *   sandbox's processes hold no capabilities there, so they cannot change it.
 *
 * The local runtime creates a named namespace per sandbox (`ip netns add`) and runs commands in
 * it; the docker runtime attaches the same setup to a container's namespace.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { type EgressAllowEntry, refusedRanges } from '../egress/ranges.ts';
import { findExecutable } from './executables.ts';

/** Where DNS queries from an outbound sandbox go; pasta answers them through the host's resolver. */
export const outboundDnsAddress = '169.254.1.53';

export interface OutboundTools {
  pasta: string;
  setpriv: string;
  ip: string;
  nsenter: string;
  iptablesRestore: string;
  ip6tablesRestore: string;
}

/** Finds what the outbound mode needs; `problem` says what is missing. */
export async function probeOutbound(): Promise<{ tools?: OutboundTools; problem?: string }> {
  if (process.getuid?.() !== 0)
    return { problem: 'the server is not root (network namespaces need root)' };
  const found: Partial<Record<keyof OutboundTools, string>> = {};
  const wanted: [keyof OutboundTools, string, string][] = [
    ['pasta', 'pasta', 'passt'],
    ['setpriv', 'setpriv', 'util-linux'],
    ['ip', 'ip', 'iproute2'],
    ['nsenter', 'nsenter', 'util-linux'],
    ['iptablesRestore', 'iptables-restore', 'iptables'],
    ['ip6tablesRestore', 'ip6tables-restore', 'iptables'],
  ];
  const searchPath = `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin`;
  for (const [key, name, pkg] of wanted) {
    const file = await findExecutable(name, searchPath);
    if (file === undefined) return { problem: `${name} is not installed (Debian package ${pkg})` };
    found[key] = file;
  }
  return { tools: found as OutboundTools };
}

/** The addresses of this host's own interfaces (a sandbox must not reach them through pasta). */
function hostAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) out.add(entry.address.replace(/%.*$/, ''));
  }
  return [...out];
}

/** Allow entries with host names resolved to addresses (once, when the namespace is made). */
async function resolveAllow(
  allow: readonly EgressAllowEntry[],
): Promise<{ address: string; family: 4 | 6; port?: number }[]> {
  const out: { address: string; family: 4 | 6; port?: number }[] = [];
  for (const entry of allow) {
    if (entry.kind === 'cidr') {
      out.push({
        address: entry.cidr,
        family: entry.family,
        ...(entry.port !== undefined && { port: entry.port }),
      });
      continue;
    }
    const found = await lookup(entry.host, { all: true }).catch(() => []);
    for (const a of found) {
      if (a.family !== 4 && a.family !== 6) continue;
      out.push({
        address: `${a.address}/${a.family === 4 ? 32 : 128}`,
        family: a.family,
        ...(entry.port !== undefined && { port: entry.port }),
      });
    }
  }
  return out;
}

/**
 * The namespace's firewall as iptables-restore input, one per family: loopback inside the
 * namespace and DNS to the forwarder pass, then what the allowlist opens, then the refused ranges
 * and the host's own addresses are rejected (TCP with a reset, so a connect fails at once).
 */
export function firewallRules(opts: {
  allow: readonly { address: string; family: 4 | 6; port?: number }[];
  hostAddresses: readonly string[];
}): { v4: string; v6: string } {
  const build = (family: 4 | 6): string => {
    const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]'];
    lines.push(':OUTPUT ACCEPT [0:0]', ':SY_REFUSE - [0:0]');
    lines.push('-A SY_REFUSE -p tcp -j REJECT --reject-with tcp-reset');
    lines.push(`-A SY_REFUSE -j REJECT`);
    lines.push('-A OUTPUT -o lo -j ACCEPT');
    if (family === 4) {
      for (const proto of ['udp', 'tcp'])
        lines.push(`-A OUTPUT -d ${outboundDnsAddress}/32 -p ${proto} --dport 53 -j ACCEPT`);
    }
    for (const a of opts.allow) {
      if (a.family !== family) continue;
      if (a.port === undefined) lines.push(`-A OUTPUT -d ${a.address} -j ACCEPT`);
      else
        for (const proto of ['tcp', 'udp'])
          lines.push(`-A OUTPUT -d ${a.address} -p ${proto} --dport ${a.port} -j ACCEPT`);
    }
    for (const r of refusedRanges)
      if (r.family === family) lines.push(`-A OUTPUT -d ${r.cidr} -j SY_REFUSE`);
    for (const address of opts.hostAddresses) {
      if (isIP(address) !== family) continue;
      lines.push(`-A OUTPUT -d ${address}/${family === 4 ? 32 : 128} -j SY_REFUSE`);
    }
    lines.push('COMMIT', '');
    return lines.join('\n');
  };
  return { v4: build(4), v6: build(6) };
}

/** Network namespaces this runtime names: `sy-<owner>-<sandbox>` under /run/netns. */
const netnsDir = '/run/netns';

export function namespaceName(owner: string, sandboxId: string): string {
  return `sy-${owner.slice(0, 8)}-${sandboxId}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** A live outbound namespace: commands join `path`; `destroy` stops pasta and removes it. */
export interface OutboundNamespace {
  readonly path: string;
  destroy(): Promise<void>;
}

/**
 * Makes (or makes again, after a crash) the named namespace `name`: a new one, or with `pid` the
 * network namespace of that process (a container's), then installs the firewall and attaches
 * pasta. Fails closed: no pasta without the firewall. pasta dies with the server (parent-death
 * signal); a namespace it left behind is made anew or reaped.
 */
export async function openOutbound(
  tools: OutboundTools,
  name: string,
  allow: readonly EgressAllowEntry[],
  pid?: number,
): Promise<OutboundNamespace> {
  const nsPath = path.join(netnsDir, name);
  await run(tools.ip, ['netns', 'delete', name]).catch(() => undefined);
  await run(
    tools.ip,
    pid === undefined ? ['netns', 'add', name] : ['netns', 'attach', name, String(pid)],
  );
  try {
    const rules = firewallRules({
      allow: await resolveAllow(allow),
      hostAddresses: hostAddresses(),
    });
    await run(tools.nsenter, [`--net=${nsPath}`, '--', tools.iptablesRestore], rules.v4);
    await run(tools.nsenter, [`--net=${nsPath}`, '--', tools.ip6tablesRestore], rules.v6);
    const pasta = await startPasta(tools, nsPath);
    return {
      path: nsPath,
      async destroy() {
        await pasta.stop();
        await run(tools.ip, ['netns', 'delete', name]).catch(() => undefined);
      },
    };
  } catch (error) {
    await run(tools.ip, ['netns', 'delete', name]).catch(() => undefined);
    throw error;
  }
}

async function startPasta(
  tools: OutboundTools,
  nsPath: string,
): Promise<{ stop(): Promise<void> }> {
  const child = spawn(
    tools.setpriv,
    [
      '--pdeathsig',
      'SIGKILL',
      '--',
      tools.pasta,
      '--foreground',
      '--quiet',
      // As root pasta would switch to nobody before joining the namespace and fail; it confines
      // itself after setup (own user and mount namespaces, empty root, seccomp).
      '--runas',
      '0',
      '--config-net',
      '--no-map-gw',
      '--tcp-ports',
      'none',
      '--udp-ports',
      'none',
      '--tcp-ns',
      'none',
      '--udp-ns',
      'none',
      '--dns-forward',
      outboundDnsAddress,
      '--netns',
      nsPath,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 64) stderr.push(chunk);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  child.once('error', () => undefined);
  // Ready once the namespace has its interface and default route (pasta --config-net).
  const ready = await waitForRoute(tools, nsPath, exited);
  if (!ready) {
    child.kill('SIGKILL');
    const why = Buffer.concat(stderr)
      .toString()
      .replace(/Failed to send \d+ bytes to syslog\n?/g, '');
    throw new Error(`pasta could not attach to the sandbox's network: ${why.trim() || 'no route'}`);
  }
  return { stop: () => stopChild(child, exited) };
}

async function waitForRoute(
  tools: OutboundTools,
  nsPath: string,
  exited: Promise<number | null>,
): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 200 && !gone; i++) {
    const routes = await run(tools.nsenter, [
      `--net=${nsPath}`,
      '--',
      tools.ip,
      'route',
      'show',
      'default',
    ]).catch(() => '');
    if (routes.trim() !== '') return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

/** Removes named namespaces of `owner` whose sandbox is over (after a crash). */
export async function reapNamespaces(
  tools: OutboundTools,
  owner: string,
  alive: (sandboxId: string) => Promise<boolean>,
): Promise<string[]> {
  const prefix = namespaceName(owner, '');
  const names = await readdir(netnsDir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    if (await alive(name.slice(prefix.length))) continue;
    await run(tools.ip, ['netns', 'delete', name]).catch(() => undefined);
    removed.push(`netns ${name}`);
  }
  return removed;
}

function run(file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else
        reject(
          new Error(`${path.basename(file)} ${args.join(' ')}: ${stderr.trim() || error.message}`),
        );
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
