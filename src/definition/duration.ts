/**
 * Durations as written in workflow definitions: one or more `<integer><unit>` parts with units
 * in descending order, each at most once: `500ms`, `2s`, `15m`, `1h30m`, `1d`.
 */

const durationPattern =
  /^(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m(?!s))?(?:(\d{1,9})s)?(?:(\d{1,9})ms)?$/;

const unitMs = [86_400_000, 3_600_000, 60_000, 1000, 1] as const;

/** Milliseconds of a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 64) return undefined;
  const match = durationPattern.exec(text);
  if (match === null) return undefined;
  let total = 0;
  for (let i = 0; i < unitMs.length; i++) {
    const part = match[i + 1];
    if (part !== undefined) total += Number(part) * unitMs[i]!;
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

export function isDuration(text: string): boolean {
  return parseDuration(text) !== undefined;
}

export const durationHint = 'a duration like 500ms, 2s, 15m, 1h30m or 1d';
