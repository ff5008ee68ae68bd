/**
 * The first thing a CI workflow does (issue "The first hour", items 1–5): check out a repository
 * from a host path bound read-only into the default sandbox (bubblewrap, a uid of the
 * execution's own), with the recipe docs/workflow-yaml.md gives — run as written, twice in the
 * same workspace (as a retry does), and the checked-out files used by the next node.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const caps = await createLocalRuntime({ dataDir: '/tmp' }).capabilities();
const inCi = process.env.CI === 'true';
const asRoot = process.getuid?.() === 0;

function skipUnless(ok: boolean, why: string): string | false {
  if (ok) return false;
  if (inCi) throw new Error(`${why}; CI requires it`);
  process.stderr.write(`# skipping checkout recipe test: ${why}\n`);
  return why;
}

/** The recipe of docs/workflow-yaml.md ("Check out a repository"), with the repository's path. */
function recipeFromDocs(repo: string): string {
  const doc = readFileSync(new URL('../../docs/workflow-yaml.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### Check out a repository'));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(yaml, 'docs/workflow-yaml.md has the checkout recipe');
  const run = /run: \|\n((?: {6}.*\n)+)/.exec(yaml)?.[1];
  assert.ok(run, 'the recipe has a run block');
  return run
    .split('\n')
    .map((l) => l.slice(6))
    .join('\n')
    .replaceAll('/srv/repos/app', repo);
}

describe(
  'checking out a repository in the default sandbox',
  {
    skip: skipUnless(
      caps.bwrap !== undefined && asRoot,
      caps.bwrap === undefined ? (caps.bwrapProblem ?? 'no bwrap') : 'the server is not root',
    ),
    timeout: 120_000,
  },
  () => {
    let h: Harness;
    let root: string;
    let repo: string;
    before(async () => {
      // Under /var/tmp: /var is not in the sandbox's minimal root, so its parents are made there.
      root = mkdtempSync('/var/tmp/sy-repos-');
      chmodSync(root, 0o755); // mkdtemp makes it 0700: a host directory others may read is shared

      repo = path.join(root, 'app');
      mkdirSync(repo);
      const git = (...args: string[]) =>
        execFileSync('git', args, {
          cwd: repo,
          env: {
            ...process.env,
            GIT_AUTHOR_NAME: 't',
            GIT_AUTHOR_EMAIL: 't@example.com',
            GIT_COMMITTER_NAME: 't',
            GIT_COMMITTER_EMAIL: 't@example.com',
          },
        });
      git('init', '-q', '-b', 'main');
      writeFileSync(path.join(repo, 'VERSION'), '1.4.2\n');
      git('add', 'VERSION');
      git('commit', '-q', '-m', 'first');
      h = await startHarness('sqlite', {
        config: { localIsolation: 'bwrap', runtime: 'local', sandboxReadOnlyPaths: [root] },
      });
    });
    after(async () => {
      await h?.close();
      rmSync(root, { recursive: true, force: true });
    });

    it('clones, runs again in the used workspace, and the next node reads the files', async () => {
      const recipe = recipeFromDocs(repo);
      const wf = await createWorkflow(h, {
        name: 'checkout',
        type: 'ci',
        graph: {
          nodes: [
            { id: 'checkout', type: 'command', run: recipe },
            // A retry runs the checkout again in the same workspace.
            { id: 'again', type: 'command', needs: ['checkout'], run: recipe },
            {
              id: 'build',
              type: 'command',
              needs: ['again'],
              run: 'echo "version=$(cat src/VERSION)" >> "$SWITCHYARD_OUTPUT"; echo "uid=$(id -u)" >> "$SWITCHYARD_OUTPUT"',
            },
          ],
        },
      });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.nodes.map((n) => n.error)));
      const build = nodeOf(done, 'build').outputs;
      assert.equal(build.version, '1.4.2');
      assert.notEqual(build.uid, '0', 'as the sandbox user, not root');
    });
  },
);
