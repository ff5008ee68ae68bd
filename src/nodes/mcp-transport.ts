/**
 * An MCP stdio transport over a process of the execution's sandbox: JSON-RPC messages, one per
 * line, written to its stdin and read from its stdout. The SDK's own stdio transport spawns on
 * the host, outside the sandbox; this one speaks to whatever `Sandbox.spawn` started (bubblewrap
 * locally), so an MCP server sees what a `command` node would and nothing more.
 */
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Writable } from 'node:stream';
import type { SandboxProcess } from '../runtime/types.ts';
import { errorMessage } from './errors.ts';

/** Most bytes of one message (a line) from a server; a longer one ends the connection. */
const maxMessageBytes = 4 * 1024 * 1024;

export class SandboxStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly buffer = new ReadBuffer({ maxBufferSize: maxMessageBytes });
  private closed = false;

  /** `stdin` is the process's stdin pipe; `onStderr` gets its stderr (for the node's log). */
  constructor(
    private readonly proc: SandboxProcess,
    private readonly stdin: Writable,
    private readonly onStderr: (chunk: Buffer) => void,
  ) {}

  start(): Promise<void> {
    this.proc.stdout.on('data', (chunk: Buffer) => this.read(chunk));
    this.proc.stderr.on('data', (chunk: Buffer) => this.onStderr(chunk));
    this.proc.stdout.once('end', () => this.end());
    void this.proc.exited.then(() => this.end());
    return Promise.resolve();
  }

  private read(chunk: Buffer): void {
    try {
      this.buffer.append(chunk);
    } catch (error) {
      this.onerror?.(new Error(errorMessage(error)));
      this.end();
      return;
    }
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (error) {
        // A line that is not JSON-RPC (a server printing to stdout): reported, then skipped.
        this.onerror?.(new Error(`not a JSON-RPC message: ${errorMessage(error)}`));
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the MCP server has ended'));
    return new Promise((resolve, reject) => {
      this.stdin.write(serializeMessage(message), (error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /** Ends stdin (a stdio server's signal to exit); the caller stops the process after. */
  close(): Promise<void> {
    this.stdin.end();
    this.end();
    return Promise.resolve();
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    this.onclose?.();
  }
}
