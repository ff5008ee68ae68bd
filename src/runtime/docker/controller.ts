/**
 * Process control in a docker sandbox whose processes this host cannot see (a remote engine):
 * one long-lived exec per sandbox that signals process groups on request. It is started before
 * the sandbox's first command, so it holds its process slot already when a command later fills
 * the pids limit; a one-shot helper exec then needs a new process in the container, which a
 * full limit refuses (runc exits 126) for as long as something re-takes every freed slot.
 */
import type Docker from 'dockerode';
import { demux } from './engine.ts';
import { controllerScript } from './scripts.ts';

export class GroupController {
  private buffer = '';
  private seq = 0;
  private readonly pending = new Map<number, (code: number | undefined) => void>();
  private ended = false;

  private constructor(private readonly stream: NodeJS.ReadWriteStream) {}

  /** Starts the controller exec; undefined when it cannot start (the caller uses helper execs). */
  static async start(
    docker: Docker,
    container: Docker.Container,
  ): Promise<GroupController | undefined> {
    try {
      const exec = await container.exec({
        Cmd: ['/bin/sh', '-c', controllerScript],
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      const stream = (await exec.start({ hijack: true, stdin: true })) as NodeJS.ReadWriteStream;
      const controller = new GroupController(stream);
      const { stdout, stderr, ended } = demux(docker, stream);
      stderr.resume();
      stdout.on('data', (chunk: Buffer) => controller.read(chunk.toString('utf8')));
      void ended.then(() => controller.end());
      stream.on('error', () => controller.end());
      return controller;
    } catch {
      return undefined;
    }
  }

  /** False once the exec ended (the container went, or a command killed it). */
  get alive(): boolean {
    return !this.ended;
  }

  /**
   * `kill -<signal> -<pgid>` for the group the wrapper recorded under `token` (`0` only checks
   * that it exists). Resolves 0 done, 1 no such group, 3 no pgid recorded yet, as the helper
   * scripts do; undefined when the controller is gone before it answered.
   */
  signal(token: string, signal: 'TERM' | 'KILL' | '0'): Promise<number | undefined> {
    if (this.ended) return Promise.resolve(undefined);
    const n = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(n, resolve);
      this.stream.write(`${n} ${token} ${signal}\n`);
    });
  }

  private read(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const [n, code] = this.buffer.slice(0, nl).split(' ').map(Number);
      this.buffer = this.buffer.slice(nl + 1);
      const resolve = this.pending.get(n!);
      this.pending.delete(n!);
      resolve?.(code);
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const resolve of this.pending.values()) resolve(undefined);
    this.pending.clear();
  }

  /** Ends the exec (its stdin closes, so its read loop ends). */
  close(): void {
    this.stream.end();
    this.end();
  }
}
