/**
 * The live view while waiting or following: on a terminal, one line per node with a status
 * symbol, redrawn in place (ANSI) as events arrive, log lines scrolling above it; elsewhere, one
 * plain line per event. It writes to stderr so stdout keeps only results (and `--json`).
 * When a node waits for a person, the view prints the prompt's message and the exact `yard`
 * command that answers it, so whoever watches the run can act without reading the docs.
 */
import { type NodeStatus, terminalNodeStatuses } from '../engine/status.ts';
import type { NodeView } from '../wire/executions.ts';

export interface StreamEventData {
  seq?: number;
  executionId?: string;
  nodeId?: string;
  status?: string;
  attempt?: number;
  at?: string;
  [key: string]: unknown;
}

const symbols: Record<string, string> = {
  pending: '·',
  queued: '○',
  running: '▶',
  waiting: '⏸',
  succeeded: '✓',
  failed: '✗',
  skipped: '-',
  cancelled: '⊘',
} satisfies Record<NodeStatus, string>;

const colors: Record<string, string> = {
  running: '\x1b[36m',
  waiting: '\x1b[33m',
  succeeded: '\x1b[32m',
  failed: '\x1b[31m',
  cancelled: '\x1b[35m',
  skipped: '\x1b[2m',
};

/** Node statuses after which a replayed prompt is already answered. */
const finished: ReadonlySet<string> = new Set(terminalNodeStatuses);

interface NodeLine {
  status: string;
  attempt: number;
  note: string;
}

export class Progress {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #enabled: boolean;
  readonly #nodes = new Map<string, NodeLine>();
  readonly #workflowId: string | undefined;
  /** The nodes as the detail showed them before the stream (which replays from the start). */
  readonly #seeded = new Map<string, { status: string; attempt: number }>();
  /** `nodeId/attempt` (or `turn N` for a chat) of each prompt already printed. */
  readonly #prompted = new Set<string>();
  #execStatus: string | undefined;
  #drawn = 0;

  constructor(
    readonly executionId: string,
    opts: { enabled: boolean; out?: NodeJS.WriteStream; workflowId?: string },
  ) {
    this.#out = opts.out ?? process.stderr;
    this.#tty = this.#out.isTTY === true && process.env.TERM !== 'dumb';
    this.#enabled = opts.enabled;
    this.#workflowId = opts.workflowId;
  }

  /** The execution's latest status seen (detail or stream); undefined before `seed`. */
  get status(): string | undefined {
    return this.#execStatus;
  }

