/**
 * Who a sandboxed command runs as (issue "Security", DESIGN §6). A server running as root never
 * runs a workflow's command as root: each execution gets an unprivileged host uid of its own from
 * a configured range (`sandboxUidRange`), or every command runs as one configured user
 * (`sandboxUser: nobody`). The execution's workspace belongs to that uid and is 0700, so another
 * execution's commands cannot read it. A server that is not root cannot switch users: commands
 * run as the server's own user and the execution detail lists `identity` as unenforced.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface SandboxIdentity {
  uid: number;
  gid: number;
  /** The user name the sandbox's /etc/passwd gives it. */
  name: string;
}

export type IdentityPolicy =
  /** A uid per execution from [first, last]. */
  | { kind: 'range'; first: number; last: number }
  /** One user for every command. */
  | { kind: 'fixed'; identity: SandboxIdentity }
  /** The server's own user (not root, or no way to switch). */
  | { kind: 'server' };

const defaultUidRange: readonly [number, number] = [3_000_000, 3_999_999];

/**
 * The policy for `sandboxUser` (`auto`, a user name, `uid` or `uid:gid`) and `sandboxUidRange`
 * (`first-last`). Throws with a message naming the bad value.
 */
export function identityPolicy(
  sandboxUser: string,
  uidRange: string,
  serverUid: number | undefined,
): IdentityPolicy {
  if (serverUid !== 0) return { kind: 'server' };
  if (sandboxUser === '' || sandboxUser === 'auto') {
    const [first, last] = parseUidRange(uidRange);
    return { kind: 'range', first, last };
  }
  return { kind: 'fixed', identity: resolveUser(sandboxUser) };
}

export function parseUidRange(text: string): [number, number] {
  if (text.trim() === '') return [...defaultUidRange];
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1000 || last < first || last > 4_294_967_293) {
    throw new Error(
      `sandboxUidRange must be 'first-last' with 1000 <= first <= last (got ${JSON.stringify(text)})`,
    );
  }
  return [first, last];
}

/** `nobody`, `65534` or `65534:65534`; names are looked up in the host's /etc/passwd. */
export function resolveUser(spec: string): SandboxIdentity {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (numeric) {
    const uid = Number(numeric[1]);
    const gid = numeric[2] === undefined ? uid : Number(numeric[2]);
    if (uid === 0 || gid === 0) throw new Error('sandboxUser must not be root (uid or gid 0)');
    return { uid, gid, name: 'sandbox' };
  }
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // no passwd: the name cannot be found
  }
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === spec && uid !== undefined && gid !== undefined) {
      if (uid === '0' || gid === '0') throw new Error('sandboxUser must not be root');
      return { uid: Number(uid), gid: Number(gid), name };
    }
  }
  throw new Error(`sandboxUser ${JSON.stringify(spec)} is not a user of this host`);
}

/**
 * Hands out identities by policy. In `range` mode the uid comes from a hash of the execution id
 * (stable across restarts, and a workspace that already exists keeps its owner); a uid held by
 * another live execution of this process is skipped, so two running executions never share one.
 */
export class IdentityAllocator {
  private readonly holders = new Map<number, string>();
  private readonly byExecution = new Map<string, SandboxIdentity>();

  constructor(readonly policy: IdentityPolicy) {}

  get enforced(): boolean {
    return this.policy.kind !== 'server';
  }

  /** The identity for an execution, and its workspace made its own (owner, 0700). */
  async claim(executionId: string, hostWorkspace: string): Promise<SandboxIdentity | undefined> {
    const policy = this.policy;
    if (policy.kind === 'server') return undefined;
    let identity = this.byExecution.get(executionId);
    if (identity === undefined) {
      identity =
        policy.kind === 'fixed'
          ? policy.identity
          : await this.pick(policy, executionId, hostWorkspace);
      this.byExecution.set(executionId, identity);
      if (policy.kind === 'range') this.holders.set(identity.uid, executionId);
    }
    await mkdir(hostWorkspace, { recursive: true });
    await chown(hostWorkspace, identity.uid, identity.gid);
    await chmod(hostWorkspace, 0o700);
    return identity;
  }

  /** Frees the execution's uid for others (its sandbox is gone). */
  release(executionId: string): void {
    const identity = this.byExecution.get(executionId);
    if (identity === undefined) return;
    this.byExecution.delete(executionId);
    if (this.holders.get(identity.uid) === executionId) this.holders.delete(identity.uid);
  }

  private async pick(
    range: { first: number; last: number },
    executionId: string,
    hostWorkspace: string,
  ): Promise<SandboxIdentity> {
    const size = range.last - range.first + 1;
    const owner = await stat(hostWorkspace).then(
      (s) => s.uid,
      () => undefined,
    );
    if (owner !== undefined && owner >= range.first && owner <= range.last) {
      const holder = this.holders.get(owner);
      if (holder === undefined || holder === executionId) return sandboxUser(owner);
    }
    const hash = createHash('sha256').update(executionId).digest().readUInt32BE(0);
    for (let i = 0; i < Math.min(size, 1_000_000); i++) {
      const uid = range.first + ((hash + i) % size);
      const holder = this.holders.get(uid);
      if (holder === undefined || holder === executionId) return sandboxUser(uid);
    }
    throw new Error('every uid of sandboxUidRange is in use');
  }
}

function sandboxUser(uid: number): SandboxIdentity {
  return { uid, gid: uid, name: 'sandbox' };
}

/**
 * The sandbox's own /etc/passwd and /etc/group (bubblewrap binds them read-only): root, the
 * sandbox user with its home in the workspace, and nobody; nothing else of the host's users.
 * Written once per uid under `dir`; returns the two paths.
 */
export async function writeUserFiles(
  dir: string,
  identity: SandboxIdentity,
  home: string,
): Promise<{ passwd: string; group: string }> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const passwd = path.join(dir, `passwd-${identity.uid}`);
  const group = path.join(dir, `group-${identity.uid}`);
  const users = [
    'root:x:0:0:root:/root:/bin/sh',
    ...(identity.uid === 0
      ? []
      : [`${identity.name}:x:${identity.uid}:${identity.gid}:sandbox:${home}:/bin/sh`]),
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  ];
  const groups = [
    'root:x:0:',
    ...(identity.gid === 0 ? [] : [`${identity.name}:x:${identity.gid}:`]),
    'nogroup:x:65534:',
  ];
  await writeFile(passwd, `${[...new Set(users)].join('\n')}\n`, { mode: 0o644 });
  await writeFile(group, `${[...new Set(groups)].join('\n')}\n`, { mode: 0o644 });
  return { passwd, group };
}

/**
 * setpriv arguments that drop to `identity` with no capabilities and no way back. The kernel
 * clears a parent-death signal when credentials change; `--pdeathsig keep` restores it, so the
 * first process of a plain sandbox's pid namespace still dies with its parent (and the whole
 * namespace with it).
 */
export function dropPrivilegesArgs(setpriv: string, identity: SandboxIdentity): string[] {
  return [
    setpriv,
    `--reuid=${identity.uid}`,
    `--regid=${identity.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--pdeathsig',
    'keep',
    '--',
  ];
}
