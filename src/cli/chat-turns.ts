/**
 * Following one turn of a chat execution through its event stream: the reply's `chat.delta`
 * texts as they are written, until the turn's `input.requested` (the chat waits for the next
 * message) or the execution's end; then the detail, whose `conversation` holds the whole reply.
 */
import { isTerminalExecution } from '../engine/status.ts';
import type { ExecutionView as Execution } from '../wire/executions.ts';
import type { ApiClient } from './client.ts';
import { ExitCode } from './exit-codes.ts';
import { note } from './output.ts';
import { executionPath, type ExecutionRef } from './refs.ts';
import { followEvents } from './sse.ts';

export interface TurnOutcome {
  /** The execution once the turn ended (or the execution did). */
  execution: Execution;
  /** The assistant's reply of the turn, from `conversation`; undefined when there is none. */
  reply: string | undefined;
  /** What the stream carried of the reply (written to `onDelta` already). */
  streamed: string;
  /** The last event id seen: the next turn's stream resumes after it. */
  lastEventId: string | undefined;
}

interface TurnEventData {
  turn?: number;
  chat?: boolean;
  text?: string;
}

/** Follows turn `turn` of a chat execution to its end; `onDelta` gets the reply as it is written. */
export async function followTurn(
  client: ApiClient,
  ref: ExecutionRef,
  turn: number,
  onDelta: (text: string) => void,
  lastEventId?: string,
): Promise<TurnOutcome> {
  const stop = new AbortController();
  let last = lastEventId;
  let streamed = '';
  try {
    await followEvents(
      client,
      `${executionPath(ref)}/stream`,
      (ev) => {
        if (ev.id !== undefined) last = ev.id;
        if (ev.event !== 'chat.delta' && ev.event !== 'input.requested') return;
        const data = JSON.parse(ev.data) as TurnEventData;
        if (data.turn !== turn) return;
        if (ev.event === 'chat.delta' && typeof data.text === 'string') {
          streamed += data.text;
          onDelta(data.text);
        } else if (ev.event === 'input.requested' && data.chat === true) {
          stop.abort(new Error('the turn ended'));
        }
      },
      { signal: stop.signal, ...(lastEventId !== undefined && { lastEventId }) },
    );
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  }
  const execution = await client.get<Execution>(executionPath(ref));
  const reply = execution.conversation?.find((e) => e.role === 'assistant' && e.turn === turn);
  return { execution, reply: reply?.content, streamed, lastEventId: last };
}

/** Why a turn gave no reply, for the person who asked: the execution's end and its error. */
function noReply(e: Execution): string {
  if (!isTerminalExecution(e.status)) return `no reply (the execution is ${e.status})`;
  const error = e.error ? `: ${e.error.message} (${e.error.code})` : '';
  return `no reply: the execution ended ${e.status}${error}`;
}

/** Writes a reply as it streams (`write`), and at the turn's end what the stream missed of it. */
export class ReplyPrinter {
  constructor(private readonly write: (text: string) => void) {}

  delta = (text: string): void => this.write(text);

  /** Ends the printed reply; answers the exit code of the turn (0 when there is a reply). */
  end(outcome: TurnOutcome): ExitCode {
    const { reply, streamed, execution } = outcome;
    if (reply === undefined) {
      if (streamed !== '') this.write('\n');
      note(noReply(execution));
      return execution.status === 'cancelled' ? ExitCode.cancelled : ExitCode.failed;
    }
    // A delta the server could not record leaves the streamed text short of the reply.
    if (reply.startsWith(streamed)) this.write(`${reply.slice(streamed.length)}\n`);
    else this.write(`\n${reply}\n`);
    return ExitCode.ok;
  }
}
