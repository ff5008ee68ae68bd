/**
 * The streamed reply of a chat turn (`ExecContext.chat`): what a node writes of it is merged and
 * decided as one `node.delta` at most every ~200 ms per attempt, so each merge is one durable
 * `chat.delta` event with its seq, not one write per token. The text is masked like log lines;
 * a secret value split across two writes is held back until it is seen whole.
 */
import type { ExecutionState } from '../engine/types.ts';
import type { ChatTurn } from '../nodes/executor.ts';
import type { SecretMasker } from '../secrets/masker.ts';
import type { WorkerContext } from './context.ts';

const mergeEveryMs = 200;

export class ReplyDeltas {
  /** Text written and not sent yet. */
  private pending = '';
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly masker: SecretMasker,
    /** Decides one delta; a rejection drops that part (the whole reply lands in the conversation). */
    private readonly send: (text: string) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  push(text: string): void {
    if (this.closed || text === '') return;
    this.pending += text;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush(false);
    }, mergeEveryMs);
  }

  /** Sends what is left and settles once every delta was decided (before the attempt's result). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush(true);
  }

  private flush(final: boolean): Promise<void> {
    const cut = final ? this.pending.length : this.masker.safeCut(this.pending);
    const text = this.masker.mask(this.pending.slice(0, cut));
    // What is held back goes with the next write's merge, or at the close.
    this.pending = this.pending.slice(cut);
    if (text !== '')
      this.sending = this.sending
        .then(() => this.send(text))
        .then(
          () => undefined,
          (err: unknown) => this.onError(err),
        );
    return this.sending;
  }
}

/** The chat turn a node attempt runs in, with its streamed reply; undefined outside chats. */
export function chatTurnOf(
  ctx: WorkerContext,
  e: ExecutionState,
  nodeId: string,
  attempt: number,
  masker: SecretMasker,
): { turn: ChatTurn; close(): Promise<void> } | undefined {
  if (e.workflowType !== 'chat') return undefined;
  const deltas = new ReplyDeltas(
    masker,
    (text) => ctx.dispatch(e.id, { type: 'node.delta', nodeId, attempt, text }),
    (err) =>
      ctx.log.warn(
        { err, executionId: e.id, nodeId },
        `a streamed part of the reply of ${e.id}/${nodeId} was not recorded`,
      ),
  );
  return {
    turn: {
      turn: e.turn,
      conversation: e.conversation,
      reply: (text) => deltas.push(text),
    },
    close: () => deltas.close(),
  };
}
