/**
 * The docker runtime (DESIGN §6), on the Docker Engine API through dockerode.
 *
 * One container `sy-<execId>` per sandbox, from the execution's image, idling in `sleep
 * infinity` under docker-init (`Init`, so orphans are reaped), with the cpu/memory/pids limits,
 * its own network namespace (`outbound` attaches pasta and a firewall to it, network.ts;
 * `host` only where the server allows it), and the labels `switchyard=1`,
 * `switchyard.execution=<id>`, `switchyard.workflow=<id>` that `reap` and `destroy` find it by.
 * Each command is a Docker exec in it. A node with its own `image` runs in a sidecar container
 * `sy-<execId>-<hash>` of that image that shares the workspace and is removed once it exits.
 *
 * The workspace is the broker's host directory bind-mounted at /workspace rather than a named
 * volume: artifacts are collected from the host path while and after the container lives, with no
 * copy out of a volume, and sidecars mount the same directory. It needs the engine on this host,
 * which a unix socket implies. Images are never pulled: a missing one fails at once.
 *
 * Hardening (docs/runtimes.md, "Threat model"): `no-new-privileges`, every capability dropped but
 * `keptCapabilities`, and nothing of the host but the workspace: the engine's socket is mounted
 * only when the workflow asks (`runtime_config.docker_socket`) and the server allows it
 * (`allowDockerSocket`), else the sandbox fails with ERR_RUNTIME_FORBIDDEN. Processes run as the
 * image's user (root, for the usual CI images) unless `runtime_config.user` names another; the
 * workspace then belongs to that user's uid/gid on the host.
 */
import Docker from 'dockerode';
import type { EgressAllowEntry } from '../../egress/ranges.ts';
import type { Runtime } from '../types.ts';
import { containerConfig, containerName, dockerLabels } from './container-config.ts';
import { createOrAdopt, giveWorkspace, removeContainer, removeVolume, userIds } from './engine.ts';
import { SandboxError } from './errors.ts';
import { HostView } from './host-view.ts';
import { containerNetwork } from './network.ts';
import { startContainerForwarder } from './gateway.ts';
import { DockerSandbox } from './sandbox.ts';

export interface DockerRuntimeOptions {
  /** The engine's unix socket, e.g. /run/switchyard-docker.sock. */
  socketPath: string;
  /** Image when the execution names none. */
  defaultImage?: string;
  /**
   * Signal and inspect an exec's processes from this host (its /proc and the container's cgroup)
   * when the engine's processes are visible here; default true. False, or an engine elsewhere
   * (a VM, another pid namespace), uses helper execs in the container instead.
   */
  hostProcessControl?: boolean;
  /** Only containers labelled with this owner are reaped (servers sharing one database share it). */
  owner?: string;
  /**
   * Whether a workflow may have the engine's socket mounted (`runtime_config.docker_socket`);
   * default false: asking fails the sandbox with ERR_RUNTIME_FORBIDDEN.
   */
  allowDockerSocket?: boolean;
  /** What `outbound` containers may reach although it is refused by default (`egressAllow`). */
  egressAllow?: readonly EgressAllowEntry[];
  /** Host path of the server's LLM gateway socket, mounted into sandbox containers. */
  gatewaySocket?: string;
}

/** What `dockerd` says it can limit, asked once per runtime. */
interface EngineCaps {
  cpu: boolean;
  memory: boolean;
  pids: boolean;
}

