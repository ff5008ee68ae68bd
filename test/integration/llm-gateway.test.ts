/**
 * The LLM gateway and execution tokens (issue 11, point 4): a command node calls the gateway
 * with `curl`, as an agent CLI would — through `$OPENAI_BASE_URL` (the forwarder on the
 * command's own loopback) and through the mounted socket — and the fake provider's usage shows
 * in the node's cost, the execution's cost and `/usage`. The execution token reads its own
 * execution, nothing else unless `runtime_config.permissions` (capped by the starting token)
 * says so, and is refused (401) once the execution ended. Under bubblewrap the server's API port
 * stays unreachable from the sandbox. Traffic stays on loopback and in the sandbox's namespace.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from '../helpers/suite.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import {
  dockerAvailable,
  dockerSocket,
  ensureTestImage,
  testDocker,
  testImage,
} from '../helpers/docker.ts';
import { startLocalServer } from '../helpers/exec-context.ts';
import { type FakeLlm, startFakeLlm } from '../helpers/fake-llm.ts';
import {
  awaitLogs,
  createWorkflow,
  executionUrl,
  nodeOf,
  runAndWait,
  runWorkflow,
  tokenWith,
  waitForStatus,
} from '../helpers/executions.ts';
import { type DialectName, skipFor } from '../helpers/dialects.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { ensureBuilt, yardBin } from '../helpers/build.ts';

const inCi = process.env.CI === 'true';
const caps = await createLocalRuntime({ dataDir: '/tmp' }).capabilities();
const providerKey = 'sk-provider-only-the-server-knows';
process.env.SY_TEST_GATEWAY_KEY = providerKey;

function skipUnless(ok: boolean, why: string): string | false {
  if (ok) return false;
  if (inCi) throw new Error(`${why}; CI requires it`);
  process.stderr.write(`# skipping: ${why}\n`);
  return why;
}

// Execution tokens are stored rows: the sandbox-less mode runs on both dialects.
const modes: {
  name: string;
  localIsolation: string;
  dialect: DialectName;
  skip: string | false;
}[] = [
  { name: 'no sandbox (development)', localIsolation: 'none', dialect: 'sqlite', skip: false },
  {
    name: 'no sandbox (development), PostgreSQL',
    localIsolation: 'none',
    dialect: 'postgres',
    skip: await skipFor('postgres'),
  },
  {
    name: 'bubblewrap, network none',
    localIsolation: 'bwrap',
    dialect: 'sqlite',
    skip: skipUnless(caps.bwrap !== undefined, caps.bwrapProblem ?? 'no bwrap'),
  },
  {
    name: 'plain as root (namespaces), network none',
    localIsolation: 'plain',
    dialect: 'sqlite',
    skip: skipUnless(
      caps.unshare !== undefined && process.getuid?.() === 0,
      caps.unshareProblem ?? 'plain mode has namespaces only as root',
    ),
  },
];

/** curl's status code of a call, as `name=<code>` in the outputs. */
const status = (name: string, args: string) =>
  `echo "${name}=$(curl -s -o /dev/null -w '%{http_code}' ${args})" >> "$SWITCHYARD_OUTPUT"`;

ensureBuilt();

const chatBody = `'{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}'`;

