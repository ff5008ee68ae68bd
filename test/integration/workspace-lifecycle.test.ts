/**
 * Workspaces end (docs/runtimes.md "Workspace lifecycle"): a succeeded execution's workspace is
 * removed at release, after its artifacts were collected; a failed one's stays for a retry until
 * its retention ends; the reaper removes what crashed servers left; DELETE frees everything.
 * The same rules hold for the docker runtime, whose container bind-mounts the host workspace
 * (skipped without a Docker engine, except under CI or SWITCHYARD_REQUIRE_DOCKER=1).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dockerLabels } from '../../src/runtime/docker/container-config.ts';
import { dialectNames, freshPlace, skipFor } from '../helpers/dialects.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import { eventually } from '../helpers/eventually.ts';
import {
  awaitEvent,
  createWorkflow,
  executionUrl,
  runAndWait,
  runWorkflow,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, adminToken, composeOn, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

const workspaceOf = (dataDir: string, execId: string) =>
  path.join(path.resolve(dataDir), 'workspaces', execId);

/** Writes a node artifact, a workflow artifact and a scratch file; fails when `fail` is set. */
const writer = (
  name: string,
  opts: { fail?: boolean; retentionHours?: number; runtime?: Record<string, unknown> } = {},
) => ({
  name,
  runtimeConfig: {
    ...opts.runtime,
    artifacts: ['final.txt'],
    ...(opts.retentionHours !== undefined && { retentionHours: opts.retentionHours }),
  },
  graph: {
    nodes: [
      {
        id: 'make',
        type: 'command',
        artifacts: ['out/*.txt'],
        run: 'mkdir -p out && echo report > out/report.txt && echo final > final.txt && echo scratch > scratch.bin',
      },
      {
        id: 'check',
        type: 'command',
        needs: ['make'],
        run: `test -f scratch.bin && ${opts.fail === true ? 'exit 3' : 'true'}`,
      },
    ],
  },
});

