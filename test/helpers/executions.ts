/**
 * Helpers for API tests that run real executions: create and run workflows through the API and
 * wait for states on the execution's events (test/helpers/events.ts), never on a timer.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { DlqStatus } from '../../src/engine/status.ts';
import { onChanges, waitDeadlineMs } from './events.ts';
import type { Harness } from './harness.ts';

export { awaitEvent, awaitLogs, lastSeq, waitDeadlineMs } from './events.ts';

// The seed's wire strings, written out here on purpose: tests check the API against the contract,
// not against src/engine/status.ts (which would pass whatever src says).
export const executionStatuses = [
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export const nodeStatuses = [
  'pending',
  'queued',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
] as const;

export type ExecutionStatus = (typeof executionStatuses)[number];

// Wire shapes as the tests read them. Fields the API may answer as null are typed as present:
// the tests assert on them after the state that fills them.
export interface CostJson {
  estimatedUsd: number;
  tokens: { prompt: number; completion: number };
  computeSeconds: number;
  unpriced?: boolean;
  models?: Record<
    string,
    { prompt: number; completion: number; estimatedUsd: number; unpriced?: boolean }
  >;
}
export interface ErrorJson {
  code: string;
  message: string;
  exitCode?: number;
  nodeId?: string;
}
/** A child of a map, parallel or loop node in the detail's `items[]`. */
export interface ItemJson {
  index: number;
  key?: string;
  status: string;
  attempt: number;
  startedAt: string | null;
  endedAt: string | null;
  error?: ErrorJson;
  cost?: CostJson;
}
export interface NodeJson {
  nodeId: string;
  type: string;
  status: string;
  statusReason?: string;
  attempt: number;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  error: ErrorJson;
  outputs: Record<string, unknown>;
  cost: CostJson;
  items?: ItemJson[];
  waitingFor: { kind: string; message: string | null; requestedAt: string };
  childExecutionId: string;
  /** An agent node: the steps and tool calls of its latest attempt that made one. */
  agent?: { attempt: number; steps: number; toolCalls: number };
}
export interface ExecutionJson {
  id: string;
  workflowId: string;
  version: number;
  status: ExecutionStatus;
  trigger: {
    type: string;
    actor?: string;
    subject?: string;
    eventType?: string;
    eventId?: string;
    scheduledAt?: string;
    data?: unknown;
  };
  createdAt: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  error: ErrorJson;
  cost: CostJson;
  parentExecutionId: string | null;
  params: Record<string, unknown>;
  createdBy: string;
  nodes: NodeJson[];
  turn: number;
  conversation: { role: string; content: string; turn: number; data?: unknown }[];
  /** Where the nodes run, once an environment was acquired. */
  environment?: {
    runtime: string;
    isolation: string;
    unenforced: string[];
    user?: string;
    readOnlyPaths?: string[];
    network?: string;
  };
  /** Names of the secrets its nodes used. */
  secrets: string[];
}
export interface DlqJson {
  id: string;
  executionId: string;
  workflowId: string;
  version: number;
  nodeId: string;
  attempts: number;
  error: ErrorJson;
  logTail: string[];
  inputs: { config: unknown; params: Record<string, unknown> };
  status: DlqStatus;
  createdAt: string;
  resolvedAt: string | null;
  resolvedBy: string | null;
  note: string | null;
}
export interface PageJson<T> {
  items: T[];
  nextCursor: string | null;
}
export interface WorkflowJson {
  id: string;
  name: string;
  version: number;
}

export function executionUrl(wfId: string, execId: string): string {
  return `/api/v1/workflows/${wfId}/executions/${execId}`;
}

/** The execution detail (asserting 200). */
export async function getExecution(
  h: Harness,
  wfId: string,
  execId: string,
): Promise<ExecutionJson> {
  const res = await h.call('GET', executionUrl(wfId, execId));
  assert.equal(res.statusCode, 200, res.body);
  return res.json<ExecutionJson>();
}

/** The items of `GET /api/v1/workflows/executions?<query>` (asserting 200). */
export async function listExecutions(h: Harness, query: string): Promise<ExecutionJson[]> {
  const res = await h.call('GET', `/api/v1/workflows/executions?${query}`);
  assert.equal(res.statusCode, 200, res.body);
  return res.json<PageJson<ExecutionJson>>().items;
}

