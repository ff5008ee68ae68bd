import type { Migration } from './migration.ts';

/**
 * Cost that tells the truth (issue 11): each node_runs row keeps the tokens and USD of the
 * attempt per model (`models`, JSON `{model: {prompt, completion, estimatedUsd, unpriced?}}`,
 * null when it spent no tokens) and whether some of them had no price (`unpriced`), so usage
 * can be grouped by model and an unpriced model is never a silent $0. Rows written before stay
 * null / 0. Frozen: add a new migration instead.
 */
export const migration0012: Migration = {
  id: 12,
  name: 'node_run_models',
  sqlite: [
    `ALTER TABLE node_runs ADD COLUMN models TEXT`,
    `ALTER TABLE node_runs ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0`,
  ],
  postgres: [
    `ALTER TABLE node_runs ADD COLUMN models text`,
    `ALTER TABLE node_runs ADD COLUMN unpriced integer NOT NULL DEFAULT 0`,
  ],
};
