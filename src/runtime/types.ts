/**
 * Runtimes (DESIGN §6): where a node's processes run. A runtime hands out a Sandbox per
 * execution (or shares one per workflow / pool); the command executor starts processes through
 * it and never spawns on the host itself.
 */
import type { Readable, Writable } from 'node:stream';
import type { NetworkMode } from '../definition/model.ts';

/** Resource limits asked for by `runtime_config` (already parsed). */
export interface ResourceLimits {
  /** CPUs (e.g. 0.5, 2). */
  cpu?: number;
  /** Bytes. */
  memoryBytes?: number;
  /** Most processes/threads at once. */
  pids?: number;
}

export interface SandboxSpec {
  executionId: string;
  workflowId: string;
  /** Image for the docker runtime (`runtime_config.image`); recorded but unused by local. */
  image?: string;
  limits: ResourceLimits;
  /** `none` (default), `outbound` or `host` (the broker refuses it unless the server allows it). */
  network: NetworkMode;
  /** Host directory to use as the workspace (created by the broker). */
  hostWorkspace: string;
  /** The servers sharing one database (see databaseOwner); leftovers are reaped per owner. */
  owner?: string;
  /** A long-lived sandbox that executions share (per_workflow, shared): each has its own sub-directory. */
  shared?: boolean;
  /** `runtime_config.user` (docker): the user the container's processes run as; default the image's (root). */
  user?: string;
  /** `runtime_config.docker_socket` (docker): mount the engine's socket in the container, if the server allows it. */
  dockerSocket?: boolean;
}

export interface ProcessEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SandboxProcess {
  /** Host pid of the process (or of the client side of a docker exec), for logs. */
  readonly pid: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** The process's stdin, a pipe, when spawned with `stdin: true` (else it reads nothing). */
  readonly stdin?: Writable;
  /** Settles when the process has exited (its streams may still be draining). */
  readonly exited: Promise<ProcessEnd>;
  /** Stops the process and everything it started: SIGTERM, SIGKILL after `graceMs`; resolves when gone (or SIGKILL was sent). */
  terminate(graceMs: number): Promise<void>;
  /** Whether anything the process started is still running (after the process itself exited). */
  leftovers(): Promise<boolean>;
  /** After exit: whether the kernel's OOM killer ended it (memory limit). */
  oomKilled(): Promise<boolean>;
}

export interface SpawnOptions {
  /** Working directory as the process sees it (inside the sandbox). */
  cwd: string;
  env: Record<string, string>;
  /**
   * Give the process a stdin pipe (`SandboxProcess.stdin`) for a long-lived process spoken to
   * over its streams (an MCP server); by default stdin is empty.
   */
  stdin?: boolean;
  /** Run in a sidecar of this image sharing the workspace (docker only). */
  image?: string;
  /**
   * A stable name for what this process does (e.g. the node id). A process a dead server left
   * running under the same key in this sandbox's workspace is stopped before this one starts.
   */
  key?: string;
  /**
   * In a shared sandbox: the execution this process belongs to. It sees only its own
   * `<workspace>/<execution>` and runs as that execution's user.
   */
  execution?: string;
  /**
   * The LLM gateway for this process: the sandbox makes the socket reachable
   * (`SWITCHYARD_GATEWAY_SOCKET`) and, where it can, an HTTP base URL on the process's own
   * loopback (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `YARD_URL`), and gives it the token
   * (docs/runtimes.md says where). A sandbox that cannot reach the socket gives none of it.
   */
  gateway?: GatewayAccess;
}

/** What a process needs to reach the LLM gateway (docs/llm.md). */
export interface GatewayAccess {
  /** The attempt's execution token (`SWITCHYARD_TOKEN`). */
  token: string;
  /** Host path of the server's gateway socket. */
  socket: string;
}

export interface Sandbox {
  readonly runtime: 'local' | 'docker';
  /** How it isolates: `plain`, `bwrap`, `bwrap+cgroup-v1`, `docker`, ... (shown in the execution detail). */
  readonly isolation: string;
  /** Host path of the workspace. */
  readonly hostWorkspace: string;
  /** The workspace path as processes in the sandbox see it (`/workspace`, or the host path for plain processes). */
  readonly workspace: string;
  /** Limits asked for but not enforced here (e.g. `memory` without cgroups), for the execution detail. */
  readonly unenforced: readonly string[];
  /** The network the processes have (`outbound` falls back to `none` where it cannot be given). */
  readonly network: NetworkMode;
  /** Who the processes run as, for the execution detail (`sandbox (uid 3001234)`, ...). */
  readonly user?: string;
  /** Extra host paths the processes can read (server config), for the execution detail. */
  readonly readOnlyPaths?: readonly string[];
  /**
   * The host uid/gid of the sandbox's processes when it is not the server's: the files the server
   * creates for them in the workspace (the workspace itself, `$SWITCHYARD_OUTPUT`) are given to it.
   */
  readonly hostUser?: { uid: number; gid: number };
  spawn(argv: string[], opts: SpawnOptions): Promise<SandboxProcess>;
  /** Frees what the sandbox holds (cgroups, containers, volumes); the workspace directory stays. */
  destroy(): Promise<void>;
}

export interface Runtime {
  readonly name: 'local' | 'docker';
  /** True when this runtime can be used on this host (docker: the socket answers). */
  available(): Promise<boolean>;
  create(spec: SandboxSpec): Promise<Sandbox>;
  /** Removes sandboxes (containers, cgroups) whose execution is not in `alive` (crash leftovers). Returns what it removed. */
  reap(alive: (executionId: string) => Promise<boolean>): Promise<string[]>;
}
