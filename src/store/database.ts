/** What the rest of the program sees of the database: one Kysely instance plus notify and retry. */
import type { Kysely, RawBuilder } from 'kysely';
import type { DatabaseSchema } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<DatabaseSchema>;

/** What changed for a stream: execution events or log lines. */
export type ChangeKind = 'events' | 'logs';

export interface Database {
  readonly dialect: Dialect;
  readonly db: Db;
  /** Runs `fn` in one transaction, retrying it on transient lock and serialization errors. */
  transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  /**
   * Calls `onWake` whenever another process announces work (PostgreSQL LISTEN/NOTIFY; a no-op
   * on SQLite, which has one process). It is also called after the listening connection is
   * re-established, since work announced while it was down was missed. Returns a function that
   * stops listening.
   */
  listenForWork(onWake: () => void): Promise<() => Promise<void>>;
  /** Announces new work inside `trx`; delivered to listeners when it commits. */
  announceWork(trx: Db): Promise<void>;
  /**
   * Calls `onChange(kind, executionId)` whenever any process commits new execution events or
   * log lines (PostgreSQL LISTEN/NOTIFY; a no-op on SQLite, whose one process wakes streams
   * itself). `executionId` is undefined after a reconnect: anything may have changed meanwhile.
   * `from` is the writer the announcement named (see `announceEvents`), if any.
   */
  listenForChanges(
    onChange: (kind: ChangeKind, executionId: string | undefined, from?: string) => void,
  ): Promise<() => Promise<void>>;
  /**
   * Announces new events (or log lines) of an execution inside `trx`; delivered on commit.
   * `from` names the writer (a worker id) when that writer also tells its own process's
   * listeners after the commit, so they can skip the same news arriving by LISTEN.
   */
  announceEvents(trx: Db, executionId: string, kind?: ChangeKind, from?: string): Promise<void>;
  /**
   * The announcements of a decision (new work, new events or log lines of an execution) as expressions to
   * select in the decision's own statement; none on SQLite.
   */
  decisionNotices(what: {
    work: boolean;
    eventsOf?: string;
    logsOf?: string;
    /** The writer, as in `announceEvents`. */
    from?: string;
  }): RawBuilder<unknown>[];
  close(): Promise<void>;
}
