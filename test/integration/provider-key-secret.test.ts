/**
 * An LLM provider's key from the secret store (issue 14): `llmProviders.<name>.apiKeySecret`
 * names a secret; an `llm` node on that provider sends its value and records the name as used,
 * and without the secret the node fails at start naming it and its provider.
 */
import assert from 'node:assert/strict';
import { startLocalServer } from '../helpers/exec-context.ts';
import {
  createWorkflow,
  executionUrl,
  nodeOf,
  runWorkflow,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

const key = 'sk-provider-key-from-the-store-0123456789';

describe('an LLM provider key from the secret store', () => {
  let h: Harness;
  let web: Awaited<ReturnType<typeof startLocalServer>>;
  const seen: (string | undefined)[] = [];
  before(async () => {
    web = await startLocalServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          choices: [{ message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 2, completion_tokens: 1 },
        }),
      );
    });
    h = await startHarness('sqlite', {
      config: {
        egressAllow: [`127.0.0.1:${new URL(web.url).port}`],
        llmProviders: {
          keyed: { kind: 'openai', baseUrl: `${web.url}/v1`, apiKeySecret: 'KEYED_API_KEY' },
        },
      },
    });
  });
  after(async () => {
    await h?.close();
    await web?.close();
  });

  it('fails the node naming the secret and its provider until the secret is set, then sends it', async () => {
    const wf = await createWorkflow(h, {
      name: 'keyed-llm',
      graph: {
        nodes: [{ id: 'ask', type: 'llm', provider: 'keyed', model: 'm', prompt: 'hello' }],
      },
    });

    const first = await runWorkflow(h, wf.id);
    const failed = await waitForStatus(h, wf.id, first.id, ['failed']);
    const error = nodeOf(failed, 'ask').error;
    assert.equal(error?.code, 'ERR_SECRET_NOT_FOUND');
    assert.match(error?.message ?? '', /KEYED_API_KEY \(the key of provider keyed\)/);
    assert.equal(seen.length, 0, 'no call without a key');

    const put = await h.call('PUT', '/api/v1/secrets/KEYED_API_KEY', { value: key });
    assert.equal(put.statusCode, 201, put.body);
    const second = await runWorkflow(h, wf.id);
    const done = await waitForStatus(h, wf.id, second.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.deepEqual(seen, [`Bearer ${key}`]);
    assert.deepEqual(done.secrets, ['KEYED_API_KEY']);
    const detail = await h.call('GET', executionUrl(wf.id, second.id));
    assert.equal(detail.body.includes(key), false);
  });

  it('a node without provider uses the default one (the only one here) and gets its key', async () => {
    const put = await h.call('PUT', '/api/v1/secrets/KEYED_API_KEY', { value: key });
    assert.ok(put.statusCode === 200 || put.statusCode === 201, put.body);
    const wf = await createWorkflow(h, {
      name: 'default-llm',
      graph: { nodes: [{ id: 'ask', type: 'llm', model: 'm', prompt: 'hello' }] },
    });
    seen.length = 0;
    const run = await runWorkflow(h, wf.id);
    const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.deepEqual(seen, [`Bearer ${key}`]);
    assert.deepEqual(done.secrets, ['KEYED_API_KEY']);
  });
});
