/**
 * Sandbox networks (issue "Security: network: host …"), on the local runtime (bubblewrap and
 * plain as root) and on the docker runtime:
 *
 * - `network: host` is refused when saved on a default server, and runs with `allowHostNetwork`;
 * - `outbound` reaches "the outside" and not the host: the outside is a listener in a network
 *   namespace this test creates (a veth pair, 198.51.100.0/24 from the documentation range);
 *   the host is PostgreSQL's TCP port, a loopback listener of the test, the server's own port,
 *   every address of the host's interfaces (the veth's host side included) and `localhost`;
 * - `egressAllow` opens a host address to outbound sandboxes;
 * - `none` reaches nothing.
 *
 * Every host target is checked from the host first (it answers with its marker), so each probe
 * can fail. Traffic stays on this machine: loopback and the namespace made here.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from '../helpers/suite.ts';
import type { Config } from '../../src/config.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { probeOutbound } from '../../src/runtime/outbound.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import { eventually } from '../helpers/eventually.ts';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const inCi = process.env.CI === 'true';
const caps = await createLocalRuntime({ dataDir: '/tmp' }).capabilities();
const outbound = await probeOutbound();

function skipUnless(ok: boolean, why: string): string | false {
  if (ok) return false;
  if (inCi) throw new Error(`${why}; CI requires it`);
  process.stderr.write(`# skipping sandbox network tests: ${why}\n`);
  return why;
}

const needed = skipUnless(outbound.tools !== undefined, outbound.problem ?? 'no pasta');
const dockerSkip = needed === false ? await dockerAvailable() : needed;

interface Mode {
  name: string;
  config: Partial<Config>;
  runtimeConfig: Record<string, unknown>;
  skip: string | false;
  /** Shell lines that connect to $1:$2 and print what the peer sends (at most 5 s). */
  connect: string;
}

const modes: Mode[] = [
  {
    name: 'local, bubblewrap',
    config: { localIsolation: 'bwrap', runtime: 'local' },
    runtimeConfig: {},
    skip: needed || skipUnless(caps.bwrap !== undefined, caps.bwrapProblem ?? 'no bwrap'),
    connect: `timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"; cat <&3' connect "$1" "$2"`,
  },
  {
    name: 'local, plain as root',
    config: { localIsolation: 'plain', runtime: 'local' },
    runtimeConfig: {},
    skip: needed || skipUnless(caps.unshare !== undefined, caps.unshareProblem ?? 'no unshare'),
    connect: `timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"; cat <&3' connect "$1" "$2"`,
  },
  {
    name: 'docker',
    config: { runtime: 'docker', dockerSocket },
    runtimeConfig: { runtime: 'docker', image: testImage },
    skip: dockerSkip,
    // stdin stays open a moment: Debian 12's pasta can drop a reply that crosses the client's
    // half-close (nc's FIN on stdin EOF); real clients keep writing or wait for the reply.
    connect: `sleep 2 | nc -w 5 "$1" "$2"`,
  },
];

/** A TCP listener that greets every connection with `marker` and closes it. */
async function greeter(host: string, marker: string): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => s.end(`${marker}\n`));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address() as net.AddressInfo;
  return { port: address.port, close: () => server.close() };
}

/** Connects from the host and returns what the peer sent ('' when it could not connect). */
function greetingOf(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let got = '';
    s.setTimeout(3000, () => s.destroy());
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(''));
  });
}

const suffix = randomBytes(3).toString('hex');
const outsideNs = `sy-test-out-${suffix}`;
const vethHost = `syo${suffix}a`;
const vethOut = `syo${suffix}b`;
const outsideAddress = '198.51.100.2';
const hostSideAddress = '198.51.100.1';
const secret = `host-secret-${suffix}`;
const outsideMarker = `outside-ok-${suffix}`;

