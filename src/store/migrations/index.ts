/**
 * Numbered, append-only migrations. Each has a SQLite and a PostgreSQL variant; once landed a
 * migration is frozen and changes come as a new one.
 */
import { migration0001 } from './0001-foundation.ts';
import { migration0002 } from './0002-executions.ts';
import { migration0003 } from './0003-artifacts.ts';
import { migration0004 } from './0004-schedules.ts';
import { migration0005 } from './0005-platform-events.ts';
import { migration0006 } from './0006-hooks.ts';
import { migration0007 } from './0007-trigger-rules.ts';
import { migration0008 } from './0008-concurrency.ts';
import { migration0009 } from './0009-secrets.ts';
import { migration0010 } from './0010-execution-nodes.ts';
import { migration0011 } from './0011-execution-items.ts';
import { migration0012 } from './0012-node-run-models.ts';
import { migration0013 } from './0013-execution-tokens.ts';
import { migration0014 } from './0014-artifact-chunks.ts';
import { migration0015 } from './0015-sessions.ts';

import type { Migration } from './migration.ts';

export type { Migration };

export const migrations: Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
  migration0007,
  migration0008,
  migration0009,
  migration0010,
  migration0011,
  migration0012,
  migration0013,
  migration0014,
  migration0015,
];
