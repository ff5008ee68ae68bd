/**
 * Chat workflows and input nodes: a follow-up message answers a waiting `input` node, or starts
 * the next turn of a chat (every node reset); a turn ends with the assistant's reply in the
 * conversation, and the chat waits for the next message until its idle timeout.
 */
import { type Draft, addMs, resetNode, succeed } from './draft.ts';
import type { EngineEvent } from './types.ts';

export function onFollowup(d: Draft, ev: Extract<EngineEvent, { type: 'followup' }>): void {
  const waitingInput = d.plan.order.find(
    (id) => d.node(id).status === 'waiting' && d.node(id).prompt?.kind === 'input',
  );
  const entry = {
    role: 'user' as const,
    content: ev.message,
    turn: d.execution.turn,
    at: d.nowIso,
    ...(ev.data !== undefined && { data: ev.data }),
  };
  if (waitingInput) {
    d.execution.conversation = [...d.execution.conversation, entry];
    succeed(d, waitingInput, {
      message: ev.message,
      data: ev.data ?? null,
      actor: ev.actor,
      receivedAt: d.nowIso,
    });
    return;
  }
  if (!d.plan.isChat || !d.execution.awaitingTurn) return;
  const turn = d.execution.turn + 1;
  d.execution.turn = turn;
  d.execution.awaitingTurn = false;
  d.execution.conversation = [...d.execution.conversation, { ...entry, turn }];
  for (const id of d.plan.order) resetNode(d, id);
  d.setExecution('running');
}

/**
 * Part of a chat turn's reply as it is written: a `chat.delta` event while the attempt that
 * wrote it still runs (a late delta of a finished or replaced attempt is dropped).
 */
export function onReplyDelta(d: Draft, ev: Extract<EngineEvent, { type: 'node.delta' }>): void {
  const st = d.nodes[ev.nodeId];
  if (!d.plan.isChat || !st || st.status !== 'running' || st.attempt !== ev.attempt) return;
  if (ev.text === '') return;
  d.emit(
    'chat.delta',
    { turn: d.execution.turn, nodeId: ev.nodeId, attempt: ev.attempt, text: ev.text },
    ev.nodeId,
  );
}

/** A chat turn ended: record the reply, wait for the next message or the idle timeout. */
export function endTurn(d: Draft): void {
  const reply = [...d.plan.order]
    .reverse()
    .map((id) => d.node(id).outputs)
    .find((o) => o && Object.keys(o).length > 0);
  const text =
    reply && typeof reply.text === 'string' ? reply.text : reply ? JSON.stringify(reply) : '';
  d.execution.conversation = [
    ...d.execution.conversation,
    { role: 'assistant', content: text, turn: d.execution.turn, at: d.nowIso },
  ];
  d.execution.awaitingTurn = true;
  d.setExecution('waiting');
  d.commands.push({
    type: 'enqueue',
    kind: 'idle',
    nodeId: null,
    attempt: d.execution.turn,
    availableAt: addMs(d.ctx.now, d.plan.idleTimeoutMs),
    payload: { turn: d.execution.turn },
  });
  d.emit('input.requested', { turn: d.execution.turn, chat: true });
}

/** A chat's first turn: the run's `message` param opens the conversation. */
export function beginChat(d: Draft): void {
  d.execution.turn = 1;
  const message = d.execution.params.message;
  if (typeof message === 'string')
    d.execution.conversation = [
      ...d.execution.conversation,
      { role: 'user', content: message, turn: 1, at: d.nowIso },
    ];
}
