/**
 * A counting semaphore: at most `size` calls to one LLM provider are open at once in this server
 * process (`llmProviders.<name>.maxConcurrency`), shared by every `llm` and `agent` node. Waiters
 * are served in arrival order; one whose signal aborts leaves the queue.
 */
export class CallSlots {
  private open = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Calls in progress (for tests and logs). */
  get inUse(): number {
    return this.open;
  }

  /** Resolves with the release function once a slot is free; rejects when `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    const release = once(() => {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.open--;
    });
    if (this.open < this.size) {
      this.open++;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      // A slot handed over keeps `open` as it is: the releaser's slot becomes this one.
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(release);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
