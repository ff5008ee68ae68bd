/**
 * Approval (and input) prompts: a node waits for a person; an approval's decision succeeds it,
 * or fails it as rejected (routed along `on_reject` edges, or tolerated with continue_on_error).
 */
import type { GraphNode } from '../definition/index.ts';
import { type Draft, stringifyMessage, succeed } from './draft.ts';
import { render } from './expressions.ts';
import { onUntoleratedFailure } from './failure.ts';
import type { EngineEvent } from './types.ts';

export function onApproval(d: Draft, ev: Extract<EngineEvent, { type: 'approval' }>): void {
  const st = d.nodes[ev.nodeId];
  if (!st || st.status !== 'waiting' || st.prompt?.kind !== 'approval') return;
  const outputs = {
    decision: ev.decision,
    comment: ev.comment ?? null,
    data: ev.data ?? null,
    actor: ev.actor,
    override: ev.override === true,
    decidedAt: d.nowIso,
  };
  if (ev.decision === 'approve') {
    succeed(d, ev.nodeId, outputs);
    return;
  }
  const def = d.def(ev.nodeId);
  const routed = typeof def.onReject === 'string';
  d.setNode(ev.nodeId, {
    status: 'failed',
    outputs,
    error: {
      code: 'ERR_APPROVAL_REJECTED',
      message: `Rejected by ${ev.actor}${ev.comment ? `: ${ev.comment}` : ''}.`,
      retryable: false,
    },
    endedAt: d.nowIso,
    tolerated: routed || def.continueOnError === true,
    prompt: null,
  });
  if (!routed && def.continueOnError !== true) onUntoleratedFailure(d, ev.nodeId);
}

/** An approval or input node waits for a person: its prompt is shown and announced. */
export function requestPrompt(
  d: Draft,
  id: string,
  def: GraphNode,
  kind: 'approval' | 'input',
  attempt: number,
): void {
  const message =
    def.message === undefined ? null : stringifyMessage(render(def.message, d.exprContext()));
  d.setNode(id, {
    status: 'waiting',
    attempt,
    startedAt: d.nowIso,
    prompt: { kind, message, requestedAt: d.nowIso },
  });
  d.emit(
    kind === 'approval' ? 'approval.requested' : 'input.requested',
    {
      nodeId: id,
      message,
      ...(kind === 'approval' && def.approvers !== undefined && { approvers: def.approvers }),
    },
    id,
  );
}
