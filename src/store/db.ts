/**
 * The store's entry point: the `Database` handle and how to open it. Opening lives in
 * `open.ts`, migrating in `migrate.ts`, LISTEN/NOTIFY in `notify.ts` and the transient-error
 * retry in `retry.ts`.
 */
export type { ChangeKind, Database, Db, Dialect } from './database.ts';
export { openDatabase } from './open.ts';
export { isUniqueViolation } from './retry.ts';
