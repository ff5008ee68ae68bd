/**
 * Summarizes a V8 `.cpuprofile` (`node --cpu-prof`) by self time: the top entries by function
 * (name and place) and by area (a package under node_modules, a file under src/, node: internals,
 * or a V8 pseudo-node such as `(garbage collector)`), as Markdown tables. Percentages are of the
 * busy time: the whole profile minus `(idle)`.
 *
 *   tsx bench/profile-summary.ts FILE.cpuprofile [TOP=10]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: tsx bench/profile-summary.ts FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 10);
const root = path.resolve(import.meta.dirname, '..');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) for (const c of node.children ?? []) parentOf.set(c, node.id);
const selfUs = new Map<number, number>();
// timeDeltas[i] is the time from sample i-1 to sample i; it is charged to sample i's node.
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
}

function place(url: string): string {
  if (url === '') return '';
  let p = url.startsWith('file://') ? new URL(url).pathname : url;
  if (p.startsWith(`${root}/`)) p = p.slice(root.length + 1);
  return p;
}

function area(url: string, name: string): string {
  const p = place(url);
  if (p === '') return name.startsWith('(') ? name : '(native / V8 builtins)';
  if (p.startsWith('node:')) return 'node: internals';
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = p.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return p;
}

/** The nearest ancestor in the project or a package (not node: internals): who called a native entry. */
function caller(id: number): string {
  for (let p = parentOf.get(id); p !== undefined; p = parentOf.get(p)) {
    const { functionName, url, lineNumber } = byId.get(p)!.callFrame;
    if (url !== '' && !url.startsWith('node:'))
      return `${functionName || '(anonymous)'} ${place(url)}:${lineNumber + 1}`;
  }
  return '';
}

const fns = new Map<string, number>();
/** Self time of each entry by caller, for entries without a place of their own. */
const callers = new Map<string, Map<string, number>>();
const areas = new Map<string, number>();
let total = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const name = functionName || '(anonymous)';
  total += us;
  if (name === '(idle)') {
    idle += us;
    continue;
  }
  const where = place(url);
  const key = where ? `${name} ${where}:${lineNumber + 1}` : name;
  fns.set(key, (fns.get(key) ?? 0) + us);
  if (!where) {
    const by = callers.get(key) ?? new Map<string, number>();
    const from = caller(id);
    by.set(from, (by.get(from) ?? 0) + us);
    callers.set(key, by);
  }
  const a = area(url, name);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const busy = total - idle;

const pct = (us: number) => ((100 * us) / busy).toFixed(1);

function table(title: string, rows: Map<string, number>, withCallers = false): string {
  const sorted = [...rows].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = withCallers
    ? [`| ${title} | self ms | % of busy | main caller (% of busy) |`, '| --- | --- | --- | --- |']
    : [`| ${title} | self ms | % of busy |`, '| --- | --- | --- |'];
  for (const [key, us] of sorted) {
    let row = `| \`${key}\` | ${(us / 1000).toFixed(0)} | ${pct(us)} |`;
    if (withCallers) {
      const best = [...(callers.get(key) ?? [])].sort((a, b) => b[1] - a[1])[0];
      row += best && best[0] ? ` \`${best[0]}\` (${pct(best[1])}) |` : ' |';
    }
    lines.push(row);
  }
  return lines.join('\n');
}

process.stdout.write(
  [
    `${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)}%)`,
    '',
    table('function', fns, true),
    '',
    table('area', areas),
    '',
  ].join('\n'),
);
