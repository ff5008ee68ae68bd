/**
 * How `GET …/usage` groups its rows. Apart from the usage schemas (wire/executions.ts) so that
 * `yard usage` can list them without loading the schema library.
 */
export const usageGroupings = ['day', 'version', 'node', 'model'] as const;
export type UsageGrouping = (typeof usageGroupings)[number];
