/**
 * The network of a docker sandbox. Containers start with `NetworkMode: none` (or `host` when the
 * broker let it through); `outbound` attaches the same setup as the local runtime to the
 * container's namespace (outbound.ts: a firewall inside, then pasta): no bridge of dockerd's, so
 * it works with a dockerd started with `--iptables=false`, and the host and private ranges are
 * refused by the same rules as on the local runtime. It needs the engine on this host (the
 * container's pid here); elsewhere the sandbox gets no network and lists `outbound` as unenforced.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { NetworkMode } from '../../definition/model.ts';
import type { EgressAllowEntry } from '../../egress/ranges.ts';
import {
  type OutboundNamespace,
  type OutboundTools,
  namespaceName,
  openOutbound,
  outboundDnsAddress,
  probeOutbound,
} from '../outbound.ts';
import type { SandboxSpec } from '../types.ts';

let probed: Promise<{ tools?: OutboundTools; problem?: string }> | undefined;

export async function containerNetwork(
  spec: SandboxSpec,
  container: { pid: number; resolvConfPath: string | undefined },
  opts: { owner?: string; egressAllow?: readonly EgressAllowEntry[]; hostView: boolean },
): Promise<{ network: NetworkMode; netns?: OutboundNamespace }> {
  if (spec.network !== 'outbound') return { network: spec.network };
  const { tools } = await (probed ??= probeOutbound());
  const nsFile = `/proc/${container.pid}/ns/net`;
  if (tools === undefined || !opts.hostView || container.pid <= 0 || !existsSync(nsFile))
    return { network: 'none' };
  const netns = await openOutbound(
    tools,
    namespaceName(opts.owner ?? 'default', spec.executionId),
    opts.egressAllow ?? [],
    container.pid,
  );
  // The engine bind-mounts this file at /etc/resolv.conf; rewritten in place (same inode).
  if (container.resolvConfPath !== undefined && container.resolvConfPath !== '')
    await writeFile(container.resolvConfPath, `nameserver ${outboundDnsAddress}\n`).catch(
      () => undefined,
    );
  return { network: 'outbound', netns };
}
