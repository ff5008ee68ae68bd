/**
 * Many decisions per statement (PostgreSQL): decisions taken on kept snapshots queue here, and
 * each round writes all that are waiting as one statement (`writeDecisionsAtOnce`). Batches form
 * on their own: the first decision goes at once, and those that come while its statement is in
 * flight go together in the next, so one execution at a time pays one round trip per step and
 * fifty in flight share theirs. Nothing waits on a timer.
 *
 * When a statement of several is lost (one compare-and-set or lease failed, or a line number was
 * taken), each of its decisions is tried again alone, so only the one that lost goes on to be
 * decided under the execution's lock; an error (the database is away) fails all of them.
 */
import type { Database } from '../store/db.ts';
import {
  type OneStatementDecision,
  oneStatementParams,
  writeDecisionsAtOnce,
} from '../store/decisions.ts';

interface Waiting {
  decision: OneStatementDecision;
  done: (won: boolean) => void;
  failed: (err: unknown) => void;
}

/** Decisions per statement at most, and their bound parameters (PostgreSQL allows 65,535). */
const maxDecisions = 64;
const maxParams = 30_000;

export class DecisionWriter {
  private waiting: Waiting[] = [];
  private writing = false;

  constructor(
    private readonly database: Database,
    private readonly owner: string,
    /** Told the engine events each committed statement carried. */
    private readonly committed: (events: number) => void = () => {},
  ) {}

  /** True once the decision committed; false when it lost (nothing of it was written). */
  write(decision: OneStatementDecision): Promise<boolean> {
    return new Promise((done, failed) => {
      this.waiting.push({ decision, done, failed });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.take();
        if (batch.length === 1 || !(await this.attempt(batch)))
          for (const w of batch) await this.attempt([w]);
      }
    } finally {
      this.writing = false;
    }
  }

  /** The next batch: first come first, within the limits. */
  private take(): Waiting[] {
    let params = 0;
    let n = 0;
    while (n < this.waiting.length && n < maxDecisions) {
      params += oneStatementParams(this.waiting[n]!.decision);
      if (n > 0 && params > maxParams) break;
      n++;
    }
    return this.waiting.splice(0, n);
  }

  /** Writes `batch` as one statement; settles its decisions unless it lost and has several. */
  private async attempt(batch: Waiting[]): Promise<boolean> {
    let won: boolean;
    try {
      // Executions in id order: two processes' statements lock rows in the same order.
      const sorted = batch.map((w) => w.decision).sort((a, b) => (a.id < b.id ? -1 : 1));
      won = await writeDecisionsAtOnce(this.database, this.database.db, sorted, this.owner);
    } catch (err) {
      for (const w of batch) w.failed(err);
      return true;
    }
    if (won) this.committed(batch.reduce((n, w) => n + w.decision.events, 0));
    if (won || batch.length === 1) for (const w of batch) w.done(won);
    return won;
  }
}