for (const dialect of dialectNames) {
  describe(`workspace lifecycle (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      // The periodic reaper is driven by the tests (worker.reapWorkspaces).
      h = await startHarness(dialect, { artifacts: { reapIntervalMs: 0 } });
    });
    after(() => h.close());

    const download = async (wfId: string, execId: string, p: string) => {
      const res = await h.call('GET', `${executionUrl(wfId, execId)}/artifacts/${p}`);
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    };

    it('removes a succeeded execution workspace at release; its artifacts stay downloadable', async () => {
      const wf = await createWorkflow(h, writer('ws-succeeds'));
      const done = await runAndWait(h, wf.id, ['succeeded']);
      const dir = workspaceOf(h.dataDir, done.id);
      await eventually('the workspace to be removed', () => (existsSync(dir) ? undefined : true));
      await awaitEvent(h, done.id, 'artifact.created', (a) => a.path === 'final.txt', {
        pastEnd: true,
      });
      assert.equal((await download(wf.id, done.id, 'out/report.txt')).trim(), 'report');
      assert.equal((await download(wf.id, done.id, 'final.txt')).trim(), 'final');
    });

    it('keeps a failed execution workspace for a retry until its retention ends, then needs fresh', async () => {
      // 0.0005 h = 1.8 s of retention.
      const wf = await createWorkflow(
        h,
        writer('ws-expires', { fail: true, retentionHours: 0.0005 }),
      );
      const failed = await runAndWait(h, wf.id, ['failed']);
      const dir = workspaceOf(h.dataDir, failed.id);
      await awaitEvent(h, failed.id, 'artifact.created', (a) => a.path === 'final.txt', {
        pastEnd: true,
      });
      // Within its retention the reaper keeps it, and a retry finds the files of `make`.
      assert.deepEqual(await h.yard.worker.reapWorkspaces(), []);
      assert.ok(existsSync(path.join(dir, 'scratch.bin')));
      assert.equal((await download(wf.id, failed.id, 'out/report.txt')).trim(), 'report');
      const retried = await h.call('POST', `${executionUrl(wf.id, failed.id)}/retry`, {});
      assert.equal(retried.statusCode, 202, retried.body);
      await waitForStatus(h, wf.id, failed.id, ['failed']);
      assert.ok(existsSync(path.join(dir, 'scratch.bin')), 'the retry ran in the same workspace');

      // After the retention the reaper removes it, and a plain retry is refused.
      const removed = await eventually('the reaper to remove the expired workspace', async () => {
        const gone = await h.yard.worker.reapWorkspaces();
        return gone.length > 0 ? gone : undefined;
      });
      assert.deepEqual(removed, [dir]);
      assert.ok(!existsSync(dir));
      const refused = await h.call('POST', `${executionUrl(wf.id, failed.id)}/retry`, {});
      assert.equal(refused.statusCode, 409, refused.body);
      assert.equal(refused.json<{ code: string }>().code, 'ERR_WORKSPACE_EXPIRED');
      // fresh: every node runs again (`make` recreates what `check` needs).
      const fresh = await h.call('POST', `${executionUrl(wf.id, failed.id)}/retry`, {
        fresh: true,
      });
      assert.equal(fresh.statusCode, 202, fresh.body);
      const again = await waitForStatus(h, wf.id, failed.id, ['failed']);
      const make = again.nodes.find((n) => n.nodeId === 'make');
      assert.equal(make?.attempt, 2, 'make ran again');
      assert.equal(again.nodes.find((n) => n.nodeId === 'check')?.error?.code, 'ERR_NODE_EXIT');
    });

    it('DELETE removes the workspace and the artifact files', async () => {
      const wf = await createWorkflow(h, writer('ws-deleted', { fail: true }));
      const failed = await runAndWait(h, wf.id, ['failed']);
      await awaitEvent(h, failed.id, 'artifact.created', (a) => a.path === 'final.txt', {
        pastEnd: true,
      });
      const dir = workspaceOf(h.dataDir, failed.id);
      // Artifact content: files on SQLite, chunk rows on PostgreSQL (docs/operations.md).
      const stored = async () =>
        dialect === 'sqlite'
          ? existsSync(path.join(path.resolve(h.dataDir), 'artifacts', failed.id))
          : (
              await h.yard.database.db
                .selectFrom('artifact_chunks')
                .select('blob_id')
                .where('execution_id', '=', failed.id)
                .execute()
            ).length > 0;
      assert.ok(existsSync(dir) && (await stored()));
      const res = await h.call('DELETE', executionUrl(wf.id, failed.id));
      assert.equal(res.statusCode, 204, res.body);
      assert.ok(!existsSync(dir), 'the workspace is gone');
      assert.ok(!(await stored()), 'the artifact content is gone');
    });
  });

  describe(`workspace reaper at start (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('removes leftovers of ended and unknown executions, keeps those of running ones', async () => {
      const place = freshPlace(dialect);
      const compose = () =>
        composeOn(place, {
          config: { localIsolation: 'none', runtime: 'local' },
          artifacts: { reapIntervalMs: 0 },
        });
      let yard = await compose();
      try {
        const h = {
          get yard() {
            return yard;
          },
          dataDir: place.dataDir,
          call: (method: string, url: string, body?: unknown) =>
            yard.app.inject({
              method: method as 'GET',
              url,
              headers: { authorization: `Bearer ${adminToken}` },
              ...(body !== undefined && { payload: body as Record<string, unknown> }),
            }),
        } as unknown as Harness;
        const noop = await createWorkflow(h, {
          name: 'ends',
          graph: { nodes: [{ id: 'a', type: 'noop' }] },
        });
        const ended = await runAndWait(h, noop.id, ['succeeded']);
        const gate = await createWorkflow(h, {
          name: 'waits',
          graph: { nodes: [{ id: 'gate', type: 'approval' }] },
        });
        const waiting = await runWorkflow(h, gate.id);
        await waitForStatus(h, gate.id, waiting.id, ['waiting']);
        await yard.close();

        // What a crashed server leaves: workspaces of an ended, a waiting and an unknown
        // execution, and one inside a pool.
        const plant = (...parts: string[]) => {
          const dir = path.join(path.resolve(place.dataDir), 'workspaces', ...parts);
          mkdirSync(dir, { recursive: true });
          writeFileSync(path.join(dir, 'left.txt'), 'x');
          return dir;
        };
        const endedDir = plant(ended.id);
        const waitingDir = plant(waiting.id);
        const unknownDir = plant('exec_unknown');
        const pooledDir = plant('shared-local-0', 'exec_pooled_unknown');
        yard = await compose();
        await eventually('the reaper to remove the leftovers', () =>
          [endedDir, unknownDir, pooledDir].some((d) => existsSync(d)) ? undefined : true,
        );
        assert.ok(existsSync(path.join(waitingDir, 'left.txt')), 'a waiting execution keeps it');
      } finally {
        await yard.close();
        await place.cleanup();
      }
    });
  });
}

