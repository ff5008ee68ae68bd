/**
 * The first thing a CI workflow does (issue "The first hour", items 1–5): check out a repository
 * from a host path bound read-only into the default sandbox (bubblewrap, a uid of the
 * execution's own), with the recipe docs/workflow-yaml.md gives — run as written, twice in the
 * same workspace (as a retry does), and the checked-out files used by the next node. And from a
 * remote repository over the `outbound` network (a `ci` workflow's default): a git daemon in a
 * network namespace this test creates (203.0.113.0/24, a documentation range) is "the outside".
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { probeOutbound } from '../../src/runtime/outbound.ts';
import { eventually } from '../helpers/eventually.ts';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const caps = await createLocalRuntime({ dataDir: '/tmp' }).capabilities();
const outbound = await probeOutbound();
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

/** A repository `<root>/app` with one commit of `VERSION` 1.4.2. */
function makeRepo(root: string): string {
  const repo = path.join(root, 'app');
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
  return repo;
}

/** The workflow of both tests: the recipe, the recipe again (a retry's workspace), a build. */
function checkoutGraph(recipe: string) {
  return {
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
  };
}

/** Runs the checkout workflow (a `ci` one) and asserts the build read the files as a sandbox uid. */
async function checksOut(h: Harness, name: string, recipe: string): Promise<void> {
  const wf = await createWorkflow(h, { name, type: 'ci', graph: checkoutGraph(recipe) });
  const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.nodes.map((n) => n.error)));
  const build = nodeOf(done, 'build').outputs;
  assert.equal(build.version, '1.4.2');
  assert.notEqual(build.uid, '0', 'as the sandbox user, not root');
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

      repo = makeRepo(root);
      h = await startHarness('sqlite', {
        config: { localIsolation: 'bwrap', runtime: 'local', sandboxReadOnlyPaths: [root] },
      });
    });
    after(async () => {
      await h?.close();
      rmSync(root, { recursive: true, force: true });
    });

    it('clones, runs again in the used workspace, and the next node reads the files', async () => {
      await checksOut(h, 'checkout', recipeFromDocs(repo));
    });
  },
);

const suffix = randomBytes(3).toString('hex');
const outsideNs = `sy-test-git-${suffix}`;
const vethHost = `syg${suffix}a`;
const vethOut = `syg${suffix}b`;
const outsideAddress = '203.0.113.2';

describe(
  'checking out a remote repository over the outbound network',
  {
    skip: skipUnless(
      caps.bwrap !== undefined && asRoot && outbound.tools !== undefined,
      caps.bwrap === undefined
        ? (caps.bwrapProblem ?? 'no bwrap')
        : !asRoot
          ? 'the server is not root'
          : (outbound.problem ?? 'no pasta'),
    ),
    timeout: 120_000,
  },
  () => {
    let h: Harness;
    let root: string;
    let daemon: ChildProcess | undefined;
    let port = 0;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    before(async () => {
      root = mkdtempSync('/var/tmp/sy-remote-');
      makeRepo(root);
      // "The outside": a namespace with 203.0.113.2 behind a veth pair, serving git://.
      ip('netns', 'add', outsideNs);
      ip('link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethOut);
      ip('link', 'set', vethOut, 'netns', outsideNs);
      ip('addr', 'add', '203.0.113.1/24', 'dev', vethHost);
      ip('link', 'set', vethHost, 'up');
      ip('netns', 'exec', outsideNs, 'ip', 'addr', 'add', `${outsideAddress}/24`, 'dev', vethOut);
      ip('netns', 'exec', outsideNs, 'ip', 'link', 'set', vethOut, 'up');
      port = 20_000 + Math.floor(Math.random() * 20_000);
      daemon = spawn(
        'ip',
        [
          ...['netns', 'exec', outsideNs, 'git', 'daemon', '--export-all', '--reuseaddr'],
          `--base-path=${root}`,
          `--listen=${outsideAddress}`,
          `--port=${port}`,
          root,
        ],
        { stdio: 'ignore' },
      );
      await eventually(
        'the git daemon',
        () =>
          new Promise<true | undefined>((resolve) => {
            const s = net.connect({ host: outsideAddress, port });
            s.on('connect', () => {
              s.destroy();
              resolve(true);
            });
            s.on('error', () => resolve(undefined));
          }),
      );
      h = await startHarness('sqlite', { config: { localIsolation: 'bwrap', runtime: 'local' } });
    });
    after(async () => {
      await h?.close();
      daemon?.kill('SIGKILL');
      try {
        ip('link', 'del', vethHost);
      } catch {
        // gone with the namespace already
      }
      try {
        ip('netns', 'del', outsideNs);
      } catch {
        // never made
      }
      rmSync(root, { recursive: true, force: true });
    });

    it('clones with the recipe and its URL, fetches on the second run, as a sandbox uid', async () => {
      // `type: ci` runs with `network: outbound` unless it says otherwise.
      await checksOut(h, 'remote-checkout', recipeFromDocs(`git://${outsideAddress}:${port}/app`));
    });

    it('cannot clone with network: none (the check above can fail)', async () => {
      const recipe = recipeFromDocs(`git://${outsideAddress}:${port}/app`);
      const wf = await createWorkflow(h, {
        name: 'remote-checkout-none',
        type: 'ci',
        runtimeConfig: { network: 'none' },
        graph: { nodes: [{ id: 'checkout', type: 'command', run: recipe }] },
      });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'failed');
      assert.match(nodeOf(done, 'checkout').error?.message ?? '', /fatal:/);
    });
  },
);
