/** A tiny JSON client for tests that talk to a real server process over loopback. */
// Bodies are whatever the server answered; tests read fields from them directly.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return */
export interface Client {
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** Polls an execution until its status is one of `statuses`; throws after `timeoutMs`. */
  waitFor(
    workflowId: string,
    executionId: string,
    statuses: string[],
    timeoutMs?: number,
  ): Promise<any>;
}

export function client(base: string, token: string): Client {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  return {
    call,
    async waitFor(workflowId, executionId, statuses, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < deadline) {
        const r = await call('GET', `/api/v1/workflows/${workflowId}/executions/${executionId}`);
        last = r.json;
        if (r.status === 200 && statuses.includes(last.status)) return last;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(
        `execution ${executionId} did not reach ${statuses.join('/')}: ${JSON.stringify(last)}`,
      );
    },
  };
}
