/**
 * Hostile workflows on the local runtime (issue "Security"): a workflow author tries to reach
 * the host from a command — host secrets, the data directory, PostgreSQL's data and sockets,
 * Docker's socket, every other listening unix socket, the server's own port, world-writable host
 * directories, another running execution's workspace, and host files smuggled out through a
 * symlink as an artifact or as `$SWITCHYARD_OUTPUT`. Each attempt must fail (asserted, after the
 * test checked from the host that the target exists, so every probe can fail), while legitimate
 * work in the same sandbox still runs: files in the workspace, outputs, tools from /usr/bin.
 *
 * Run with bubblewrap and in plain mode as root; the docker runtime has its own suite.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import type { Config } from '../../src/config.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import {
  createWorkflow,
  executionUrl,
  nodeOf,
  runAndWait,
  runWorkflow,
  waitForNode,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const caps = await createLocalRuntime({ dataDir: '/tmp' }).capabilities();
const asRoot = process.getuid?.() === 0;
const inCi = process.env.CI === 'true';

function skipUnless(ok: boolean, why: string): string | false {
  if (ok) return false;
  if (inCi) throw new Error(`${why}; CI requires it`);
  process.stderr.write(`# skipping hostile sandbox tests: ${why}\n`);
  return why;
}

const modes: { name: string; config: Partial<Config>; skip: string | false }[] = [
  {
    name: 'bubblewrap',
    config: { localIsolation: 'bwrap' },
    skip: skipUnless(caps.bwrap !== undefined, caps.bwrapProblem ?? 'no bwrap'),
  },
  {
    name: 'plain as root',
    config: { localIsolation: 'plain' },
    skip: skipUnless(
      asRoot && caps.unshare !== undefined && caps.setpriv !== undefined,
      asRoot ? (caps.unshareProblem ?? 'no setpriv') : 'the server does not run as root',
    ),
  },
];

/** `NAME=leaked` when the command succeeds in the sandbox, else `NAME=blocked`. */
const probeFn =
  'probe() { n=$1; shift; if ( "$@" ) >/dev/null 2>&1; then r=leaked; else r=blocked; fi; echo "$n=$r" >> "$SWITCHYARD_OUTPUT"; }';

function script(lines: string[]): string {
  return [probeFn, ...lines].join('\n');
}

/** Host unix sockets that listen on a path (PostgreSQL's, Docker's, D-Bus, systemd, ...). */
function hostUnixSockets(): string[] {
  const paths = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const parts = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path; flags 00010000 = listening.
    const p = parts[7];
    if (p?.startsWith('/') && parts[3] === '00010000' && existsSync(p)) paths.add(p);
  }
  return [...paths].sort();
}