export function createDockerRuntime(opts: DockerRuntimeOptions): Runtime {
  // No client-wide timeout: it would also cut the streams of long commands.
  const docker = new Docker({ socketPath: opts.socketPath });
  // A second client just for pings, so a hung engine answers `available()` with false quickly.
  const pinger = new Docker({ socketPath: opts.socketPath, timeout: 2000 });
  let caps: Promise<EngineCaps> | undefined;
  const engineCaps = () =>
    (caps ??= docker.info().then(
      (info: { CpuCfsQuota?: boolean; MemoryLimit?: boolean; PidsLimit?: boolean }) => ({
        cpu: info.CpuCfsQuota !== false,
        memory: info.MemoryLimit !== false,
        pids: info.PidsLimit !== false,
      }),
      () => ({ cpu: true, memory: true, pids: true }),
    ));

  return {
    name: 'docker',

    async available() {
      try {
        await pinger.ping();
        return true;
      } catch {
        return false;
      }
    },

    async create(spec) {
      const image = spec.image ?? opts.defaultImage;
      if (image === undefined || image === '') {
        throw new SandboxError(
          'ERR_NODE_IMAGE',
          'the docker runtime needs an image: set runtime_config.image',
          false,
        );
      }
      if (spec.dockerSocket === true && opts.allowDockerSocket !== true) {
        throw new SandboxError(
          'ERR_RUNTIME_FORBIDDEN',
          'runtime_config.docker_socket asks for the Docker socket, which gives root on the host; this server does not allow it (allowDockerSocket)',
          false,
        );
      }
      const name = containerName(spec.executionId);
      const config = containerConfig(
        spec,
        image,
        name,
        'sandbox',
        opts.socketPath,
        {
          Entrypoint: ['sleep'],
          Cmd: ['infinity'],
          // The workspace may not be the user's yet; execs set their own working directory.
          ...(spec.user !== undefined && { WorkingDir: '/' }),
        },
        opts.gatewaySocket,
      );
      const container = await createOrAdopt(docker, config, image, spec.user);
      const have = await engineCaps();
      const unenforced: string[] = [];
      if (spec.limits.cpu !== undefined && !have.cpu) unenforced.push('cpu');
      if (spec.limits.memoryBytes !== undefined && !have.memory) unenforced.push('memory');
      if (spec.limits.pids !== undefined && !have.pids) unenforced.push('pids');
      const info = await container.inspect();
      let hostUser: { uid: number; gid: number } | undefined;
      if (spec.user !== undefined) {
        try {
          hostUser = await userIds(docker, container, spec.user);
          await giveWorkspace(spec.hostWorkspace, hostUser, spec.user);
        } catch (err) {
          await removeContainer(container);
          throw err;
        }
      }
      const host =
        opts.hostProcessControl === false ? undefined : HostView.of(info.State.Pid, info.Id);
      const user = spec.user ?? (info.Config.User || 'root');
      let net: Awaited<ReturnType<typeof containerNetwork>>;
      try {
        net = await containerNetwork(
          spec,
          { pid: info.State.Pid, resolvConfPath: info.ResolvConfPath },
          { ...opts, hostView: opts.hostProcessControl !== false },
        );
      } catch (err) {
        await removeContainer(container);
        throw err;
      }
      if (net.network !== spec.network) unenforced.push(spec.network);
      // The gateway's base URL on the container's loopback; without it, the mounted socket only.
      const forwarder =
        opts.gatewaySocket === undefined || opts.hostProcessControl === false
          ? undefined
          : await startContainerForwarder(info.State.Pid, opts.gatewaySocket);
      return new DockerSandbox(
        docker,
        spec,
        image,
        container,
        unenforced,
        host,
        user,
        hostUser,
        opts.socketPath,
        net,
        {
          mounted: opts.gatewaySocket !== undefined,
          ...(forwarder !== undefined && 'port' in forwarder && { forwarder }),
        },
      );
    },

    async reap(alive) {
      const removed: string[] = [];
      const containers = await docker.listContainers({
        all: true,
        filters: { label: [`${dockerLabels.managed}=${opts.owner ?? '1'}`] },
      });
      const verdicts = new Map<string, Promise<boolean>>();
      const isAlive = (id: string | undefined) => {
        if (id === undefined) return Promise.resolve(false);
        let v = verdicts.get(id);
        if (!v) verdicts.set(id, (v = alive(id)));
        return v;
      };
      for (const c of containers) {
        if (await isAlive(c.Labels[dockerLabels.execution])) continue;
        await removeContainer(docker.getContainer(c.Id));
        removed.push(c.Names[0]?.replace(/^\//, '') ?? c.Id);
      }
      const { Volumes: volumes } = await docker.listVolumes({
        filters: { label: [`${dockerLabels.managed}=${opts.owner ?? '1'}`] },
      });
      for (const v of volumes ?? []) {
        if (await isAlive(v.Labels?.[dockerLabels.execution])) continue;
        await removeVolume(docker.getVolume(v.Name));
        removed.push(v.Name);
      }
      return removed;
    },
  };
}