for (const mode of modes) {
  describe(`LLM gateway (${mode.name})`, { skip: mode.skip, timeout: 120_000 }, () => {
    let h: Harness;
    let fake: FakeLlm;
    let apiPort = 0;

    before(async () => {
      fake = await startFakeLlm();
      h = await startHarness(mode.dialect, {
        config: {
          localIsolation: mode.localIsolation,
          runtime: 'local',
          cpuSecondPriceUsd: 0,
          modelPrices: {
            'gpt-test': { prompt: 1000, completion: 2000 },
            'claude-test': { prompt: 1000, completion: 1000 },
          },
          llmProviders: {
            fake: {
              kind: 'openai',
              baseUrl: fake.providers.openai.baseUrl,
              apiKeyEnv: 'SY_TEST_GATEWAY_KEY',
            },
            claude: {
              kind: 'anthropic',
              baseUrl: fake.providers.anthropic.baseUrl,
              apiKeyEnv: 'SY_TEST_GATEWAY_KEY',
            },
          },
        },
      });
      await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
      apiPort = (h.yard.app.server.address() as AddressInfo).port;
    });
    after(async () => {
      await h?.close();
      await fake?.close();
    });

    it('bills the tokens of a curl through $OPENAI_BASE_URL and the socket to the node, then refuses the token', async () => {
      fake.script([
        { text: 'one', usage: { prompt: 120, completion: 30 } },
        { text: 'two', usage: { prompt: 7, completion: 3 } },
        { text: 'three', usage: { prompt: 50, completion: 10 } },
      ]);
      const own = `/api/v1/workflows/$SWITCHYARD_WORKFLOW_ID/executions/$SWITCHYARD_EXECUTION_ID`;
      const run = [
        // As an OpenAI SDK would: the base URL and the key from the environment.
        `curl -sS -f -H "Authorization: Bearer $OPENAI_API_KEY" -H 'content-type: application/json' -d ${chatBody} "$OPENAI_BASE_URL/chat/completions" > first.json`,
        `echo "first=$(tr -d '\\n ' < first.json | grep -o '"content":"one"')" >> "$SWITCHYARD_OUTPUT"`,
        // As Anthropic's key header, straight on the socket.
        `curl -sS -f --unix-socket "$SWITCHYARD_GATEWAY_SOCKET" -H "x-api-key: $SWITCHYARD_TOKEN" -H 'content-type: application/json' -d ${chatBody} http://gateway/api/v1/llm/v1/chat/completions > /dev/null`,
        // As the Anthropic SDK would: ANTHROPIC_BASE_URL + /v1/messages, the key as x-api-key.
        `curl -sS -f -H "x-api-key: $ANTHROPIC_API_KEY" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' -d '{"model":"claude-test","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}' "$ANTHROPIC_BASE_URL/v1/messages" > /dev/null`,
        status('ownExecution', `-H "Authorization: Bearer $SWITCHYARD_TOKEN" "$YARD_URL${own}"`),
        status(
          'otherExecution',
          `-H "Authorization: Bearer $SWITCHYARD_TOKEN" "$YARD_URL/api/v1/workflows/$SWITCHYARD_WORKFLOW_ID/executions/exec_00000000000000000000000000"`,
        ),
        // The socket serves nothing else, whatever the token.
        status(
          'socketWorkflows',
          `-H "Authorization: Bearer $SWITCHYARD_TOKEN" "$YARD_URL/api/v1/workflows"`,
        ),
        `echo "providerKeySeen=$(env | grep -c ${providerKey} || true)" >> "$SWITCHYARD_OUTPUT"`,
        // `yard` reads its own execution with YARD_URL and YARD_TOKEN (the checkout is only
        // visible without a sandbox).
        ...(mode.localIsolation === 'none'
          ? [
              `echo "yard=$(${process.execPath} ${yardBin} executions get "$SWITCHYARD_EXECUTION_ID" --json | grep -o '"status": *"running"' | head -n 1)" >> "$SWITCHYARD_OUTPUT"`,
            ]
          : []),
        `echo "token=$SWITCHYARD_TOKEN" >> "$SWITCHYARD_OUTPUT"`,
        // The server's API port, from the command's network.
        `echo "apiPort=$(curl -s -m 3 -o /dev/null -w '%{http_code}' http://127.0.0.1:${apiPort}/healthz || true)" >> "$SWITCHYARD_OUTPUT"`,
      ].join('\n');
      const wf = await createWorkflow(h, {
        name: `gateway-${mode.localIsolation}`,
        runtimeConfig: { network: 'none' },
        graph: { nodes: [{ id: 'agent', type: 'command', run }] },
      });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      const node = nodeOf(done, 'agent');
      assert.equal(done.status, 'succeeded', JSON.stringify(node.error));
      const out = node.outputs as Record<string, string>;
      assert.equal(out.first, '"content":"one"');
      assert.equal(out.ownExecution, '200');
      assert.equal(out.otherExecution, '403');
      assert.equal(out.socketWorkflows, '404');
      assert.equal(out.providerKeySeen, '0');
      if (mode.localIsolation === 'none') assert.match(out.yard ?? '', /"status": *"running"/);
      if (mode.localIsolation === 'none')
        assert.equal(out.apiPort, '200', 'without a sandbox the API port answers');
      else assert.equal(out.apiPort, '000', 'the sandbox reached the API port');

      // The provider got its own key, never the execution token.
      assert.deepEqual(
        fake.requests.map((r) => [r.path, r.headers.authorization ?? r.headers['x-api-key']]),
        [
          ['/v1/chat/completions', `Bearer ${providerKey}`],
          ['/v1/chat/completions', `Bearer ${providerKey}`],
          ['/v1/messages', providerKey],
        ],
      );

      // gpt-test: 127 prompt and 33 completion tokens at 1000/2000 USD per 1M (0.193);
      // claude-test: 50 and 10 at 1000/1000 (0.06). Each model at its own price.
      const tokens = { prompt: 177, completion: 43 };
      assert.deepEqual(node.cost.tokens, tokens);
      assert.equal(node.cost.estimatedUsd, 0.253);
      assert.deepEqual(done.cost.tokens, tokens);
      assert.equal(done.cost.estimatedUsd, 0.253);
      const usage = await h.call('GET', `/api/v1/workflows/${wf.id}/usage`);
      assert.equal(usage.statusCode, 200, usage.body);
      assert.deepEqual(usage.json().total.tokens, tokens);
      assert.equal(usage.json().total.estimatedUsd, 0.253);

      // The execution ended: its token is refused, on the API and on the gateway.
      const token = out.token!;
      assert.match(token, /^sye_[0-9a-f]{40}$/);
      const read = await h.call('GET', executionUrl(wf.id, done.id), undefined, { token });
      assert.equal(read.statusCode, 401, read.body);
      assert.equal(read.json().code, 'ERR_AUTH_TOKEN_ENDED');
      const call = await h.call(
        'POST',
        '/api/v1/llm/v1/chat/completions',
        { model: 'gpt-test', messages: [] },
        { token },
      );
      assert.equal(call.statusCode, 401, call.body);
      assert.equal(call.json().code, 'ERR_AUTH_TOKEN_ENDED');
      assert.equal(fake.requests.length, 3, 'nothing more reached the provider');

      // Deleting the execution deletes its tokens: the secret is then unknown.
      const deleted = await h.call('DELETE', executionUrl(wf.id, done.id));
      assert.equal(deleted.statusCode, 204, deleted.body);
      const gone = await h.call('GET', executionUrl(wf.id, done.id), undefined, { token });
      assert.equal(gone.statusCode, 401, gone.body);
      assert.equal(gone.json().code, 'ERR_AUTH_INVALID');
    });

    it('refuses an *.admin permission in runtime_config when saved', async () => {
      const res = await h.call('POST', '/api/v1/workflows', {
        name: 'perms-admin',
        runtimeConfig: { permissions: ['workflows.read', 'tokens.admin'] },
        graph: { nodes: [{ id: 'c', type: 'command', run: 'true' }] },
      });
      assert.equal(res.statusCode, 422, res.body);
      assert.match(JSON.stringify(res.json().details), /runtimeConfig\.permissions/);
    });

    it('refuses API tokens on the gateway and execution tokens elsewhere', async () => {
      const admin = await h.call('POST', '/api/v1/llm/v1/chat/completions', {
        model: 'gpt-test',
        messages: [],
      });
      assert.equal(admin.statusCode, 403, admin.body);
      assert.equal(admin.json().code, 'ERR_AUTH_FORBIDDEN');
      const none = await h.call(
        'POST',
        '/api/v1/llm/v1/chat/completions',
        { model: 'gpt-test' },
        { token: null },
      );
      assert.equal(none.statusCode, 401, none.body);
    });

    // Through the API port, which only a command without a sandbox reaches.
    if (mode.localIsolation === 'none')
      it('grants runtime_config.permissions capped by the starting token, never more', async () => {
        const api = `http://127.0.0.1:${apiPort}/api/v1/workflows`;
        const auth = `-H "Authorization: Bearer $SWITCHYARD_TOKEN"`;
        const run = [
          status('list', `${auth} ${api}`),
          status('create', `${auth} -H 'content-type: application/json' -d '{}' ${api}`),
        ].join('\n');
        const plain = await createWorkflow(h, {
          name: 'perms-none',
          graph: { nodes: [{ id: 'c', type: 'command', run }] },
        });
        const granted = await createWorkflow(h, {
          name: 'perms-granted',
          runtimeConfig: { permissions: ['workflows.read', 'workflows.create'] },
          graph: { nodes: [{ id: 'c', type: 'command', run }] },
        });
        const a = await runAndWait(h, plain.id, ['succeeded', 'failed']);
        assert.deepEqual(
          [nodeOf(a, 'c').outputs.list, nodeOf(a, 'c').outputs.create],
          ['403', '403'],
        );
        // Started by a token that may read and run but not create: create stays refused.
        const runner = await tokenWith(h, 'runner', ['workflows.read', 'workflows.run']);
        const res = await h.call(
          'POST',
          `/api/v1/workflows/${granted.id}/run`,
          {},
          { token: runner },
        );
        assert.equal(res.statusCode, 202, res.body);
        const b = await waitForStatus(h, granted.id, res.json().id as string, [
          'succeeded',
          'failed',
        ]);
        assert.deepEqual(
          [nodeOf(b, 'c').outputs.list, nodeOf(b, 'c').outputs.create],
          ['200', '403'],
        );
        // Started by the admin: create is granted too (a body that fails validation, not auth).
        const c = await runAndWait(h, granted.id, ['succeeded', 'failed']);
        assert.deepEqual(
          [nodeOf(c, 'c').outputs.list, nodeOf(c, 'c').outputs.create],
          ['200', '400'],
        );
      });
  });
}

