/**
 * Run marks: e2e workflows count how often their commands ran by appending lines to a file in
 * the execution's workspace. A succeeded execution's workspace is removed at release
 * (docs/runtimes.md), so the last node reports the marks as its output, and the test reads them
 * from the execution detail once it succeeded (the file while it still runs).
 */
import { existsSync, readFileSync } from 'node:fs';

/** A command that appends `name` to the execution's marks. */
export const mark = (name: string) => `echo ${name} >> "$SWITCHYARD_WORKSPACE/marks"`;

/** The lines of a marks file on the host (none when it does not exist). */
export function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** The last node: reports the marks as its `marks` output (comma-separated). */
export const reportMarks = (needs: string) => ({
  id: 'report',
  type: 'command',
  needs: [needs],
  run: 'echo "marks=$(paste -sd, "$SWITCHYARD_WORKSPACE/marks")" >> "$SWITCHYARD_OUTPUT"',
});

/** The marks the `report` node of a finished execution reported. */
export function reportedMarks(detail: {
  nodes: { nodeId: string; outputs?: { marks?: string } | null }[];
}): string[] {
  const marks = detail.nodes.find((n) => n.nodeId === 'report')?.outputs?.marks;
  return marks === undefined || marks === '' ? [] : marks.split(',');
}
