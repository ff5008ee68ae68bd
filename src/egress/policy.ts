/**
 * The egress decision, pure: may the server connect to this resolved address for this host name
 * and port? The caller resolves the name (src/egress/dispatcher.ts) and connects only to an
 * address this allowed, so the decision holds for the connection it is made for.
 */
import { BlockList, isIP } from 'node:net';
import { type EgressAllowEntry, refusedRanges } from './ranges.ts';

/** A host and port trusted without a check: the operator's own configuration (LLM base URLs). */
export interface TrustedOrigin {
  host: string;
  port: number;
}

export interface EgressPolicy {
  readonly allow: readonly EgressAllowEntry[];
  readonly trustedOrigins: readonly TrustedOrigin[];
  /** One list per refused range, so a refusal can say which range it hit. */
  readonly refused: readonly { list: BlockList; cidr: string; what: string }[];
  /** One list per CIDR allow entry, beside the entry. */
  readonly allowedCidrs: readonly { list: BlockList; entry: EgressAllowEntry }[];
}

export type EgressDecision = { allowed: true } | { allowed: false; reason: string };

export interface EgressTarget {
  /** The resolved IP address the connection would go to. */
  address: string;
  port: number;
  /** The URL's host name (an IP literal when the URL has one). */
  hostname: string;
}

export function createEgressPolicy(opts: {
  allow: readonly EgressAllowEntry[];
  trustedOrigins?: readonly TrustedOrigin[];
}): EgressPolicy {
  const listOf = (cidr: string, family: 4 | 6) => {
    const list = new BlockList();
    const slash = cidr.indexOf('/');
    list.addSubnet(cidr.slice(0, slash), Number(cidr.slice(slash + 1)), `ipv${family}`);
    return list;
  };
  return {
    allow: opts.allow,
    trustedOrigins: (opts.trustedOrigins ?? []).map((o) => ({
      host: normalizeHost(o.host),
      port: o.port,
    })),
    refused: refusedRanges.map((r) => ({
      list: listOf(r.cidr, r.family),
      cidr: r.cidr,
      what: r.what,
    })),
    allowedCidrs: opts.allow.flatMap((entry) =>
      entry.kind === 'cidr' ? [{ list: listOf(entry.cidr, entry.family), entry }] : [],
    ),
  };
}

/** The trusted origin of a base URL (`http://127.0.0.1:8080/v1` → 127.0.0.1:8080). */
export function originOf(baseUrl: string): TrustedOrigin {
  const url = new URL(baseUrl);
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host: normalizeHost(url.hostname), port };
}

export function checkEgress(policy: EgressPolicy, target: EgressTarget): EgressDecision {
  const hostname = normalizeHost(target.hostname);
  if (policy.trustedOrigins.some((o) => o.host === hostname && o.port === target.port))
    return { allowed: true };
  const ip = unmapIpv4(target.address);
  const family = isIP(ip);
  if (family !== 4 && family !== 6)
    return { allowed: false, reason: `${target.address} is not an IP address` };
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const hit = policy.refused.find((r) => r.list.check(ip, type));
  if (hit === undefined) return { allowed: true };
  const portMatches = (entry: EgressAllowEntry) =>
    entry.port === undefined || entry.port === target.port;
  for (const entry of policy.allow)
    if (entry.kind === 'host' && entry.host === hostname && portMatches(entry))
      return { allowed: true };
  for (const { list, entry } of policy.allowedCidrs)
    if (list.check(ip, type) && portMatches(entry)) return { allowed: true };
  const shown = ip === target.address ? ip : `${target.address} (${ip})`;
  return {
    allowed: false,
    reason: `${shown} is ${hit.what} (${hit.cidr})`,
  };
}

/** Lowercased, without IPv6 brackets or a trailing dot, as allow entries are stored. */
function normalizeHost(host: string): string {
  return host
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) as the IPv4 address it
 * carries, since a connection to it reaches that IPv4 address; any other address as it is.
 */
export function unmapIpv4(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIpv6(address);
  if (groups.slice(0, 5).some((g) => g !== 0) || groups[5] !== 0xffff) return address;
  const [hi, lo] = [groups[6]!, groups[7]!];
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, dotted tail converted). */
function expandIpv6(address: string): number[] {
  let text = address.split('%', 1)[0]!.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const b = dotted[1]!.split('.').map(Number);
    const tail = `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
    text = text.slice(0, dotted.index) + tail;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = parse(head);
  if (rest === undefined) return front;
  const back = parse(rest);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}