describe('sandbox networks', { skip: needed, timeout: 600_000 }, () => {
  let outside: ChildProcess | undefined;
  let outsidePort = 0;
  let loopback: { port: number; close(): void };
  let anyAddress: { port: number; close(): void };

  before(async () => {
    // "The outside": a namespace of this test with 198.51.100.2, routed through a veth pair.
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    // A run of this file that was killed leaves its namespace and veth behind, and that veth's
    // 198.51.100.1/24 would take this run's traffic: they are removed first (one suite runs at
    // a time on a machine).
    for (const ns of ip('netns', 'list')
      .toString()
      .match(/^sy-test-out-[0-9a-f]+/gm) ?? [])
      ip('netns', 'del', ns);
    for (const link of ip('-br', 'link')
      .toString()
      .match(/^syo[0-9a-f]+a(?=[@\s])/gm) ?? [])
      ip('link', 'del', link);
    ip('netns', 'add', outsideNs);
    ip('link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethOut);
    ip('link', 'set', vethOut, 'netns', outsideNs);
    ip('addr', 'add', `${hostSideAddress}/24`, 'dev', vethHost);
    ip('link', 'set', vethHost, 'up');
    ip('netns', 'exec', outsideNs, 'ip', 'addr', 'add', `${outsideAddress}/24`, 'dev', vethOut);
    ip('netns', 'exec', outsideNs, 'ip', 'link', 'set', vethOut, 'up');
    ip('netns', 'exec', outsideNs, 'ip', 'link', 'set', 'lo', 'up');
    outsidePort = 20_000 + Math.floor(Math.random() * 20_000);
    const js = `require('net').createServer((s) => s.end(${JSON.stringify(`${outsideMarker}\n`)})).listen(${outsidePort}, '${outsideAddress}')`;
    outside = spawn('ip', ['netns', 'exec', outsideNs, process.execPath, '-e', js], {
      stdio: 'ignore',
    });
    await eventually('the outside listener', async () => {
      const got = await greetingOf(outsideAddress, outsidePort);
      return got.includes(outsideMarker) ? got : undefined;
    });
    // The host: a loopback listener and one on every address (the veth's host side included).
    loopback = await greeter('127.0.0.1', secret);
    anyAddress = await greeter('0.0.0.0', secret);
    assert.match(await greetingOf('127.0.0.1', loopback.port), new RegExp(secret));
    assert.match(await greetingOf(hostSideAddress, anyAddress.port), new RegExp(secret));
  });

  after(() => {
    outside?.kill('SIGKILL');
    loopback?.close();
    anyAddress?.close();
    try {
      execFileSync('ip', ['link', 'del', vethHost], { stdio: 'ignore' });
    } catch {
      // gone with the namespace
    }
    execFileSync('ip', ['netns', 'del', outsideNs], { stdio: 'ignore' });
  });

  /** The host's own addresses (IPv4; the sandbox's IPv6 is refused by the same rules). */
  const hostIpv4 = () =>
    Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && a.family === 'IPv4')
      .map((a) => a.address);

  for (const mode of modes) {
    describe(mode.name, { skip: mode.skip, timeout: 300_000 }, () => {
      let h: Harness;
      let allowing: Harness;
      let serverPort = 0;

      before(async () => {
        if (mode.name === 'docker') await ensureTestImage(testDocker());
        h = await startHarness('sqlite', { config: { ...mode.config, killGraceMs: 500 } });
        await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
        serverPort = (h.yard.app.server.address() as net.AddressInfo).port;
        allowing = await startHarness('sqlite', {
          config: {
            ...mode.config,
            killGraceMs: 500,
            allowHostNetwork: true,
            egressAllow: [`${hostSideAddress}:${anyAddress.port}`],
          },
        });
      });
      after(async () => {
        await h?.close();
        await allowing?.close();
      });

      /** Runs one command node per target and returns what each printed. */
      async function probe(
        harness: Harness,
        network: string | undefined,
        targets: { name: string; host: string; port: number }[],
      ) {
        // All targets at once, each into its own file, then collected as outputs.
        const run = [
          `connect() { ${mode.connect}; }`,
          `probe() { connect "$2" "$3" 2>/dev/null | head -c 100 | tr -d '\\n' > "probe.$1"; }`,
          ...targets.map((t) => `probe ${t.name} ${t.host} ${t.port} &`),
          'wait',
          'for f in probe.*; do echo "${f#probe.}=$(cat "$f")" >> "$SWITCHYARD_OUTPUT"; done',
        ].join('\n');
        const wf = await createWorkflow(harness, {
          name: `net-${network ?? 'default'}-${randomBytes(3).toString('hex')}`,
          type: 'ci',
          runtimeConfig: {
            ...mode.runtimeConfig,
            ...(network !== undefined && { network }),
          },
          graph: { nodes: [{ id: 'p', type: 'command', run }] },
        });
        const done = await runAndWait(harness, wf.id, ['succeeded', 'failed']);
        assert.equal(done.status, 'succeeded', JSON.stringify(done));
        return { done, outputs: nodeOf(done, 'p').outputs as Record<string, string> };
      }

      it('network: host is refused when saved on a default server, naming the setting', async () => {
        const res = await h.call('POST', '/api/v1/workflows', {
          name: `nethost-${randomBytes(3).toString('hex')}`,
          runtimeConfig: { ...mode.runtimeConfig, network: 'host' },
          graph: { nodes: [{ id: 'p', type: 'command', run: 'true' }] },
        });
        assert.equal(res.statusCode, 422, res.body);
        const body = res.json();
        assert.equal(body.code, 'ERR_WORKFLOW_INVALID');
        assert.equal(body.details[0].path, 'runtimeConfig.network');
        assert.match(body.details[0].message, /allowHostNetwork/);
      });

      it('outbound (the ci default) reaches the outside, and nothing of the host', async () => {
        const targets = [
          { name: 'outside', host: outsideAddress, port: outsidePort },
          { name: 'postgres', host: '127.0.0.1', port: 5432 },
          { name: 'loopback', host: '127.0.0.1', port: loopback.port },
          { name: 'localhost', host: 'localhost', port: loopback.port },
          { name: 'server', host: '127.0.0.1', port: serverPort },
          ...hostIpv4().map((address, i) => ({
            name: `host${i}`,
            host: address,
            port: anyAddress.port,
          })),
        ];
        const { done, outputs } = await probe(h, undefined, targets);
        assert.equal(done.environment?.network, 'outbound', JSON.stringify(done.environment));
        assert.equal(outputs.outside, outsideMarker, 'a CI workflow fetches from the outside');
        for (const t of targets.slice(1)) {
          assert.doesNotMatch(
            outputs[t.name] ?? '',
            /host-secret/,
            `${t.name} ${t.host}:${t.port}`,
          );
        }
        // The server's own port answers HTTP on the host; the sandbox got nothing from it.
        assert.equal(outputs.server, '');
      });

      it('none reaches neither the outside nor the host', async () => {
        const { done, outputs } = await probe(h, 'none', [
          { name: 'outside', host: outsideAddress, port: outsidePort },
          { name: 'loopback', host: '127.0.0.1', port: loopback.port },
        ]);
        assert.equal(done.environment?.network, 'none');
        assert.equal(outputs.outside, '');
        assert.equal(outputs.loopback, '');
      });

      it('egressAllow opens a host address to outbound sandboxes', async () => {
        const target = { name: 'veth', host: hostSideAddress, port: anyAddress.port };
        const refused = await probe(h, 'outbound', [target]);
        assert.equal(refused.outputs.veth, '');
        const allowed = await probe(allowing, 'outbound', [target]);
        assert.equal(allowed.outputs.veth, secret);
      });

      it('network: host runs where the server allows it, and reaches the host', async () => {
        const { done, outputs } = await probe(allowing, 'host', [
          { name: 'loopback', host: '127.0.0.1', port: loopback.port },
        ]);
        assert.equal(done.environment?.network, 'host');
        assert.equal(outputs.loopback, secret);
      });
    });
  }
});