describe('LLM gateway, streamed answers', { timeout: 120_000 }, () => {
  let h: Harness;
  let provider: { url: string; close(): Promise<void> };
  const bodies: Record<string, unknown>[] = [];
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

  before(async () => {
    // A provider that streams: OpenAI's first chunk, then (once the test saw it arrive in the
    // command's log) the rest with the usage; Anthropic's events in one go.
    provider = await startLocalServer((req, res, raw) => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (req.url === '/v1/chat/completions') {
        res.write(sse({ choices: [{ index: 0, delta: { content: 'first-chunk' } }] }));
        void released.then(() => {
          res.write(sse({ choices: [{ index: 0, delta: { content: '!' } }] }));
          res.write(sse({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 4 } }));
          res.end('data: [DONE]\n\n');
        });
        return;
      }
      res.write(
        `event: message_start\n${sse({ type: 'message_start', message: { usage: { input_tokens: 20, output_tokens: 1 } } })}`,
      );
      res.write(
        `event: content_block_delta\n${sse({ type: 'content_block_delta', delta: { type: 'text_delta', text: 'hi' } })}`,
      );
      res.write(
        `event: message_delta\n${sse({ type: 'message_delta', usage: { output_tokens: 6 } })}`,
      );
      res.end(`event: message_stop\n${sse({ type: 'message_stop' })}`);
    });
    h = await startHarness('sqlite', {
      config: {
        cpuSecondPriceUsd: 0,
        modelPrices: {
          'gpt-stream': { prompt: 1000, completion: 1000 },
          'claude-stream': { prompt: 1000, completion: 1000 },
        },
        llmProviders: {
          gpt: { kind: 'openai', baseUrl: `${provider.url}/v1`, models: ['gpt-stream'] },
          other: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1' },
          claude: { kind: 'anthropic', baseUrl: provider.url },
        },
      },
    });
  });
  after(async () => {
    release();
    await h?.close();
    await provider?.close();
  });

  it('passes chunks through as they arrive and bills the usage of the last chunk and events', async () => {
    const run = [
      // Printed line by line as curl receives them (-N: no buffering).
      `curl -sS -N -f "$OPENAI_BASE_URL/chat/completions" -H "Authorization: Bearer $OPENAI_API_KEY" -H 'content-type: application/json' -d '{"model":"gpt-stream","stream":true,"messages":[]}'`,
      `curl -sS -N -f "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -d '{"model":"claude-stream","stream":true,"max_tokens":9,"messages":[]}'`,
    ].join('\n');
    const wf = await createWorkflow(h, {
      name: 'gateway-stream',
      graph: { nodes: [{ id: 'agent', type: 'command', run }] },
    });
    const started = await runWorkflow(h, wf.id);
    // The first chunk reaches the command while the provider still holds the rest.
    await awaitLogs(h, started.id, 'the first chunk', (lines) =>
      lines.some((l) => l.text.includes('first-chunk')),
    );
    release();
    const done = await waitForStatus(h, wf.id, started.id, ['succeeded', 'failed']);
    const node = nodeOf(done, 'agent');
    assert.equal(done.status, 'succeeded', JSON.stringify(node.error));
    // The gateway asked for the streamed usage; the models list chose `gpt` over `other`.
    assert.deepEqual(bodies[0]?.stream_options, { include_usage: true });
    assert.equal(bodies.length, 2);
    // 11+4 (OpenAI's last chunk) and 20+6 (message_start, last message_delta), at $1000 per 1M.
    assert.deepEqual(node.cost.tokens, { prompt: 31, completion: 10 });
    assert.equal(node.cost.estimatedUsd, 0.041);
  });

  it('answers 400 when no provider serves the model, 502 when the provider is down', async () => {
    const wf = await createWorkflow(h, {
      name: 'gateway-unknown-model',
      graph: {
        nodes: [
          {
            id: 'agent',
            type: 'command',
            run: [
              `curl -s "$OPENAI_BASE_URL/chat/completions" -H "Authorization: Bearer $OPENAI_API_KEY" -H 'content-type: application/json' -d '{"model":"nope","messages":[]}' > answer.json`,
              `echo "code=$(grep -o '"code":"[A-Z_]*"' answer.json)" >> "$SWITCHYARD_OUTPUT"`,
              // The header names the provider whose port nothing listens on.
              `curl -s -w '%{http_code}' "$OPENAI_BASE_URL/chat/completions" -H 'x-switchyard-provider: other' -H "Authorization: Bearer $OPENAI_API_KEY" -H 'content-type: application/json' -d '{"model":"nope","messages":[]}' > down.txt`,
              `echo "down=$(grep -o '"code":"[A-Z_]*"' down.txt) $(tail -c 3 down.txt)" >> "$SWITCHYARD_OUTPUT"`,
            ].join('\n'),
          },
        ],
      },
    });
    const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
    assert.equal(nodeOf(done, 'agent').outputs.code, '"code":"ERR_GATEWAY_PROVIDER"');
    assert.equal(nodeOf(done, 'agent').outputs.down, '"code":"ERR_GATEWAY_UPSTREAM" 502');
    assert.deepEqual(nodeOf(done, 'agent').cost.tokens, { prompt: 0, completion: 0 });
  });
});

