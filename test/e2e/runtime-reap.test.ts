/**
 * Crash leftovers are reaped (DESIGN §6, CONVENTIONS 13): a server that died mid-execution leaves
 * its sandbox container (and, for the local runtime, its cgroups) behind. A real server process
 * started on the same database removes those of its own owner (see databaseOwner) whose
 * execution is not active, and never touches those of another owner (another server or test on
 * the same host and engine).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from '../helpers/suite.ts';
import type Docker from 'dockerode';
import { defaultConfig } from '../../src/config.ts';
import { dockerLabels } from '../../src/runtime/docker/container-config.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { databaseOwner } from '../../src/server.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import { eventually } from '../helpers/eventually.ts';
import { type ServerProcess, startServer } from '../helpers/process.ts';

const token = `sy_${'e'.repeat(40)}`;
const deadlineMs = 30_000;

/** Waits for host state (containers, cgroups): no event reports it. */
function until(what: string, cond: () => boolean | Promise<boolean>): Promise<true> {
  return eventually(what, async () => ((await cond()) ? true : undefined), deadlineMs);
}

async function exists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getContainer(name).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

/** A container as a crashed server leaves it: the idle sandbox of an execution, still running. */
async function leftoverContainer(
  docker: Docker,
  owner: string,
  executionId: string,
): Promise<string> {
  const name = `sy-${executionId}`;
  const container = await docker.createContainer({
    name,
    Image: testImage,
    Entrypoint: ['sleep'],
    Cmd: ['infinity'],
    Labels: {
      [dockerLabels.managed]: owner,
      [dockerLabels.execution]: executionId,
      [dockerLabels.workflow]: 'wf_crashed',
      [dockerLabels.role]: 'sandbox',
    },
    HostConfig: { NetworkMode: 'none', Init: true },
  });
  await container.start();
  return name;
}

const dockerSkip = await dockerAvailable();
const caps = await createLocalRuntime({ dataDir: tmpdir() }).capabilities();

describe('reaping crash leftovers', { skip: dockerSkip, timeout: 120_000 }, () => {
  const docker = testDocker();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-reap-'));
  const suffix = randomBytes(5).toString('hex');
  const owner = databaseOwner({ ...defaultConfig, dataDir, databaseUrl: '' });
  const otherOwner = randomBytes(5).toString('hex');
  const containers: string[] = [];
  const cgroupDirs: string[] = [];
  const children: ChildProcess[] = [];
  let server: ServerProcess | undefined;

  after(async () => {
    await server?.stop();
    for (const name of containers) {
      await docker
        .getContainer(name)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    }
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const dir of cgroupDirs) {
      try {
        rmdirSync(dir);
      } catch {
        // removed by the server, or members still exiting
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('removes its own owner’s leftover container and cgroups, and no one else’s', async () => {
    await ensureTestImage(docker);
    const mine = await leftoverContainer(docker, owner, `exec_crashed${suffix}`);
    containers.push(mine);
    const theirs = await leftoverContainer(docker, otherOwner, `exec_theirs${suffix}`);
    containers.push(theirs);

    // Cgroups of a crashed local sandbox, with a process still inside (pids controller).
    const pidsBase = caps.cgroups?.bases.pids;
    let myCgroup: string | undefined;
    let theirCgroup: string | undefined;
    let inmate: ChildProcess | undefined;
    let inmateExit: Promise<unknown> | undefined;
    if (pidsBase !== undefined) {
      myCgroup = path.join(pidsBase, `${owner}~exec_crashedcg${suffix}~abcd`);
      theirCgroup = path.join(pidsBase, `${otherOwner}~exec_theirscg${suffix}~abcd`);
      for (const dir of [myCgroup, theirCgroup]) {
        mkdirSync(dir);
        cgroupDirs.push(dir);
      }
      inmate = spawn('sleep', ['1000'], { stdio: 'ignore' });
      inmateExit = once(inmate, 'exit');
      children.push(inmate);
      writeFileSync(path.join(myCgroup, 'cgroup.procs'), String(inmate.pid));
    } else {
      process.stderr.write(
        `# not checking cgroup reaping: ${caps.cgroupProblem ?? 'no pids controller'}\n`,
      );
    }

    server = await startServer(['--data-dir', dataDir], {
      SWITCHYARD_ADMIN_TOKEN: token,
      SWITCHYARD_DOCKER_SOCKET: dockerSocket,
      SWITCHYARD_RUNTIME: 'docker',
    });

    await until(`${mine} to be reaped`, async () => !(await exists(docker, mine)));
    if (myCgroup !== undefined) {
      await until('the leftover cgroup to be removed', () => !existsSync(myCgroup));
      await inmateExit;
    }
    // One reaping pass ran: what another owner left is still there.
    assert.equal(await exists(docker, theirs), true, 'another owner’s container stays');
    assert.equal((await docker.getContainer(theirs).inspect()).State.Running, true);
    if (theirCgroup !== undefined) assert.equal(existsSync(theirCgroup), true);

    // The server is up and answers (reaping did not get in its way).
    const res = await fetch(`${server.url}/api/v1/workflows`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
  });
});
