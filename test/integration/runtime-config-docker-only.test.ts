/**
 * The docker runtime's `runtime_config` fields on the local runtime, through the API: nothing is
 * silently dropped. `user` is listed as unenforced in the environment; `docker_socket` fails the
 * node with ERR_NODE_UNSUPPORTED (not retried), since the local runtime never has a Docker socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

describe('docker-only runtime_config on the local runtime', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('sqlite', { config: { runtime: 'local', localIsolation: 'plain' } });
  });
  after(async () => {
    await h?.close();
  });

  it('lists user as unenforced and still runs the node', async () => {
    const wf = await createWorkflow(h, {
      name: 'local-with-user',
      runtimeConfig: { user: '1000:1000' },
      graph: {
        nodes: [{ id: 'a', type: 'command', run: 'echo "ok=yes" >> "$SWITCHYARD_OUTPUT"' }],
      },
    });
    const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(nodeOf(done, 'a').outputs.ok, 'yes');
    assert.equal(done.environment?.runtime, 'local');
    assert.ok(done.environment?.unenforced.includes('user'), JSON.stringify(done.environment));
  });

  it('fails docker_socket with ERR_NODE_UNSUPPORTED, without retries', async () => {
    const wf = await createWorkflow(h, {
      name: 'local-with-socket',
      runtimeConfig: { dockerSocket: true },
      graph: {
        nodes: [
          {
            id: 'a',
            type: 'command',
            retry: { maxAttempts: 3, initialInterval: '100ms' },
            run: 'true',
          },
        ],
      },
    });
    const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'failed', JSON.stringify(done));
    const a = nodeOf(done, 'a');
    assert.equal(a.error.code, 'ERR_NODE_UNSUPPORTED', JSON.stringify(a.error));
    assert.match(a.error.message, /docker_socket needs the docker runtime/);
    assert.equal(a.attempt, 1);
  });
});