const dockerSkip = await dockerAvailable();

describe('workspace lifecycle (docker, sqlite)', { skip: dockerSkip, timeout: 240_000 }, () => {
  let h: Harness;
  const docker = testDocker();
  /** Executions these tests started: their containers must all be gone at the end. */
  const executions: string[] = [];

  before(async () => {
    await ensureTestImage(docker);
    h = await startHarness('sqlite', {
      config: { runtime: 'docker', dockerSocket, killGraceMs: 500 },
      artifacts: { reapIntervalMs: 0 },
    });
  });

  after(async () => {
    await h?.close();
    const left = (await docker.listContainers({ all: true })).filter((c) =>
      executions.includes(c.Labels[dockerLabels.execution] ?? ''),
    );
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true, v: true });
    assert.deepEqual(
      left.map((c) => c.Names[0]),
      [],
      'containers left behind',
    );
  });

  /** Runs the writer on the docker runtime to `status`; its container is gone by then. */
  const runInDocker = async (
    name: string,
    status: 'succeeded' | 'failed',
    opts: { retentionHours?: number; user?: string } = {},
  ) => {
    const wf = await createWorkflow(
      h,
      writer(name, {
        fail: status === 'failed',
        ...(opts.retentionHours !== undefined && { retentionHours: opts.retentionHours }),
        runtime: { image: testImage, ...(opts.user !== undefined && { user: opts.user }) },
      }),
    );
    const run = await runWorkflow(h, wf.id);
    executions.push(run.id);
    const done = await waitForStatus(h, wf.id, run.id, [status]);
    assert.equal(done.environment?.runtime, 'docker', 'it ran in a container');
    await awaitEvent(h, done.id, 'artifact.created', (a) => a.path === 'final.txt', {
      pastEnd: true,
    });
    await eventually(`container sy-${done.id} to be removed`, async () => {
      const named = await docker.listContainers({
        all: true,
        filters: { label: [`${dockerLabels.execution}=${done.id}`] },
      });
      return named.length === 0 ? true : undefined;
    });
    return { wf, done, dir: workspaceOf(h.dataDir, done.id) };
  };

  it('removes a succeeded execution workspace and its container at release', async () => {
    // As the image's root and as another uid (the workspace then belongs to that uid on the host).
    for (const user of [undefined, 'nobody']) {
      const { wf, done, dir } = await runInDocker(`dk-succeeds-${user ?? 'root'}`, 'succeeded', {
        ...(user !== undefined && { user }),
      });
      await eventually('the workspace to be removed', () => (existsSync(dir) ? undefined : true));
      const res = await h.call('GET', `${executionUrl(wf.id, done.id)}/artifacts/final.txt`);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.body.trim(), 'final');
    }
  });

  it('keeps a failed execution workspace until its retention ends; DELETE removes it at once', async () => {
    // 0.0005 h = 1.8 s of retention.
    const expiring = await runInDocker('dk-expires', 'failed', { retentionHours: 0.0005 });
    const kept = await runInDocker('dk-deleted', 'failed');
    for (const { dir } of [expiring, kept]) {
      assert.ok(existsSync(path.join(dir, 'scratch.bin')), `${dir} is kept after the failure`);
      assert.ok(existsSync(path.join(dir, 'out', 'report.txt')));
    }

    // The reaper removes the expired one only, once its retention ended.
    const removed = await eventually('the reaper to remove the expired workspace', async () => {
      const gone = await h.yard.worker.reapWorkspaces();
      return gone.length > 0 ? gone : undefined;
    });
    assert.deepEqual(removed, [expiring.dir]);
    assert.ok(!existsSync(expiring.dir));
    assert.ok(existsSync(path.join(kept.dir, 'scratch.bin')), 'within its retention it stays');

    const res = await h.call('DELETE', executionUrl(kept.wf.id, kept.done.id));
    assert.equal(res.statusCode, 204, res.body);
    assert.ok(!existsSync(kept.dir), 'DELETE removed the workspace');
    const detail = await h.call('GET', executionUrl(kept.wf.id, kept.done.id));
    assert.equal(detail.statusCode, 404, detail.body);
  });
});
