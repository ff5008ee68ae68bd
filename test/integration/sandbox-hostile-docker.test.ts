/**
 * A hostile workflow author on the docker runtime, through the real API (issue "Security: a
 * workflow command can reach the host's PostgreSQL …"): real executions in containers of the
 * offline-built busybox image on a real dockerd. Every attempt to reach the host fails, and the
 * test asserts the failure against the host itself (its files, sockets and ports as the test
 * process sees them), not against the image's own files. In the same container legitimate work
 * still succeeds: files in /workspace, `$SWITCHYARD_OUTPUT`, a tool from /bin. Positive controls
 * show each probe would notice success: a port served inside the container answers the same
 * `nc`, and `network: host` (documented as reaching the host's loopback) reaches the
 * server's port.
 *
 * Skips with a printed reason without dockerd, except under CI or SWITCHYARD_REQUIRE_DOCKER=1.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from '../helpers/suite.ts';
import type Docker from 'dockerode';
import { dockerLabels } from '../../src/runtime/docker/container-config.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import {
  type ExecutionJson,
  createWorkflow,
  executionUrl,
  nodeOf,
  runWorkflow,
  waitForNode,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { eventually } from '../helpers/eventually.ts';
import { sandboxGatewaySocket } from '../../src/runtime/gateway-forwarder.ts';

/** Generous: a loaded 2-core machine runs several suites at once. */
const deadlineMs = 60_000;

const skip = await dockerAvailable();

/**
 * Shell prelude: `probe NAME CMD...` runs CMD and records `NAME_rc` (its exit code) and
 * `NAME_out` (the first 400 bytes of its stdout+stderr, base64) as outputs; never fails itself.
 */
const prelude = [
  'probe() {',
  '  name=$1; shift',
  '  out=$("$@" 2>&1) && rc=0 || rc=$?',
  '  echo "${name}_rc=$rc" >> "$SWITCHYARD_OUTPUT"',
  '  echo "${name}_out=$(printf %s "$out" | head -c 400 | base64 -w0)" >> "$SWITCHYARD_OUTPUT"',
  '}',
].join('\n');

interface Probe {
  rc: number;
  out: string;
}

/** The probe `name` from a node's outputs. */
function probeOf(detail: ExecutionJson, nodeId: string, name: string): Probe {
  const outputs = nodeOf(detail, nodeId).outputs;
  const rc = outputs[`${name}_rc`];
  const out = outputs[`${name}_out`];
  assert.equal(typeof rc, 'string', `probe ${name} of ${nodeId} ran: ${JSON.stringify(outputs)}`);
  return {
    rc: Number(rc),
    out: Buffer.from(typeof out === 'string' ? out : '', 'base64').toString('utf8'),
  };
}

/** Asserts the probe failed, and that its output holds none of `secrets`. */
function assertFailed(detail: ExecutionJson, nodeId: string, name: string, secrets: string[] = []) {
  const p = probeOf(detail, nodeId, name);
  assert.notEqual(p.rc, 0, `${name} must fail, it printed: ${p.out}`);
  for (const s of secrets) {
    assert.ok(!p.out.includes(s), `${name} leaked ${JSON.stringify(s)}: ${p.out}`);
  }
  return p;
}

/** The host's secret: the first line of its /etc/shadow, as the test process reads it. */
function hostShadowLine(): string {
  const line = readFileSync('/etc/shadow', 'utf8').split('\n')[0] ?? '';
  assert.ok(line.length > 0, 'the host has an /etc/shadow to compare with');
  return line;
}