// The test image is busybox: `wget` is the agent CLI here.
describe(
  'LLM gateway (docker, network none)',
  { skip: await dockerAvailable(), timeout: 300_000 },
  () => {
    let h: Harness;
    let fake: FakeLlm;
    let apiPort = 0;

    before(async () => {
      const docker = testDocker();
      await ensureTestImage(docker);
      // A second tag of the test image stands in for a node's own (sidecar) image.
      await docker.getImage(testImage).tag({ repo: 'switchyard-test', tag: 'sidecar' });
      fake = await startFakeLlm();
      h = await startHarness('sqlite', {
        config: {
          runtime: 'docker',
          dockerSocket,
          killGraceMs: 500,
          cpuSecondPriceUsd: 0,
          modelPrices: { 'gpt-test': { prompt: 1000, completion: 2000 } },
          llmProviders: {
            fake: {
              kind: 'openai',
              baseUrl: fake.providers.openai.baseUrl,
              apiKeyEnv: 'SY_TEST_GATEWAY_KEY',
            },
          },
        },
      });
      await h.yard.app.listen({ port: 0, host: '127.0.0.1' });
      apiPort = (h.yard.app.server.address() as AddressInfo).port;
    });
    after(async () => {
      await h?.close();
      await fake?.close();
    });

    it('bills a wget through $OPENAI_BASE_URL to the node; the socket is mounted; the API port is not reachable', async () => {
      fake.script([{ text: 'one', usage: { prompt: 120, completion: 30 } }]);
      const own = `/api/v1/workflows/$SWITCHYARD_WORKFLOW_ID/executions/$SWITCHYARD_EXECUTION_ID`;
      const get = (name: string, url: string) =>
        `timeout 5 wget -q -O /dev/null --header "Authorization: Bearer $SWITCHYARD_TOKEN" "${url}" && echo "${name}=ok" >> "$SWITCHYARD_OUTPUT" || echo "${name}=refused" >> "$SWITCHYARD_OUTPUT"`;
      const run = [
        `wget -q -O first.json --header "Authorization: Bearer $OPENAI_API_KEY" --header 'content-type: application/json' --post-data ${chatBody} "$OPENAI_BASE_URL/chat/completions"`,
        `echo "first=$(tr -d '\\n ' < first.json | grep -o '"content":"one"')" >> "$SWITCHYARD_OUTPUT"`,
        `[ -S "$SWITCHYARD_GATEWAY_SOCKET" ] && echo socket=yes >> "$SWITCHYARD_OUTPUT"`,
        get('ownExecution', `$YARD_URL${own}`),
        get(
          'otherExecution',
          `$YARD_URL/api/v1/workflows/$SWITCHYARD_WORKFLOW_ID/executions/exec_00000000000000000000000000`,
        ),
        get('apiPort', `http://127.0.0.1:${apiPort}/healthz`),
        `echo "token=$SWITCHYARD_TOKEN" >> "$SWITCHYARD_OUTPUT"`,
      ].join('\n');
      const wf = await createWorkflow(h, {
        name: 'gateway-docker',
        runtimeConfig: { runtime: 'docker', image: testImage, network: 'none' },
        graph: {
          nodes: [
            { id: 'agent', type: 'command', run },
            // A sidecar has no way to the gateway yet: no token an SDK could send elsewhere.
            {
              id: 'sidecar',
              type: 'command',
              image: 'switchyard-test:sidecar',
              run: 'echo "keys=${OPENAI_API_KEY:-none}/${SWITCHYARD_TOKEN:-none}" >> "$SWITCHYARD_OUTPUT"',
            },
          ],
        },
      });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      const node = nodeOf(done, 'agent');
      assert.equal(done.status, 'succeeded', JSON.stringify(node.error));
      assert.equal(nodeOf(done, 'sidecar').outputs.keys, 'none/none');
      const out = node.outputs as Record<string, string>;
      assert.equal(out.first, '"content":"one"');
      assert.equal(out.socket, 'yes');
      assert.equal(out.ownExecution, 'ok');
      assert.equal(out.otherExecution, 'refused');
      assert.equal(out.apiPort, 'refused');
      assert.equal(fake.requests[0]?.headers.authorization, `Bearer ${providerKey}`);
      assert.deepEqual(node.cost.tokens, { prompt: 120, completion: 30 });
      assert.equal(node.cost.estimatedUsd, 0.18);
      assert.deepEqual(done.cost.tokens, { prompt: 120, completion: 30 });
      const read = await h.call('GET', executionUrl(wf.id, done.id), undefined, {
        token: out.token!,
      });
      assert.equal(read.statusCode, 401, read.body);
      assert.equal(read.json().code, 'ERR_AUTH_TOKEN_ENDED');
    });
  },
);