/** The items of `GET /api/v1/workflows/dlq?<query>` (asserting 200). */
export async function listDlq(h: Harness, query: string): Promise<DlqJson[]> {
  const res = await h.call('GET', `/api/v1/workflows/dlq?${query}`);
  assert.equal(res.statusCode, 200, res.body);
  return res.json<PageJson<DlqJson>>().items;
}

/**
 * The execution detail once `check` holds for it: read now and again after each of the
 * execution's events (a decision commits them), never on a timer.
 */
export async function waitForDetail(
  h: Harness,
  wfId: string,
  execId: string,
  what: string,
  check: (detail: ExecutionJson) => boolean,
  timeoutMs = waitDeadlineMs,
): Promise<ExecutionJson> {
  let last: ExecutionJson | undefined;
  return onChanges(
    h,
    execId,
    'events',
    () => `${what} (execution ${execId}); last detail: ${JSON.stringify(last)}`,
    async () => {
      last = await getExecution(h, wfId, execId);
      return check(last) ? last : undefined;
    },
    timeoutMs,
  );
}

/** The detail once the execution has one of `statuses`. */
export function waitForStatus(
  h: Harness,
  wfId: string,
  execId: string,
  statuses: readonly ExecutionStatus[],
  timeoutMs = waitDeadlineMs,
): Promise<ExecutionJson> {
  return waitForDetail(
    h,
    wfId,
    execId,
    `the execution to be ${statuses.join(' or ')}`,
    (d) => statuses.includes(d.status),
    timeoutMs,
  );
}

/** The detail once node `nodeId` has one of `statuses`. */
export function waitForNode(
  h: Harness,
  wfId: string,
  execId: string,
  nodeId: string,
  statuses: readonly string[],
  timeoutMs = waitDeadlineMs,
): Promise<ExecutionJson> {
  return waitForDetail(
    h,
    wfId,
    execId,
    `node ${nodeId} to be ${statuses.join(' or ')}`,
    (d) => statuses.includes(nodeOf(d, nodeId).status),
    timeoutMs,
  );
}

/** The node view of `nodeId` in an execution detail. */
export function nodeOf(detail: ExecutionJson, nodeId: string): NodeJson {
  const node = detail.nodes.find((n) => n.nodeId === nodeId);
  assert.ok(node, `no node ${nodeId} in ${JSON.stringify(detail.nodes)}`);
  return node;
}

/** Creates a workflow through the API (asserting 201) and answers it. */
export async function createWorkflow(
  h: Harness,
  body: Record<string, unknown>,
): Promise<WorkflowJson> {
  const res = await h.call('POST', '/api/v1/workflows', body);
  assert.equal(res.statusCode, 201, res.body);
  return res.json<WorkflowJson>();
}

/** Starts an execution (asserting 202) and answers the accepted body. */
export async function runWorkflow(
  h: Harness,
  wfId: string,
  body: Record<string, unknown> = {},
  headers?: Record<string, string>,
): Promise<{ id: string; workflowId: string; version: number; status: ExecutionStatus }> {
  const res = await h.call('POST', `/api/v1/workflows/${wfId}/run`, body, {
    ...(headers && { headers }),
  });
  assert.equal(res.statusCode, 202, res.body);
  return res.json();
}

/** Runs a workflow and waits until the execution has one of `statuses`; answers the detail. */
export async function runAndWait(
  h: Harness,
  wfId: string,
  statuses: readonly ExecutionStatus[],
  body: Record<string, unknown> = {},
): Promise<ExecutionJson> {
  const run = await runWorkflow(h, wfId, body);
  return waitForStatus(h, wfId, run.id, statuses);
}

/** A token holding only `permissions`; answers its secret. */
export async function tokenWith(h: Harness, name: string, permissions: string[]): Promise<string> {
  const res = await h.call('POST', '/api/v1/tokens', { name, permissions });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().token as string;
}

/**
 * True once process `pid` no longer runs: it is gone, or a zombie waiting for its parent to
 * reap it (state Z in /proc/<pid>/stat).
 */
export function processStopped(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}