/** Names in a host directory, or [] when it does not exist. */
function hostEntries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe('hostile workflows on the docker runtime', { skip, timeout: 600_000 }, () => {
  let h: Harness;
  let docker: Docker;
  let serverPort: number;
  /** A host directory outside everything the server owns, for the write attempts. */
  let hostScratch: string;
  const executions: string[] = [];
  const run = randomBytes(4).toString('hex');

  before(async () => {
    docker = testDocker();
    await ensureTestImage(docker);
    h = await startHarness('sqlite', {
      // allowHostNetwork: the operator's opt-in, for the test that shows what `host` reaches
      // (refused by default: sandbox-network.test.ts).
      config: { runtime: 'docker', dockerSocket, killGraceMs: 500, allowHostNetwork: true },
      artifacts: { reapIntervalMs: 0 },
    });
    // The server's own port on the host's loopback.
    await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
    serverPort = (h.yard.app.server.address() as AddressInfo).port;
    hostScratch = mkdtempSync(path.join(tmpdir(), 'switchyard-hostile-'));
  });

  after(async () => {
    await h?.close();
    if (hostScratch) rmSync(hostScratch, { recursive: true, force: true });
    if (!docker) return;
    const ours = async () =>
      (await docker.listContainers({ all: true })).filter((c) =>
        executions.includes(c.Labels[dockerLabels.execution] ?? ''),
      );
    // Each container goes when its execution is released, just after the end.
    const left = await eventually(
      'the executions’ containers to be removed',
      async () => ((await ours()).length === 0 ? [] : undefined),
      deadlineMs,
    ).catch(() => ours());
    for (const c of left) {
      await docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
    }
    assert.deepEqual(
      left.map((c) => c.Names[0]),
      [],
      'containers left behind',
    );
  });

  async function start(wfId: string): Promise<string> {
    const started = await runWorkflow(h, wfId);
    executions.push(started.id);
    return started.id;
  }

  const finished = (wfId: string, execId: string) =>
    waitForStatus(h, wfId, execId, ['succeeded', 'failed', 'cancelled'], deadlineMs);

  const hostWorkspace = (execId: string) => path.resolve(h.dataDir, 'workspaces', execId);

  it('cannot reach host files, sockets or ports; legitimate work in the same container succeeds', async () => {
    const shadow = hostShadowLine();
    const dataDir = path.resolve(h.dataDir);
    const outside = path.join(hostScratch, 'pwned.txt');
    const inData = path.join(dataDir, `pwned-${run}.txt`);
    const hostSecret = randomBytes(12).toString('hex');
    const hostEnvFile = path.join(hostScratch, 'secret.env');
    writeFileSync(hostEnvFile, `token=${hostSecret}\n`, { mode: 0o600 });
    const wf = await createWorkflow(h, {
      name: `hostile-docker-${run}`,
      runtimeConfig: { image: testImage, artifacts: ['wf-*.txt'] },
      graph: {
        nodes: [
          {
            id: 'legit',
            type: 'command',
            run: [
              'mkdir -p data && echo "hello workspace" > data/note.txt',
              'echo "note=$(cat /workspace/data/note.txt)" >> "$SWITCHYARD_OUTPUT"',
              'echo "sum=$(/bin/sha256sum data/note.txt | cut -c1-16)" >> "$SWITCHYARD_OUTPUT"',
              'echo "uid=$(id -u)" >> "$SWITCHYARD_OUTPUT"',
            ].join('\n'),
          },
          {
            id: 'files',
            type: 'command',
            needs: ['legit'],
            run: [
              prelude,
              "probe shadow sh -c 'cat /etc/shadow'",
              "probe shadow_up sh -c 'cat /workspace/../../../../etc/shadow'",
              "probe shadow_proc sh -c 'cat /proc/1/root/etc/shadow'",
              'probe root sh -c \'ls -A /root && test -n "$(ls -A /root)"\'',
              `probe datadir ls -A ${dataDir}`,
              `probe database cat ${path.join(dataDir, 'switchyard.db')}`,
              'probe pgdata ls -A /var/lib/postgresql',
              // What is above /workspace is the container's own root, not the data directory.
              "probe above sh -c 'ls -A /workspace/.. | grep -qx workspaces'",
            ].join('\n'),
          },
          {
            id: 'sockets',
            type: 'command',
            needs: ['legit'],
            run: [
              prelude,
              "probe pg_socket sh -c 'ls -la /run/postgresql/ && test -S /run/postgresql/.s.PGSQL.5432'",
              "probe docker_sock sh -c 'test -S /var/run/docker.sock'",
              `probe engine_sock sh -c 'test -S ${dockerSocket}'`,
              // Not one unix socket anywhere in the container's tree but the LLM gateway's, the
              // channel made for it (it serves the gateway and this execution only: llm-gateway.test.ts).
              'probe any_socket sh -c \'test -n "$(find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null | grep -vx /run/switchyard/gateway.sock)"\'',
              "probe gateway_socket sh -c 'find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null'",
            ].join('\n'),
          },
          {
            id: 'ports',
            type: 'command',
            needs: ['legit'],
            run: [
              prelude,
              // Positive control: a port served inside the container answers the same probes.
              'mkdir -p www && echo served-inside > www/index.html',
              'httpd -p 127.0.0.1:8080 -h /workspace/www',
              'probe control_nc sh -c \'printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc -w 5 127.0.0.1 8080\'',
              "probe pg_tcp sh -c 'echo | nc -w 5 127.0.0.1 5432'",
              `probe server_nc sh -c 'printf "GET /healthz HTTP/1.0\\r\\n\\r\\n" | nc -w 5 127.0.0.1 ${serverPort}'`,
              "probe interfaces sh -c 'ls /sys/class/net | grep -vx lo'",
              'kill $(pidof httpd) 2>/dev/null || true',
            ].join('\n'),
          },
          {
            id: 'writes',
            type: 'command',
            // After `files`: the paths it creates in the container's own file system (the data
            // directory's among them) would otherwise show up in that node's listing.
            needs: ['legit', 'files'],
            run: [
              prelude,
              // These succeed inside the container's own file system; the host must not see them.
              `mkdir -p ${hostScratch} && echo pwned > ${outside} || true`,
              `mkdir -p ${dataDir} && echo pwned > ${inData} || true`,
              'echo pwned > /workspace/../escaped.txt || true',
              'echo pwned > /etc/hostile-marker || true',
              'echo pwned > /proc/1/root/etc/hostile-marker-proc || true',
              'echo "done=yes" >> "$SWITCHYARD_OUTPUT"',
            ].join('\n'),
          },
          {
            id: 'links',
            type: 'command',
            needs: ['legit'],
            artifacts: ['leak-*.txt', 'hostetc/shadow'],
            run: [
              'ln -s /etc/shadow leak-abs.txt',
              'ln -s ../../../../../../../etc/shadow leak-rel.txt',
              'ln -s /etc hostetc',
              'ln -s /etc/shadow wf-leak.txt',
              'echo fine > leak-fine.txt',
              'echo fine > wf-fine.txt',
            ].join('\n'),
          },
          {
            id: 'output_link',
            type: 'command',
            needs: ['legit'],
            run: 'ln -sf /etc/shadow "$SWITCHYARD_OUTPUT"',
          },
          {
            // A host file in the outputs' own key=value format, which would parse if followed.
            id: 'output_link_env',
            type: 'command',
            needs: ['legit'],
            run: `ln -sf ${hostEnvFile} "$SWITCHYARD_OUTPUT"`,
          },
          {
            id: 'after',
            type: 'command',
            needs: [
              'files',
              'sockets',
              'ports',
              'writes',
              'links',
              'output_link',
              'output_link_env',
            ],
            run: [
              'cat data/note.txt > data/copy.txt',
              'echo "copy=$(cat data/copy.txt)" >> "$SWITCHYARD_OUTPUT"',
              'echo "tool=$(echo abc | /bin/tr a-c x-z)" >> "$SWITCHYARD_OUTPUT"',
            ].join('\n'),
          },
        ],
      },
    });
    const execId = await start(wf.id);
    const done = await finished(wf.id, execId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.environment?.runtime, 'docker');
    assert.equal(done.environment?.user, 'root');

    // Legitimate work: files in /workspace, outputs, tools from /bin.
    const legit = nodeOf(done, 'legit').outputs;
    assert.equal(legit.note, 'hello workspace');
    assert.match(String(legit.sum), /^[0-9a-f]{16}$/);
    assert.equal(legit.uid, '0', 'root in the container by default');
    const later = nodeOf(done, 'after').outputs;
    assert.equal(later.copy, 'hello workspace');
    assert.equal(later.tool, 'xyz');

    // Host files.
    const hostRoot = hostEntries('/root');
    const pgData = hostEntries('/var/lib/postgresql');
    const dataEntries = hostEntries(dataDir);
    assert.ok(dataEntries.includes('workspaces'), 'the data directory exists on the host');
    for (const name of ['shadow', 'shadow_up', 'shadow_proc']) {
      assertFailed(done, 'files', name, [shadow]);
    }
    assertFailed(done, 'files', 'root', hostRoot);
    assertFailed(done, 'files', 'datadir', dataEntries);
    assertFailed(done, 'files', 'database', ['SQLite format']);
    assertFailed(done, 'files', 'pgdata', pgData);
    assertFailed(done, 'files', 'above');

    // Host sockets: PostgreSQL's, the Docker engine's (both names), any at all.
    assertFailed(done, 'sockets', 'pg_socket', ['.s.PGSQL.5432']);
    assertFailed(done, 'sockets', 'docker_sock');
    assertFailed(done, 'sockets', 'engine_sock');
    assertFailed(done, 'sockets', 'any_socket');
    // The one socket there is the gateway's, where docs/runtimes.md says it is.
    assert.equal(probeOf(done, 'sockets', 'gateway_socket').out.trim(), sandboxGatewaySocket);

    // Host ports: the controls prove the probes notice an open port.
    const control = probeOf(done, 'ports', 'control_nc');
    assert.equal(control.rc, 0, control.out);
    assert.match(control.out, /served-inside/);
    // Refused (only the container's own lo exists), not some other failure of the tool.
    assert.match(assertFailed(done, 'ports', 'pg_tcp').out, /can't connect/);
    assert.match(assertFailed(done, 'ports', 'server_nc', ['HTTP/1.1']).out, /can't connect/);
    assertFailed(done, 'ports', 'interfaces');

    // Writes outside /workspace never reach the host.
    assert.equal(existsSync(outside), false, 'a write to a host path appeared on the host');
    assert.equal(existsSync(inData), false, 'a write into the data directory appeared on the host');
    assert.equal(existsSync(path.join(path.dirname(hostWorkspace(execId)), 'escaped.txt')), false);
    assert.equal(existsSync('/etc/hostile-marker'), false);
    assert.equal(existsSync('/etc/hostile-marker-proc'), false);
    assert.equal(nodeOf(done, 'writes').outputs.done, 'yes');

    // Symlinks to host files are neither artifacts nor outputs.
    const paths = await eventually(
      'the workflow-level artifacts collected at release',
      async () => {
        const got = await h.call('GET', `${executionUrl(wf.id, execId)}/artifacts`);
        const items = got.json<{ items: { path: string; nodeId: string | null }[] }>().items;
        return items.some((a) => a.nodeId === null) ? items.map((a) => a.path).sort() : undefined;
      },
      deadlineMs,
    );
    assert.deepEqual(paths, ['leak-fine.txt', 'wf-fine.txt']);
    for (const leak of ['leak-abs.txt', 'leak-rel.txt', 'hostetc/shadow', 'wf-leak.txt']) {
      const got = await h.call('GET', `${executionUrl(wf.id, execId)}/artifacts/${leak}`);
      assert.equal(got.statusCode, 404, `${leak} is served: ${got.body}`);
      assert.ok(!got.body.includes(shadow));
    }
    assert.deepEqual(nodeOf(done, 'output_link').outputs, { exitCode: 0 });
    assert.deepEqual(nodeOf(done, 'output_link_env').outputs, { exitCode: 0 });
    assert.ok(!JSON.stringify(done).includes(hostSecret), 'a host file was read as outputs');
    assert.ok(!JSON.stringify(done).includes(shadow), 'the host shadow appears in the detail');
  });

  it('runtime_config.user runs the nodes as that user: outputs, workspace and no way to root', async () => {
    const shadow = hostShadowLine();
    const wf = await createWorkflow(h, {
      name: `hostile-docker-user-${run}`,
      runtimeConfig: { image: testImage, user: '1000:1000' },
      graph: {
        nodes: [
          {
            id: 'work',
            type: 'command',
            run: [
              prelude,
              'echo "uid=$(id -u):$(id -g)" >> "$SWITCHYARD_OUTPUT"',
              'mkdir -p out && echo made > out/file.txt && echo "file=$(cat out/file.txt)" >> "$SWITCHYARD_OUTPUT"',
              "probe su sh -c 'su -c id root </dev/null'",
              "probe chown sh -c 'touch mine && chown 0:0 mine'",
              "probe shadow sh -c 'cat /etc/shadow'",
            ].join('\n'),
          },
          {
            id: 'next',
            type: 'command',
            needs: ['work'],
            run: 'echo "again=$(cat out/file.txt)" >> "$SWITCHYARD_OUTPUT"',
          },
        ],
      },
    });
    const execId = await start(wf.id);
    const done = await finished(wf.id, execId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.environment?.user, '1000:1000');
    const outputs = nodeOf(done, 'work').outputs;
    assert.equal(outputs.uid, '1000:1000');
    assert.equal(outputs.file, 'made');
    assert.equal(nodeOf(done, 'next').outputs.again, 'made');
    assertFailed(done, 'work', 'su', ['uid=0']);
    assertFailed(done, 'work', 'chown');
    assertFailed(done, 'work', 'shadow', [shadow]);
  });

  it('shared pools are split by user: a workflow never runs in a pool granted to another', async () => {
    const graph = {
      nodes: [{ id: 'who', type: 'command', run: 'echo "uid=$(id -u)" >> "$SWITCHYARD_OUTPUT"' }],
    };
    const plain = await createWorkflow(h, {
      name: `hostile-docker-shared-root-${run}`,
      runtimeConfig: { image: testImage, mode: 'shared', replicas: 1 },
      graph,
    });
    const asUser = await createWorkflow(h, {
      name: `hostile-docker-shared-user-${run}`,
      runtimeConfig: { image: testImage, mode: 'shared', replicas: 1, user: '1000:1000' },
      graph,
    });
    const a = await finished(plain.id, await start(plain.id));
    const b = await finished(asUser.id, await start(asUser.id));
    const c = await finished(plain.id, await start(plain.id));
    for (const d of [a, b, c]) assert.equal(d.status, 'succeeded', JSON.stringify(d));
    assert.equal(nodeOf(a, 'who').outputs.uid, '0');
    assert.equal(nodeOf(b, 'who').outputs.uid, '1000');
    assert.equal(nodeOf(c, 'who').outputs.uid, '0');
    assert.equal(b.environment?.user, '1000:1000');
    assert.equal(c.environment?.user, 'root');
  });

  it('a state directory replaced by a symlink to a host directory does not make the server write there', async () => {
    const target = mkdtempSync(path.join(hostScratch, 'target-'));
    const wf = await createWorkflow(h, {
      name: `hostile-docker-state-link-${run}`,
      runtimeConfig: { image: testImage },
      graph: {
        nodes: [
          {
            id: 'plant',
            type: 'command',
            // Root in the container may replace the server's directory in the workspace.
            run: `mv /workspace/.switchyard /workspace/old-state && ln -s ${target} /workspace/.switchyard`,
          },
          {
            id: 'next',
            type: 'command',
            needs: ['plant'],
            run: 'echo "ok=yes" >> "$SWITCHYARD_OUTPUT"',
          },
        ],
      },
    });
    const execId = await start(wf.id);
    const done = await finished(wf.id, execId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(nodeOf(done, 'next').outputs.ok, 'yes');
    assert.deepEqual(readdirSync(target), [], 'the server created files in a host directory');
  });

  it('cannot read another running execution’s workspace', async () => {
    const secret = `topsecret-${randomBytes(8).toString('hex')}`;
    const holder = await createWorkflow(h, {
      name: `hostile-docker-holder-${run}`,
      runtimeConfig: { image: testImage },
      graph: {
        nodes: [
          {
            id: 'hold',
            type: 'command',
            run: [`echo ${secret} > secret.txt`, 'while [ ! -e release ]; do sleep 0.1; done'].join(
              '\n',
            ),
          },
        ],
      },
    });
    const holderId = await start(holder.id);
    await waitForNode(h, holder.id, holderId, 'hold', ['running'], deadlineMs);
    const holderWs = hostWorkspace(holderId);
    await eventually('the secret on the host', () =>
      existsSync(path.join(holderWs, 'secret.txt')) ? true : undefined,
    );

    const snoop = await createWorkflow(h, {
      name: `hostile-docker-snoop-${run}`,
      runtimeConfig: { image: testImage },
      graph: {
        nodes: [
          {
            id: 'snoop',
            type: 'command',
            run: [
              prelude,
              `probe host_path cat ${path.join(holderWs, 'secret.txt')}`,
              `probe sibling cat /workspace/../${holderId}/secret.txt`,
              "probe siblings sh -c 'ls -A /workspace/.. | grep -q exec_'",
              'probe search sh -c \'test -n "$(find / \\( -path /proc -o -path /sys \\) -prune -o -name secret.txt -print 2>/dev/null)"\'',
              "probe procs sh -c 'cat /proc/*/root/workspace/secret.txt'",
              'echo mine > mine.txt',
              'echo "own=$(cat mine.txt)" >> "$SWITCHYARD_OUTPUT"',
            ].join('\n'),
          },
        ],
      },
    });
    const snoopId = await start(snoop.id);
    const seen = await finished(snoop.id, snoopId);
    assert.equal(seen.status, 'succeeded', JSON.stringify(seen));
    assert.equal(nodeOf(seen, 'snoop').outputs.own, 'mine');
    for (const name of ['host_path', 'sibling', 'siblings', 'search', 'procs']) {
      assertFailed(seen, 'snoop', name, [secret]);
    }
    assert.ok(!JSON.stringify(seen).includes(secret));

    // The holder was running all along, and finishes once released.
    writeFileSync(path.join(holderWs, 'release'), '');
    const held = await finished(holder.id, holderId);
    assert.equal(held.status, 'succeeded', JSON.stringify(held));
  });

  it('asking for the Docker socket fails with ERR_RUNTIME_FORBIDDEN, not retried, no container', async () => {
    const wf = await createWorkflow(h, {
      name: `hostile-docker-socket-${run}`,
      runtimeConfig: { image: testImage, dockerSocket: true },
      graph: {
        nodes: [
          {
            id: 'step',
            type: 'command',
            retry: { maxAttempts: 3, initialInterval: '100ms' },
            run: 'test -S /var/run/docker.sock',
          },
        ],
      },
    });
    const execId = await start(wf.id);
    const done = await finished(wf.id, execId);
    assert.equal(done.status, 'failed', JSON.stringify(done));
    const step = nodeOf(done, 'step');
    assert.equal(step.error.code, 'ERR_RUNTIME_FORBIDDEN', JSON.stringify(step.error));
    assert.match(step.error.message, /allowDockerSocket/);
    assert.equal(step.attempt, 1, 'a refusal is not retried');
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${dockerLabels.execution}=${execId}`] },
    });
    assert.deepEqual(containers, []);
  });

  it('network: host reaches the host’s loopback, as documented (the probes do detect it)', async () => {
    const wf = await createWorkflow(h, {
      name: `hostile-docker-hostnet-${run}`,
      runtimeConfig: { image: testImage, network: 'host' },
      graph: {
        nodes: [
          {
            id: 'reach',
            type: 'command',
            run: [
              prelude,
              `probe server_nc sh -c 'printf "GET /healthz HTTP/1.0\\r\\n\\r\\n" | nc -w 5 127.0.0.1 ${serverPort}'`,
            ].join('\n'),
          },
        ],
      },
    });
    const execId = await start(wf.id);
    const done = await finished(wf.id, execId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    const p = probeOf(done, 'reach', 'server_nc');
    assert.equal(p.rc, 0, p.out);
    assert.match(p.out, /^HTTP\/1\.1 200/);
    assert.match(p.out, /"status":"ok"/);
  });
});
