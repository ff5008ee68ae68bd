/**
 * A background pass repeated every `intervalMs` (the scheduler's, the rule deliveries'): passes
 * never overlap in one process, `stop` waits for the one under way, and with `intervalMs: 0`
 * there is no loop and tests drive `tick(now)` with their own clock.
 */
import type { Clock } from '../clock.ts';

export class PassLoop {
  private pass: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stoppedFlag = false;

  constructor(
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly run: (now: Date) => Promise<void>,
  ) {}

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  start(): void {
    if (this.intervalMs <= 0) return;
    const loop = (): void => {
      this.timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (!this.stoppedFlag) loop();
        });
      }, this.intervalMs);
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stoppedFlag = true;
    clearTimeout(this.timer);
    await this.pass;
  }

  /** One pass at `now` (the clock's time by default), after the one under way. */
  tick(now: Date = this.clock.now()): Promise<void> {
    this.pass = this.pass.then(() => this.run(now));
    return this.pass;
  }
}
