/**
 * The steps of an agent attempt (`ExecContext.step`) as durable `agent.step` events: each report
 * is masked like log lines and cut short (tool names, outcomes, short arguments and errors,
 * never a tool's output), then decided as an `agent.steps` engine event. One decision is in
 * flight per attempt; steps reported meanwhile go together in the next one, so a fast loop
 * makes fewer commits, never more than one event per step (at most `max_steps`, ≤ 200, per
 * attempt).
 */
import type { AgentStep, AgentToolCall } from '../engine/types.ts';
import type { StepReport } from '../nodes/executor.ts';
import type { SecretMasker } from '../secrets/masker.ts';
import type { WorkerContext } from './context.ts';

/** Tool calls listed per step; the rest are counted in `toolCallsOmitted`. */
const toolCallsPerStep = 20;
const argValueChars = 60;
const argsChars = 200;
const errorChars = 200;
const nameChars = 100;

export class StepReports {
  private pending: AgentStep[] = [];
  private sending: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly masker: SecretMasker,
    /** Decides one batch; a rejection drops those steps (the node's outputs still count them). */
    private readonly send: (steps: AgentStep[]) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  push(report: StepReport): void {
    if (this.closed) return;
    this.pending.push(maskedStep(report, this.masker));
    this.sending ??= this.drain();
  }

  /** Settles once every step reported was decided (before the attempt's result). */
  async close(): Promise<void> {
    this.closed = true;
    await this.sending;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      await this.send(batch).then(
        () => undefined,
        (err: unknown) => this.onError(err),
      );
    }
    this.sending = undefined;
  }
}

/** A report as its event says it: masked, every text cut short. */
function maskedStep(report: StepReport, masker: SecretMasker): AgentStep {
  const listed = report.toolCalls.slice(0, toolCallsPerStep);
  const omitted = report.toolCalls.length - listed.length;
  return {
    step: report.step,
    toolCalls: listed.map((c): AgentToolCall => ({
      id: short(c.id, nameChars, masker),
      name: short(c.name, nameChars, masker),
      args: short(argsText(c.input, masker), argsChars, masker),
      ok: c.ok,
      durationMs: Math.max(0, Math.round(c.durationMs)),
      ...(c.error !== undefined && { error: short(c.error, errorChars, masker) }),
    })),
    ...(omitted > 0 && { toolCallsOmitted: omitted }),
    usage: report.usage,
    finishReason: report.finishReason === null ? null : short(report.finishReason, 50, masker),
  };
}

/** The arguments as `key="value", …`, each value masked and cut short. */
function argsText(input: unknown, masker: SecretMasker): string {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return short(JSON.stringify(input) ?? '', argsChars, masker);
  return Object.entries(input)
    .map(([key, value]) => {
      const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
      // Masked before the spaces are folded: a value of several lines is masked line by line.
      const shown = short(text, argValueChars, masker).replace(/\s+/g, ' ');
      return `${short(key, nameChars, masker)}=${JSON.stringify(shown)}`;
    })
    .join(', ');
}

/**
 * `text` masked and cut at `max` characters. Only the head is masked (a tool's input may be
 * large): it is cut where no secret value straddles the cut, so no part of one shows.
 */
function short(text: string, max: number, masker: SecretMasker): string {
  let head = text.slice(0, max + masker.holdback);
  const cutShort = head.length < text.length;
  if (cutShort) head = head.slice(0, masker.safeCut(head));
  const masked = masker.mask(head);
  return cutShort || masked.length > max ? `${masked.slice(0, max)}…` : masked;
}

/** The step reporter of an agent attempt: `agent.steps` decisions of the execution. */
export function stepReportsOf(
  ctx: WorkerContext,
  executionId: string,
  nodeId: string,
  attempt: number,
  masker: SecretMasker,
): StepReports {
  return new StepReports(
    masker,
    (steps) => ctx.dispatch(executionId, { type: 'agent.steps', nodeId, attempt, steps }),
    (err) =>
      ctx.log.warn(
        { err, executionId, nodeId },
        `a step of the agent ${executionId}/${nodeId} was not recorded as an event`,
      ),
  );
}
