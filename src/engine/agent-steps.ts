/**
 * Progress of an agent node's attempt: each step (a model call and its tool calls) the worker
 * reports is one `agent.step` event, and the node's `agent` counters move on. A report of an
 * attempt that is no longer running (finished, taken over, cancelled) is dropped, as a chat
 * delta is.
 */
import type { Draft } from './draft.ts';
import type { EngineEvent } from './types.ts';

export function onAgentSteps(d: Draft, ev: Extract<EngineEvent, { type: 'agent.steps' }>): void {
  const st = d.nodes[ev.nodeId];
  if (!st || st.status !== 'running' || st.attempt !== ev.attempt || ev.steps.length === 0) return;
  const prior = st.agent?.attempt === ev.attempt ? st.agent : undefined;
  let steps = prior?.steps ?? 0;
  let toolCalls = prior?.toolCalls ?? 0;
  for (const step of ev.steps) {
    steps = Math.max(steps, step.step);
    toolCalls += step.toolCalls.length + (step.toolCallsOmitted ?? 0);
    d.emit('agent.step', { nodeId: ev.nodeId, attempt: ev.attempt, ...step }, ev.nodeId);
  }
  d.setNode(ev.nodeId, { agent: { attempt: ev.attempt, steps, toolCalls } });
}