/** World-writable directories of the host (a sandbox must not leave files in any of them). */
function worldWritableDirs(): string[] {
  const out = execFileSync(
    'find',
    ['/', '-maxdepth', '3', '-xdev', '-type', 'd', '-perm', '-0002', '-not', '-path', '/proc/*'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  ).trim();
  const dirs = out === '' ? [] : out.split('\n');
  return [...new Set([...dirs, '/tmp', '/var/tmp', '/dev/shm'])].filter((d) => existsSync(d));
}

/** A node script that tries every target and writes `reached=<json list>` to the outputs. */
function connectProbe(targets: ({ path: string } | { host: string; port: number })[]): string {
  const js = `
const net = require('net');
const targets = ${JSON.stringify(targets)};
const reached = [];
let left = targets.length;
const finish = () => { if (--left === 0) require('fs').appendFileSync(process.env.SWITCHYARD_OUTPUT, 'reached=' + JSON.stringify(reached) + '\\n'); };
for (const t of targets) {
  let done = false;
  const end = (ok) => { if (done) return; done = true; if (ok) reached.push(t.path || t.host + ':' + t.port); s.destroy(); finish(); };
  const s = net.connect(t);
  s.setTimeout(3000);
  s.on('connect', () => end(true));
  s.on('error', () => end(false));
  s.on('timeout', () => end(false));
}
if (targets.length === 0) { left = 1; finish(); }
`;
  return `echo ${Buffer.from(js).toString('base64')} | base64 -d > probe.js && node probe.js`;
}

for (const mode of modes) {
  describe(
    `hostile workflows: local runtime, ${mode.name}`,
    { skip: mode.skip, timeout: 240_000 },
    () => {
      let h: Harness;
      let serverPort = 0;
      before(async () => {
        h = await startHarness('sqlite', {
          config: { ...mode.config, runtime: 'local', killGraceMs: 500 },
          artifacts: { reapIntervalMs: 0 },
        });
        await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
        const address = h.yard.app.server.address();
        serverPort = typeof address === 'object' && address !== null ? address.port : 0;
      });
      after(async () => {
        await h?.close();
      });

      async function runProbes(name: string, run: string, extra: Record<string, unknown> = {}) {
        const wf = await createWorkflow(h, {
          name: `${name}-${randomBytes(3).toString('hex')}`,
          graph: { nodes: [{ id: 'p', type: 'command', run, ...extra }] },
        });
        const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        return { done, outputs: nodeOf(done, 'p').outputs };
      }

      it('cannot read host secrets, the data directory or PostgreSQL’s data; legitimate work runs', async () => {
        // The targets exist on the host, so every probe below could succeed.
        assert.ok(existsSync('/etc/shadow'));
        assert.ok(readdirSync('/root').length > 0, '/root has files');
        const db = path.join(h.dataDir, 'switchyard.db');
        assert.ok(statSync(db).size > 0);
        // PostgreSQL's cluster directories (Debian: /var/lib/postgresql/<version>/main).
        const pgRoot = '/var/lib/postgresql';
        const pgData = existsSync(pgRoot)
          ? readdirSync(pgRoot)
              .map((v) => path.join(pgRoot, v, 'main'))
              .filter((p) => existsSync(path.join(p, 'PG_VERSION')))
          : [];
        if (inCi)
          assert.ok(pgData.length > 0, 'PostgreSQL keeps its data under /var/lib/postgresql');

        const wf = await createWorkflow(h, {
          name: `secrets-${randomBytes(3).toString('hex')}`,
          graph: {
            nodes: [
              {
                id: 'p',
                type: 'command',
                run: script([
                  'probe shadow head -c 1 /etc/shadow',
                  'probe root_dir sh -c "ls -A /root | grep -q ."',
                  `probe database head -c 1 ${db}`,
                  `probe data_listing sh -c "ls -A ${h.dataDir} | grep -qv '^workspaces$'"`,
                  `probe other_workspaces sh -c "ls -A ${h.dataDir}/workspaces | grep -qv '^$SWITCHYARD_EXECUTION_ID$'"`,
                  ...pgData.map((p) => `probe pg_data head -c 1 ${p}/PG_VERSION`),
                  'probe root_user sh -c "[ $(id -u) = 0 ]"',
                  'echo hello > file.txt',
                  'echo "uid=$(id -u)" >> "$SWITCHYARD_OUTPUT"',
                  'echo "sum=$(sha256sum file.txt | cut -c1-12)" >> "$SWITCHYARD_OUTPUT"',
                ]),
              },
              {
                id: 'next',
                type: 'command',
                needs: ['p'],
                run: 'echo "got=$(cat file.txt)" >> "$SWITCHYARD_OUTPUT"; echo "awk=$(echo 2 3 | awk \'{print $1*$2}\')" >> "$SWITCHYARD_OUTPUT"',
              },
            ],
          },
        });
        const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        const outputs = nodeOf(done, 'p').outputs as Record<string, string>;
        for (const key of [
          'shadow',
          'root_dir',
          'database',
          'data_listing',
          'other_workspaces',
          'root_user',
        ])
          assert.equal(outputs[key], 'blocked', `${key}: ${JSON.stringify(outputs)}`);
        if (pgData.length > 0) assert.equal(outputs.pg_data, 'blocked');
        assert.notEqual(outputs.uid, '0');
        assert.match(String(outputs.sum), /^[0-9a-f]{12}$/, 'a tool from /usr/bin ran');
        assert.deepEqual(nodeOf(done, 'next').outputs, { got: 'hello', awk: '6', exitCode: 0 });
        assert.match(String(done.environment?.user), /uid \d+/);
        assert.ok(!(done.environment?.unenforced ?? []).includes('identity'));
      });

      it('reaches no host unix socket, not PostgreSQL’s TCP port, not the server’s own port', async () => {
        const sockets = hostUnixSockets();
        if (inCi) {
          assert.ok(
            sockets.some((s) => s.includes('.s.PGSQL.')),
            'PostgreSQL listens on a socket',
          );
          assert.ok(
            sockets.some((s) => s.includes('docker')),
            'a Docker engine listens on a socket',
          );
        }
        assert.ok(serverPort > 0);
        const targets = [
          ...sockets.map((p) => ({ path: p })),
          { host: '127.0.0.1', port: 5432 },
          { host: '127.0.0.1', port: serverPort },
        ];
        // From the test process, the same targets answer: the probe can fail.
        const { outputs } = await runProbes('sockets', connectProbe(targets));
        assert.deepEqual(JSON.parse(String(outputs.reached)), []);
        const health = await fetch(`http://127.0.0.1:${serverPort}/healthz`);
        assert.equal(health.status, 200, 'the server port answers the host');
      });

      it('cannot write outside the workspace', async () => {
        const mark = `sy-hostile-${randomBytes(4).toString('hex')}`;
        const dirs = worldWritableDirs();
        const targets = [
          ...dirs,
          '/usr',
          '/etc',
          '/',
          h.dataDir,
          path.join(h.dataDir, 'workspaces'),
        ];
        const { outputs } = await runProbes(
          'writes',
          script([
            ...targets.map((d, i) => `probe w${i} sh -c "echo x > ${path.join(d, mark)}"`),
            'echo inside > in-workspace.txt',
            'echo "tmp=$(echo t > /tmp/scratch && cat /tmp/scratch)" >> "$SWITCHYARD_OUTPUT"',
          ]),
        );
        for (const [i, d] of targets.entries()) {
          assert.ok(!existsSync(path.join(d, mark)), `a file appeared in ${d}`);
          // The sandbox's own /tmp and /dev/shm are private mounts: writable, but not the host's.
          if (!dirs.includes(d))
            assert.equal(outputs[`w${i}`], 'blocked', `wrote into ${d} (as the sandbox sees it)`);
        }
        assert.equal(outputs.tmp, 't', 'a private /tmp works');
      });

      it('cannot read another running execution’s workspace', async () => {
        const holder = await createWorkflow(h, {
          name: `holder-${randomBytes(3).toString('hex')}`,
          graph: {
            nodes: [
              { id: 'keep', type: 'command', run: 'echo s3cret > secret.txt' },
              { id: 'hold', type: 'approval', needs: ['keep'], message: 'hold' },
            ],
          },
        });
        const a = await runWorkflow(h, holder.id);
        await waitForNode(h, holder.id, a.id, 'hold', ['waiting']);
        const secret = path.join(h.dataDir, 'workspaces', a.id, 'secret.txt');
        assert.equal(readFileSync(secret, 'utf8'), 's3cret\n', 'the file exists on the host');
        try {
          const { outputs } = await runProbes(
            'snoop',
            script([
              `probe by_host_path cat ${secret}`,
              `probe by_relative_path cat ../${a.id}/secret.txt`,
              `probe by_workspace_path cat /workspace/../${a.id}/secret.txt`,
              `probe by_listing sh -c "ls -A .. | grep -q ${a.id}"`,
            ]),
          );
          for (const key of ['by_host_path', 'by_relative_path', 'by_workspace_path', 'by_listing'])
            assert.equal(outputs[key], 'blocked', `${key}: ${JSON.stringify(outputs)}`);
        } finally {
          const res = await h.call('POST', `${executionUrl(holder.id, a.id)}/cancel`);
          assert.equal(res.statusCode, 200, res.body);
          await waitForStatus(h, holder.id, a.id, ['cancelled']);
        }
      });

      it('cannot smuggle a host file out through a symlink: artifact or $SWITCHYARD_OUTPUT', async () => {
        const shadowHead = readFileSync('/etc/shadow', 'utf8').split('\n')[0]!;
        assert.ok(shadowHead.length > 0);
        const { done, outputs } = await runProbes(
          'smuggle',
          [
            'ln -s /etc/shadow leak.txt',
            'ln /etc/shadow hard.txt 2>/dev/null || true',
            'mkdir -p sub && ln -s /etc sub/etc',
            'echo fine > fine.txt',
            // The output file's directory is the server's: a link cannot replace the file...
            'if ln -sf /etc/shadow "$SWITCHYARD_OUTPUT" 2>/dev/null; then exit 3; fi',
            // ...but the workspace is the sandbox's: move the directory away and bring a link.
            'mv .switchyard .old-state && mkdir .switchyard',
            'ln -s /etc/shadow "$SWITCHYARD_OUTPUT"',
          ].join('\n'),
          { artifacts: ['leak.txt', 'hard.txt', 'sub/etc/shadow', 'fine.txt'] },
        );
        assert.deepEqual(outputs, { exitCode: 0 }, 'nothing of /etc/shadow in the outputs');
        const list = await h.call('GET', `${executionUrl(done.workflowId, done.id)}/artifacts`);
        assert.equal(list.statusCode, 200, list.body);
        const paths = list.json<{ items: { path: string }[] }>().items.map((a) => a.path);
        assert.deepEqual(paths, ['fine.txt'], 'only the regular file was collected');
        for (const p of ['leak.txt', 'hard.txt', 'sub/etc/shadow']) {
          const res = await h.call(
            'GET',
            `${executionUrl(done.workflowId, done.id)}/artifacts/${p}`,
          );
          assert.equal(res.statusCode, 404, `${p}: ${res.statusCode}`);
          assert.ok(!res.body.includes(shadowHead));
        }
        const logs = await h.call(
          'GET',
          `${executionUrl(done.workflowId, done.id)}/logs?node=p`,
          undefined,
          {
            headers: { accept: 'text/plain' },
          },
        );
        assert.ok(!logs.body.includes(shadowHead), 'nor in the logs');
      });
    },
  );
}
