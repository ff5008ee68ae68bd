/**
 * Runs work one at a time per key, in call order; different keys run side by side. The worker
 * takes an execution's decisions this way, so its own decisions never race each other for the
 * execution's `rev` (only other processes' may).
 */
export class OneAtATime {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    const result = prev === undefined ? fn() : prev.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
