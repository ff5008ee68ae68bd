/**
 * `yard chat WORKFLOW`: an interactive session with a chat workflow. The first line starts an
 * execution (the run's `message` param), or with `--execution` the session continues one; each
 * further line is a follow-up. Every reply is printed as it is written (the `chat.delta` events
 * of the execution's stream). `/exit` or the end of the input ends the session, not the
 * execution: it keeps waiting for a follow-up until its idle timeout.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ExecutionView as Execution, RunAccepted } from '../wire/executions.ts';
import type { WorkflowView } from '../wire/workflows.ts';
import { isTerminalExecution } from '../engine/status.ts';
import type { ApiClient } from './client.ts';
import { ReplyPrinter, type TurnOutcome, followTurn } from './chat-turns.ts';
import { clientFor, type GlobalOptions } from './context.ts';
import { CliError, ExitCode, usageError } from './exit-codes.ts';
import { note } from './output.ts';
import {
  type ExecutionRef,
  executionPath,
  parseExecutionId,
  resolveWorkflowId,
  workflowPath,
} from './refs.ts';

interface ChatOptions {
  execution?: string;
}

/** One session: the execution (once there is one) and where its stream was left. */
class Session {
  ref: ExecutionRef | undefined;
  private lastEventId: string | undefined;
  private readonly printer = new ReplyPrinter((text) => process.stdout.write(text));

  constructor(
    private readonly client: ApiClient,
    private readonly workflowId: string,
  ) {}

  /** Continues an execution: a turn that still runs is followed to its reply first. */
  async resume(executionId: string): Promise<boolean> {
    const ref = { id: executionId, workflowId: this.workflowId };
    const e = await this.client.get<Execution>(executionPath(ref));
    if (isTerminalExecution(e.status))
      throw new CliError(`execution ${e.id} has ended (${e.status})`, ExitCode.failed);
    this.ref = ref;
    note(`continuing ${e.id} (turn ${e.turn ?? 0})`);
    if (e.status === 'waiting') return true;
    return this.reply(e.turn ?? 1);
  }

  /** Sends one message (the first one starts the execution); false when the chat ended. */
  async send(message: string): Promise<boolean> {
    if (this.ref === undefined) {
      const accepted = await this.client.request<RunAccepted>(
        'POST',
        `${workflowPath(this.workflowId)}/run`,
        { json: { params: { message } } },
      );
      this.ref = { id: accepted.id, workflowId: this.workflowId };
      note(`started ${accepted.id}`);
      return this.reply(1);
    }
    const e = await this.client.post<Execution>(`${executionPath(this.ref)}/followup`, {
      message,
    });
    return this.reply(e.turn ?? 1);
  }

  private async reply(turn: number): Promise<boolean> {
    const outcome: TurnOutcome = await followTurn(
      this.client,
      this.ref!,
      turn,
      this.printer.delta,
      this.lastEventId,
    );
    this.lastEventId = outcome.lastEventId;
    const code = this.printer.end(outcome);
    if (code !== ExitCode.ok) process.exitCode = code;
    return !isTerminalExecution(outcome.execution.status);
  }
}

export function registerChat(program: Command): void {
  program
    .command('chat')
    .description('chat with a chat workflow (id or name): one line per message, /exit ends')
    .argument('<workflow>', 'workflow id (wf_…) or name')
    .option('--execution <execution>', 'continue this chat execution instead of starting one')
    .action(async (workflow: string, opts: ChatOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const client = clientFor(g);
      const wf = await client.get<WorkflowView>(
        workflowPath(await resolveWorkflowId(client, workflow)),
      );
      if (wf.type !== 'chat')
        throw usageError(
          `${wf.name} is ${wf.type === 'automation' || wf.type === 'agent' ? 'an' : 'a'} ${wf.type} workflow; yard chat needs a chat workflow`,
        );
      const session = new Session(client, wf.id);
      const interactive = process.stdin.isTTY === true;
      const lines = createInterface({ input: process.stdin, terminal: interactive });
      // Taken at once: lines (and the end) that come while the session waits are kept for it.
      const input = lines[Symbol.asyncIterator]();
      const prompt = () => {
        if (interactive) process.stderr.write('> ');
      };
      let open = true;
      if (opts.execution !== undefined)
        open = await session.resume(parseExecutionId(opts.execution));
      if (open) prompt();
      while (open) {
        const next = await input.next();
        if (next.done === true) break;
        const line = next.value.trim();
        if (line === '/exit') break;
        if (line !== '') open = await session.send(line);
        if (open) prompt();
      }
      lines.close();
      if (session.ref !== undefined && open)
        note(`left ${session.ref.id}; it waits for a follow-up until its idle timeout`);
    });
}
