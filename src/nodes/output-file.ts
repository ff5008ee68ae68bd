/**
 * The `$SWITCHYARD_OUTPUT` file format, as GitHub's `$GITHUB_OUTPUT`: `key=value` lines and
 * multi-line values as `key<<DELIM` … `DELIM`.
 */

const keyPattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ParsedOutputs {
  outputs: Record<string, string>;
  /** One message per ignored line or block, for the node's log. */
  problems: string[];
}

export function parseOutputFile(text: string): ParsedOutputs {
  const outputs: Record<string, string> = {};
  const problems: string[] = [];
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.at(-1) === '') lines.pop();
  const set = (key: string, value: string, lineNo: number) => {
    if (!keyPattern.test(key)) {
      problems.push(
        `output line ${lineNo}: ignored key ${JSON.stringify(key)} (want [A-Za-z_][A-Za-z0-9_]*)`,
      );
      return;
    }
    outputs[key] = value;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNo = i + 1;
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const heredoc = line.indexOf('<<');
    if (heredoc > 0 && (eq < 0 || heredoc < eq)) {
      const key = line.slice(0, heredoc);
      const delimiter = line.slice(heredoc + 2);
      if (delimiter === '') {
        problems.push(`output line ${lineNo}: '${key}<<' has no delimiter`);
        continue;
      }
      const end = lines.indexOf(delimiter, i + 1);
      if (end < 0) {
        problems.push(
          `output line ${lineNo}: no closing ${JSON.stringify(delimiter)} for '${key}'; ignored the rest of the file`,
        );
        break;
      }
      set(key, lines.slice(i + 1, end).join('\n'), lineNo);
      i = end;
    } else if (eq > 0) {
      set(line.slice(0, eq), line.slice(eq + 1), lineNo);
    } else {
      problems.push(`output line ${lineNo}: ignored (want key=value or key<<DELIMITER)`);
    }
  }
  return { outputs, problems };
}
