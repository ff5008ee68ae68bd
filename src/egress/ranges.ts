/**
 * What a workflow may reach on the network, as data: the address ranges refused by default and
 * the operator's allowlist (`egressAllow`). One list serves the server's own calls (`http`, `llm`,
 * outbound webhooks) and the firewall of `outbound` sandboxes, so both refuse the same things.
 */
import { isIP } from 'node:net';

export interface RefusedRange {
  /** CIDR, e.g. `10.0.0.0/8` or `fc00::/7`. */
  cidr: string;
  family: 4 | 6;
  /** What the range is, for error messages. */
  what: string;
}

/**
 * Refused unless `egressAllow` names them: the host itself, private networks, link-local (cloud
 * metadata), multicast and the unspecified and reserved addresses. IPv4-mapped IPv6 addresses are
 * checked as the IPv4 address they carry.
 */
export const refusedRanges: readonly RefusedRange[] = [
  { cidr: '0.0.0.0/8', family: 4, what: 'unspecified ("this network")' },
  { cidr: '10.0.0.0/8', family: 4, what: 'private (RFC 1918)' },
  { cidr: '100.64.0.0/10', family: 4, what: 'carrier-grade NAT (RFC 6598)' },
  { cidr: '127.0.0.0/8', family: 4, what: 'loopback' },
  { cidr: '169.254.0.0/16', family: 4, what: 'link-local (cloud metadata)' },
  { cidr: '172.16.0.0/12', family: 4, what: 'private (RFC 1918)' },
  { cidr: '192.0.0.0/24', family: 4, what: 'IETF protocol assignments' },
  { cidr: '192.168.0.0/16', family: 4, what: 'private (RFC 1918)' },
  { cidr: '198.18.0.0/15', family: 4, what: 'network benchmarking (RFC 2544)' },
  { cidr: '224.0.0.0/4', family: 4, what: 'multicast' },
  { cidr: '240.0.0.0/4', family: 4, what: 'reserved and broadcast' },
  { cidr: '::/128', family: 6, what: 'unspecified' },
  { cidr: '::1/128', family: 6, what: 'loopback' },
  { cidr: '64:ff9b::/96', family: 6, what: 'NAT64 (may carry a private IPv4 address)' },
  { cidr: '100::/64', family: 6, what: 'discard-only' },
  { cidr: 'fc00::/7', family: 6, what: 'unique local (ULA)' },
  { cidr: 'fe80::/10', family: 6, what: 'link-local' },
  { cidr: 'ff00::/8', family: 6, what: 'multicast' },
];

/** One entry of `egressAllow`. */
export type EgressAllowEntry =
  | { kind: 'cidr'; cidr: string; family: 4 | 6; port?: number; text: string }
  | { kind: 'host'; host: string; port?: number; text: string };

/** Where the allowlist is set, for error messages. */
export const egressAllowSetting = 'egressAllow (SWITCHYARD_EGRESS_ALLOW)';

/**
 * Parses one `egressAllow` entry: an address (`127.0.0.1`, `::1`), a CIDR (`10.0.0.0/8`,
 * `fd00::/8`), a host name (`mirror.internal`), each optionally with a port (`host:port`,
 * `[::1]:8080`, `10.0.0.5:3128`). Throws with the entry in the message when it is none of these.
 */
function parseEgressAllowEntry(raw: string): EgressAllowEntry {
  const text = raw.trim();
  const bad = (why: string) => new Error(`egressAllow entry '${text}' ${why}`);
  let rest = text;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracket !== null) {
    rest = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else {
    const hostPort = /^([^:/]+|[^:]+\/\d+):(\d+)$/.exec(rest);
    if (hostPort !== null && isIP(hostPort[1]!.split('/')[0]!) !== 6) {
      rest = hostPort[1]!;
      port = Number(hostPort[2]);
    }
  }
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    throw bad('has a port outside 1-65535');
  const slash = rest.indexOf('/');
  const address = slash === -1 ? rest : rest.slice(0, slash);
  const family = isIP(address);
  if (family === 4 || family === 6) {
    const max = family === 4 ? 32 : 128;
    const bits = slash === -1 ? max : Number(rest.slice(slash + 1));
    if (!/^\d+$/.test(slash === -1 ? String(max) : rest.slice(slash + 1)) || bits > max)
      throw bad(`has a prefix length outside 0-${max}`);
    const cidr = `${address}/${bits}`;
    return port === undefined
      ? { kind: 'cidr', cidr, family, text }
      : { kind: 'cidr', cidr, family, port, text };
  }
  if (slash !== -1) throw bad('is not a CIDR: the part before / is not an IP address');
  if (
    !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i.test(
      address,
    )
  )
    throw bad('is neither an address, a CIDR nor a host name');
  const host = address.toLowerCase().replace(/\.$/, '');
  return port === undefined ? { kind: 'host', host, text } : { kind: 'host', host, port, text };
}

/** Parses the whole list (a list in the config file, comma-separated text in env and flags). */
export function parseEgressAllow(list: readonly string[]): EgressAllowEntry[] {
  return list.filter((entry) => entry.trim() !== '').map(parseEgressAllowEntry);
}
