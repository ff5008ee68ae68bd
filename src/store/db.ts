/**
 * The store's entry point: the `Database` handle and how to open it. Opening lives in
 * `open.ts`, migrating in `migrate.ts`, LISTEN/NOTIFY in `notify.ts` and the transient-error
 * retry in `retry.ts`.
 */
export type { ChangeKind, Database, Db, Dialect } from './database.ts';
export { type OpenOptions, openDatabase } from './open.ts';
export { changeChannels, workChannel } from './notify.ts';
export { isTransient, isUniqueViolation } from './retry.ts';