  /** Seeds the view from the execution detail. */
  seed(status: string, nodes: readonly NodeView[]): void {
    this.#execStatus = status;
    for (const n of nodes) {
      this.#nodes.set(n.nodeId, { status: n.status, attempt: n.attempt, note: '' });
      this.#seeded.set(n.nodeId, { status: n.status, attempt: n.attempt });
    }
    if (this.#tty) this.#redraw();
    else this.#line(`${this.executionId} ${status}`);
    // A prompt raised before we looked: the stream replays its event too, but the polling
    // fallback does not, so it is shown from the detail (and not twice).
    for (const n of nodes) {
      if (n.status !== 'waiting' || n.waitingFor === undefined) continue;
      if (n.waitingFor.kind !== 'approval' && n.waitingFor.kind !== 'input') continue;
      this.#prompt(n.waitingFor.kind, n.nodeId, n.waitingFor.message, `${n.nodeId}/${n.attempt}`);
    }
  }

  /** One stream event. */
  event(type: string, data: StreamEventData): void {
    const nodeId = data.nodeId;
    if (type === 'execution.status' && data.status !== undefined) this.#execStatus = data.status;
    if (nodeId !== undefined) {
      const line = this.#nodes.get(nodeId) ?? { status: 'pending', attempt: 0, note: '' };
      if (type === 'node.status' && data.status !== undefined) {
        line.status = data.status;
        line.note = '';
      }
      if (data.attempt !== undefined) line.attempt = data.attempt;
      if (type === 'node.retry_scheduled') line.note = 'retry scheduled';
      if (type === 'approval.requested') line.note = 'awaiting approval';
      if (type === 'input.requested') line.note = 'awaiting input';
      if (type === 'agent.step' && typeof data.step === 'number') line.note = `step ${data.step}`;
      this.#nodes.set(nodeId, line);
    }
    if (this.#tty) this.#redraw();
    else {
      const parts = [time(data.at), type];
      if (nodeId !== undefined) parts.push(nodeId);
      if (data.status !== undefined) parts.push(data.status);
      if (data.attempt !== undefined && nodeId !== undefined) parts.push(`attempt ${data.attempt}`);
      if (type === 'artifact.created' && typeof data.path === 'string') parts.push(data.path);
      if (type === 'agent.step' && typeof data.step === 'number') parts.push(`step ${data.step}`);
      this.#line(parts.join(' '));
    }
    if (type === 'approval.requested' || type === 'input.requested') this.#requested(type, data);
  }

  #requested(type: 'approval.requested' | 'input.requested', data: StreamEventData): void {
    const message = typeof data.message === 'string' ? data.message : null;
    const nodeId = data.nodeId;
    if (nodeId === undefined) {
      // A chat execution waits for its next message (DESIGN: chat turns).
      const turn = typeof data.turn === 'number' ? data.turn : undefined;
      this.#prompt('chat', undefined, message, `turn ${turn ?? '?'}`);
      return;
    }
    const attempt = this.#nodes.get(nodeId)?.attempt ?? 0;
    const before = this.#seeded.get(nodeId);
    // The stream replays history: a prompt the detail already showed answered is not news.
    if (before !== undefined && finished.has(before.status) && attempt <= before.attempt) return;
    const kind = type === 'approval.requested' ? 'approval' : 'input';
    this.#prompt(kind, nodeId, message, `${nodeId}/${attempt}`);
  }

  /** Prints what a waiting node asks and the command that answers it, once per request. */
  #prompt(
    kind: 'approval' | 'input' | 'chat',
    nodeId: string | undefined,
    message: string | null,
    key: string,
  ): void {
    if (this.#prompted.has(key)) return;
    this.#prompted.add(key);
    const exec = `yard ex ${kind === 'approval' ? 'resume' : 'followup'} ${this.executionId}${
      this.#workflowId === undefined ? '' : ` -w ${this.#workflowId}`
    }`;
    const lines =
      kind === 'approval'
        ? [
            `approval requested by node ${nodeId}${message === null ? '' : `: ${message}`}`,
            `  approve: ${exec} --node ${nodeId} --approve`,
            `  reject:  ${exec} --node ${nodeId} --reject`,
          ]
        : [
            kind === 'input'
              ? `input requested by node ${nodeId}${message === null ? '' : `: ${message}`}`
              : `the chat waits for the next message${message === null ? '' : `: ${message}`}`,
            `  answer: ${exec} -m 'your answer'`,
          ];
    this.log(lines.join('\n'));
  }

  /** A line of text (a log line) above the live view. */
  log(text: string): void {
    if (!this.#enabled) return;
    if (this.#tty) {
      this.#clear();
      this.#out.write(`${text}\n`);
      this.#redraw();
    } else this.#out.write(`${text}\n`);
  }

  /** Leaves the final view on screen. */
  done(): void {
    if (this.#tty) this.#redraw();
    this.#drawn = 0;
  }

  #line(text: string): void {
    if (this.#enabled) this.#out.write(`${text}\n`);
  }

  #clear(): void {
    if (this.#drawn > 0) this.#out.write(`\x1b[${this.#drawn}A\x1b[J`);
    this.#drawn = 0;
  }

  #redraw(): void {
    if (!this.#enabled) return;
    this.#clear();
    const width = Math.max(4, ...[...this.#nodes.keys()].map((k) => k.length));
    const status = this.#execStatus ?? 'pending';
    const lines = [`${this.executionId}  ${paint(status, status)}`];
    for (const [id, n] of this.#nodes) {
      const symbol = symbols[n.status] ?? '?';
      const attempt = n.attempt > 1 ? ` (attempt ${n.attempt})` : '';
      const note = n.note ? ` — ${n.note}` : '';
      lines.push(`  ${paint(n.status, symbol)} ${id.padEnd(width)}  ${n.status}${attempt}${note}`);
    }
    this.#out.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }
}

function paint(status: string, text: string): string {
  const color = colors[status];
  return color === undefined ? text : `${color}${text}\x1b[0m`;
}

function time(at: string | undefined): string {
  const d = at === undefined ? new Date() : new Date(at);
  return Number.isNaN(d.getTime()) ? '--:--:--' : d.toISOString().slice(11, 19);
}
