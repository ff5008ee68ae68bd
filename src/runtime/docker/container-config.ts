/**
 * What a docker sandbox's containers are made of: name, labels, the workspace bind, limits and
 * the hardening (docs/runtimes.md, "Threat model"): `no-new-privileges`, every capability dropped
 * but `keptCapabilities`, and nothing of the host but the workspace, plus the engine's socket
 * only when the workflow asks and the server allows it (runtime.ts checks).
 */
import path from 'node:path';
import type Docker from 'dockerode';
import { sandboxGatewaySocket } from '../gateway-forwarder.ts';
import type { SandboxSpec } from '../types.ts';

/** Where the workspace is mounted in every container. */
export const containerWorkspace = '/workspace';

export const dockerLabels = {
  managed: 'switchyard',
  execution: 'switchyard.execution',
  workflow: 'switchyard.workflow',
  /** `sandbox` for the idle container, `sidecar` for a node-level image's container. */
  role: 'switchyard.role',
} as const;

/** Where the engine's socket appears in a container that asked for it. */
const containerDockerSocket = '/var/run/docker.sock';

/**
 * The capabilities a container keeps (all others are dropped): Docker's default set without
 * NET_RAW (raw sockets, ARP/ICMP spoofing), MKNOD (device nodes), AUDIT_WRITE, SETFCAP (file
 * capabilities) and SYS_CHROOT. What is left is what package installs, `chown`, `su`/`setpriv`
 * from root and servers on low ports need.
 */
export const keptCapabilities = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'NET_BIND_SERVICE',
] as const;

export function containerName(executionId: string): string {
  return `sy-${executionId}`;
}
type Role = 'sandbox' | 'sidecar';

export function containerConfig(
  spec: SandboxSpec,
  image: string,
  name: string,
  role: Role,
  socketPath: string,
  extra: Partial<Docker.ContainerCreateOptions>,
  gatewaySocket?: string,
): Docker.ContainerCreateOptions {
  const { cpu, memoryBytes, pids } = spec.limits;
  const binds = [`${path.resolve(spec.hostWorkspace)}:${containerWorkspace}`];
  // Only asked for and allowed (create checks): it is root on the host.
  if (spec.dockerSocket === true)
    binds.push(`${path.resolve(socketPath)}:${containerDockerSocket}`);
  // The LLM gateway's socket (docs/runtimes.md): serves the gateway and the own execution only.
  if (gatewaySocket !== undefined && role === 'sandbox')
    binds.push(`${path.resolve(gatewaySocket)}:${sandboxGatewaySocket}`);
  return {
    name,
    Image: image,
    Labels: {
      [dockerLabels.managed]: spec.owner ?? '1',
      [dockerLabels.execution]: spec.executionId,
      [dockerLabels.workflow]: spec.workflowId,
      [dockerLabels.role]: role,
    },
    WorkingDir: containerWorkspace,
    ...(spec.user !== undefined && { User: spec.user }),
    AttachStdin: false,
    AttachStdout: role === 'sidecar',
    AttachStderr: role === 'sidecar',
    Tty: false,
    ...extra,
    HostConfig: {
      Binds: binds,
      // A sidecar shares the sandbox's network (its namespace, firewall and pasta) when it has one.
      NetworkMode:
        spec.network === 'host'
          ? 'host'
          : role === 'sidecar' && spec.network === 'outbound'
            ? `container:${containerName(spec.executionId)}`
            : 'none',
      Init: true,
      SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'],
      CapAdd: [...keptCapabilities],
      // Output reaches us through attach/exec streams; the engine need not keep a copy.
      LogConfig: { Type: 'none', Config: {} },
      ...(cpu !== undefined && { NanoCpus: Math.round(cpu * 1e9) }),
      // MemorySwap equal to Memory: no swap on top of the limit.
      ...(memoryBytes !== undefined && { Memory: memoryBytes, MemorySwap: memoryBytes }),
      ...(pids !== undefined && { PidsLimit: pids }),
    },
  };
}
