import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { parse as parseYaml } from 'yaml';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const graphWithNeeds = {
  nodes: [
    { id: 'checkout', type: 'command', run: 'git clone "$REPO" .' },
    {
      id: 'test',
      type: 'command',
      run: 'go test ./...',
      needs: ['checkout'],
      retry: { maxAttempts: 3, backoff: 'exponential', initialInterval: '2s' },
    },
  ],
};

const createBody = {
  name: 'deploy-staging',
  description: 'Deploy main to staging on every merge',
  type: 'ci',
  graph: graphWithNeeds,
  variables: { ENV: 'staging' },
  runtimeConfig: { image: 'dev-go' },
  triggerConfig: [{ type: 'event', event: 'pr.merged', branches: ['main'] }],
};

for (const dialect of dialectNames) {
  describe(`workflows API (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(dialect);
    });
    after(async () => {
      await h?.close();
    });

    it('refuses a typo of a node id in an expression with its path (issue 21)', async () => {
      const graph = {
        nodes: [
          { id: 'build', type: 'command', run: 'make' },
          {
            id: 'ship',
            type: 'command',
            run: 'echo ${{ nodes.bild.outputs.x }}',
            needs: ['build'],
          },
        ],
      };
      const res = await h.call('POST', '/api/v1/workflows', { name: 'typo', graph });
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json().code, 'ERR_WORKFLOW_INVALID');
      assert.deepEqual(res.json().details, [
        {
          path: 'graph.nodes[1].run',
          message: "in 'nodes.bild.outputs.x': unknown node 'bild' (top-level nodes: build, ship)",
        },
      ]);
    });

    it('refuses an llm node whose provider this server does not configure', async () => {
      const graph = {
        nodes: [{ id: 'ask', type: 'llm', provider: 'openai', model: 'm', prompt: 'hi' }],
      };
      const res = await h.call('POST', '/api/v1/workflows', { name: 'ask', graph });
      assert.equal(res.statusCode, 422, res.body);
      assert.deepEqual(res.json().details, [
        {
          path: 'graph.nodes[0].provider',
          message:
            "unknown LLM provider 'openai' on this server (none are configured; set llmProviders or SWITCHYARD_LLM_PROVIDERS)",
        },
      ]);
      const yaml =
        'name: ask\nnodes:\n  - { id: ask, type: llm, provider: openai, model: m, prompt: hi }\n';
      for (const url of ['/api/v1/workflows/validate', '/api/v1/workflows/import']) {
        const r = await h.call('POST', url, yaml, {
          headers: { 'content-type': 'application/yaml' },
        });
        assert.equal(r.statusCode, 422, `${url}: ${r.body}`);
        assert.equal(r.json().details[0].path, 'nodes[0].provider');
      }
    });

    it('creates a workflow as version 1 draft in the seed read shape', async () => {
      const res = await h.call('POST', '/api/v1/workflows', createBody);
      assert.equal(res.statusCode, 201, res.body);
      const wf = res.json();
      assert.match(wf.id, /^wf_[0-9a-z]{26}$/);
      assert.equal(res.headers.location, `/api/v1/workflows/${wf.id}`);
      assert.deepEqual(Object.keys(wf).sort(), [
        'activeVersion',
        'createdAt',
        'createdBy',
        'description',
        'graph',
        'id',
        'name',
        'runtimeConfig',
        'status',
        'triggerConfig',
        'type',
        'updatedAt',
        'variables',
        'version',
        'warnings',
      ]);
      // A save says what it allowed but is worth knowing; nothing here.
      assert.deepEqual(wf.warnings, []);
      assert.equal(wf.status, 'draft');
      assert.equal(wf.version, 1);
      assert.equal(wf.activeVersion, null);
      assert.equal(wf.type, 'ci');
      assert.equal(wf.createdBy, 'admin');
      assert.deepEqual(wf.variables, { ENV: 'staging' });
      assert.deepEqual(wf.runtimeConfig, {
        mode: 'per_execution',
        cpu: '2',
        memory: '1Gi',
        network: 'outbound',
        retentionHours: 24,
        image: 'dev-go',
      });
      assert.deepEqual(wf.triggerConfig, createBody.triggerConfig);
      // `needs` is sugar: the stored graph carries edges.
      assert.deepEqual(wf.graph.edges, [{ from: 'checkout', to: 'test' }]);
      assert.equal(wf.graph.nodes[1].needs, undefined);
      assert.ok(!Number.isNaN(Date.parse(wf.createdAt)));

      const got = await h.call('GET', `/api/v1/workflows/${wf.id}`);
      assert.equal(got.statusCode, 200);
      const { warnings: _saved, ...read } = wf as Record<string, unknown>;
      assert.deepEqual(got.json(), read);
    });

    it('applies type defaults to runtimeConfig', async () => {
      for (const [type, expected] of [
        ['agent', { mode: 'per_execution', cpu: '2', memory: '2Gi', network: 'outbound' }],
        ['chat', { mode: 'shared', cpu: '1', memory: '512Mi', network: 'none' }],
        ['automation', { mode: 'per_execution', cpu: '1', memory: '512Mi', network: 'none' }],
      ] as const) {
        const res = await h.call('POST', '/api/v1/workflows', { name: `defaults-${type}`, type });
        assert.equal(res.statusCode, 201, res.body);
        assert.deepEqual(res.json().runtimeConfig, { ...expected, retentionHours: 24 });
      }
      const plain = await h.call('POST', '/api/v1/workflows', { name: 'no-type' });
      assert.equal(plain.json().type, 'automation');
      assert.deepEqual(plain.json().graph, { nodes: [], edges: [] });
    });

    it('refuses a second live workflow with the same name', async () => {
      const res = await h.call('POST', '/api/v1/workflows', { name: 'deploy-staging' });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'ERR_WORKFLOW_NAME_TAKEN');
    });

    it('walks the version lifecycle: patch, publish, promote, restore', async () => {
      const wf = (
        await h.call('POST', '/api/v1/workflows', { ...createBody, name: 'lifecycle' })
      ).json();
      const url = `/api/v1/workflows/${wf.id}`;

      // Metadata only: no new version.
      let res = await h.call('PATCH', url, {
        description: 'changed',
        runtimeConfig: { image: 'dev-node', memory: '2Gi' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().version, 1);
      assert.equal(res.json().description, 'changed');
      assert.equal(res.json().runtimeConfig.memory, '2Gi');
      assert.equal(res.json().runtimeConfig.image, 'dev-node');

      // The same graph again: still no new version.
      res = await h.call('PATCH', url, { graph: graphWithNeeds });
      assert.equal(res.json().version, 1);

      // Publishing with a draft works; again without one is 409.
      res = await h.call('POST', `${url}/publish`);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().status, 'published');
      assert.equal(res.json().activeVersion, 1);
      res = await h.call('POST', `${url}/publish`);
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'ERR_WORKFLOW_NO_DRAFT');

      // A graph change appends draft version 2; the read shape keeps showing the active version.
      const v2graph = { nodes: [{ id: 'only', type: 'noop' }], edges: [] };
      res = await h.call('PATCH', url, { graph: v2graph, variables: { ENV: 'prod' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().version, 2);
      assert.equal(res.json().activeVersion, 1);
      assert.deepEqual(res.json().variables, { ENV: 'staging' });

      // Promote a draft: 409. Promote a missing version: 404.
      res = await h.call('POST', `${url}/promote`, { version: 2 });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'ERR_VERSION_NOT_PUBLISHED');
      res = await h.call('POST', `${url}/promote`, { version: 99 });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().code, 'ERR_VERSION_NOT_FOUND');

      res = await h.call('POST', `${url}/publish`);
      assert.equal(res.json().activeVersion, 2);
      assert.deepEqual(res.json().graph, v2graph);
      assert.deepEqual(res.json().variables, { ENV: 'prod' });

      // Roll back to 1.
      res = await h.call('POST', `${url}/promote`, { version: 1 });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().activeVersion, 1);
      assert.equal(res.json().graph.nodes.length, 2);

      // Restore 2 as a new draft 3.
      res = await h.call('POST', `${url}/versions/2/restore`);
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().version, 3);
      assert.equal(res.json().status, 'draft');
      assert.equal(res.json().restoredFrom, 2);
      assert.deepEqual(res.json().graph, v2graph);
      res = await h.call('POST', `${url}/versions/42/restore`);
      assert.equal(res.statusCode, 404);

      res = await h.call('GET', `${url}/versions`);
      assert.equal(res.statusCode, 200);
      const items = res.json().items as {
        version: number;
        status: string;
        active: boolean;
        nodeCount: number;
      }[];
      assert.deepEqual(
        items.map((v) => [v.version, v.status, v.active, v.nodeCount]),
        [
          [3, 'draft', false, 1],
          [2, 'published', false, 1],
          [1, 'published', true, 2],
        ],
      );
      res = await h.call('GET', `${url}/versions/2`);
      assert.equal(res.statusCode, 200);
      assert.ok(res.json().publishedAt);
      assert.deepEqual(res.json().graph, v2graph);
      res = await h.call('GET', `${url}/versions/7`);
      assert.equal(res.statusCode, 404);
      res = await h.call('GET', `${url}/versions/abc`);
      assert.equal(res.statusCode, 400);
    });

    it('exports YAML and re-imports an equal workflow', async () => {
      const wf = (
        await h.call('POST', '/api/v1/workflows', { ...createBody, name: 'roundtrip' })
      ).json();
      const res = await h.call('GET', `/api/v1/workflows/${wf.id}/export`);
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^application\/yaml/);
      const doc = parseYaml(res.body);
      assert.equal(doc.name, 'roundtrip');
      assert.deepEqual(doc.runtime_config, { image: 'dev-go' });
      assert.deepEqual(doc.nodes[1].needs, ['checkout']);
      assert.equal(doc.nodes[1].retry.max_attempts, 3);

      // Same name while the original lives: 409; after deleting it the import creates a new workflow.
      let imp = await h.call('POST', '/api/v1/workflows/import', res.body, {
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(imp.statusCode, 409);
      assert.equal((await h.call('DELETE', `/api/v1/workflows/${wf.id}`)).statusCode, 204);
      imp = await h.call('POST', '/api/v1/workflows/import', res.body, {
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(imp.statusCode, 201, imp.body);
      const copy = imp.json();
      assert.notEqual(copy.id, wf.id);
      assert.equal(copy.version, 1);
      assert.equal(copy.status, 'draft');
      for (const k of [
        'name',
        'description',
        'type',
        'graph',
        'variables',
        'runtimeConfig',
        'triggerConfig',
      ]) {
        assert.deepEqual(copy[k], wf[k], k);
      }
      // JSON to the import route is the wrong media type.
      const wrong = await h.call('POST', '/api/v1/workflows/import', { name: 'x' });
      assert.equal(wrong.statusCode, 415);
      // YAML to a JSON route likewise.
      const wrong2 = await h.call('POST', '/api/v1/workflows', 'name: x', {
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(wrong2.statusCode, 415);
    });

    it('soft-deletes: archived workflows leave the list and refuse changes', async () => {
      const wf = (
        await h.call('POST', '/api/v1/workflows', { ...createBody, name: 'doomed' })
      ).json();
      const url = `/api/v1/workflows/${wf.id}`;
      assert.equal((await h.call('DELETE', url)).statusCode, 204);
      assert.equal((await h.call('DELETE', url)).statusCode, 204);
      const got = (await h.call('GET', url)).json();
      assert.equal(got.status, 'archived');
      const versions = (await h.call('GET', `${url}/versions`)).json().items;
      assert.ok(versions.every((v: { status: string }) => v.status === 'archived'));
      for (const [method, path, body] of [
        ['PATCH', url, { description: 'x' }],
        ['POST', `${url}/publish`, undefined],
        ['POST', `${url}/promote`, { version: 1 }],
        ['POST', `${url}/versions/1/restore`, undefined],
      ] as const) {
        const res = await h.call(method, path, body);
        assert.equal(res.statusCode, 409, `${method} ${path}`);
        assert.equal(res.json().code, 'ERR_WORKFLOW_ARCHIVED');
        assert.equal(res.json().context.status, 'archived');
      }
      const list = (await h.call('GET', '/api/v1/workflows?limit=200')).json();
      assert.ok(!list.items.some((w: { id: string }) => w.id === wf.id));
      const all = (await h.call('GET', '/api/v1/workflows?includeArchived=true&limit=200')).json();
      assert.ok(all.items.some((w: { id: string }) => w.id === wf.id));
      const archived = (await h.call('GET', '/api/v1/workflows?status=archived')).json();
      assert.ok(archived.items.every((w: { status: string }) => w.status === 'archived'));
      // The name is free again.
      assert.equal((await h.call('POST', '/api/v1/workflows', { name: 'doomed' })).statusCode, 201);
    });

    it('lists with filters and cursor pagination', async () => {
      for (let i = 0; i < 7; i++) {
        const res = await h.call('POST', '/api/v1/workflows', {
          name: `page-item-${i}`,
          type: i % 2 ? 'agent' : 'ci',
        });
        assert.equal(res.statusCode, 201);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `/api/v1/workflows?q=PAGE-ITEM&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await h.call('GET', q);
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json();
        seen.push(...page.items.map((w: { name: string }) => w.name));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(
        seen,
        [6, 5, 4, 3, 2, 1, 0].map((i) => `page-item-${i}`),
      );
      const agents = (await h.call('GET', '/api/v1/workflows?q=page-item&type=agent')).json();
      assert.deepEqual(
        agents.items.map((w: { name: string }) => w.name),
        ['page-item-5', 'page-item-3', 'page-item-1'],
      );
      const mine = (await h.call('GET', '/api/v1/workflows?createdBy=nobody')).json();
      assert.deepEqual(mine.items, []);
      // LIKE wildcards in q are literal.
      assert.deepEqual((await h.call('GET', '/api/v1/workflows?q=%25')).json().items, []);
      const bad = await h.call('GET', '/api/v1/workflows?cursor=nonsense');
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().code, 'ERR_VALIDATION');
    });

    it('enforces tokens and permissions', async () => {
      let res = await h.call('GET', '/api/v1/workflows', undefined, { token: null });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'ERR_AUTH_MISSING');
      res = await h.call('GET', '/api/v1/workflows', undefined, { token: 'sy_nope' });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'ERR_AUTH_INVALID');
      res = await h.call('GET', '/api/v1/workflows', undefined, {
        headers: { authorization: 'Basic abc' },
        token: null,
      });
      assert.equal(res.statusCode, 401);

      res = await h.call('POST', '/api/v1/tokens', {
        name: 'reader',
        permissions: ['workflows.read'],
      });
      assert.equal(res.statusCode, 201, res.body);
      const reader = res.json();
      assert.match(reader.token, /^sy_[0-9a-f]{40}$/);
      assert.match(reader.id, /^tok_/);
      res = await h.call('GET', '/api/v1/workflows', undefined, { token: reader.token });
      assert.equal(res.statusCode, 200);
      res = await h.call('POST', '/api/v1/workflows', { name: 'nope' }, { token: reader.token });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'ERR_AUTH_FORBIDDEN');
      assert.equal(res.json().context.required, 'workflows.create');
      res = await h.call('GET', '/api/v1/tokens', undefined, { token: reader.token });
      assert.equal(res.statusCode, 403);

      const list = (await h.call('GET', '/api/v1/tokens')).json();
      assert.ok(list.items.some((t: { id: string }) => t.id === reader.id));
      assert.ok(
        list.items.every((t: Record<string, unknown>) => !('token' in t) && !('hash' in t)),
      );

      assert.equal((await h.call('DELETE', `/api/v1/tokens/${reader.id}`)).statusCode, 204);
      res = await h.call('GET', '/api/v1/workflows', undefined, { token: reader.token });
      assert.equal(res.statusCode, 401);
      assert.equal((await h.call('DELETE', '/api/v1/tokens/tok_missing')).statusCode, 404);

      // A token that would be expired already is refused.
      res = await h.call('POST', '/api/v1/tokens', {
        name: 'old',
        permissions: ['workflows.read'],
        expiresAt: '2000-01-01T00:00:00Z',
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'ERR_VALIDATION');
      assert.match(res.body, /body\.expiresAt/);
      // One that expires is refused from then on.
      const expiring = (
        await h.call('POST', '/api/v1/tokens', {
          name: 'soon',
          permissions: ['workflows.read'],
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        })
      ).json();
      res = await h.call('GET', '/api/v1/workflows', undefined, { token: expiring.token });
      assert.equal(res.statusCode, 200);
      await h.yard.database.db
        .updateTable('tokens')
        .set({ expires_at: '2000-01-01T00:00:00.000Z' })
        .where('id', '=', expiring.id)
        .execute();
      res = await h.call('GET', '/api/v1/workflows', undefined, { token: expiring.token });
      assert.equal(res.statusCode, 401);
    });

    it('serves health, readiness, metrics and the OpenAPI document', async () => {
      assert.deepEqual((await h.call('GET', '/healthz', undefined, { token: null })).json(), {
        status: 'ok',
      });
      assert.deepEqual((await h.call('GET', '/readyz', undefined, { token: null })).json(), {
        status: 'ready',
      });
      const metrics = await h.call('GET', '/metrics', undefined, { token: null });
      assert.equal(metrics.statusCode, 200);
      assert.match(
        metrics.body,
        /switchyard_http_requests_total\{method="GET",route="\/api\/v1\/workflows",status="200"\}/,
      );
      const doc = await h.call('GET', '/api/v1/openapi.json', undefined, { token: null });
      assert.equal(doc.statusCode, 200);
      assert.ok(doc.json().paths['/api/v1/workflows/{id}/promote']);
    });
  });
}

describe('llm providers are checked against the server config (sqlite)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('sqlite', {
      config: {
        llmProviders: {
          local: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1' },
          listed: {
            kind: 'anthropic',
            baseUrl: 'http://127.0.0.1:9',
            default: true,
            models: ['claude-a', 'claude-b'],
          },
        },
        modelPrices: { 'claude-a': { prompt: 3, completion: 15 } },
      },
    });
  });

  it('a save and a validation warn of an unpriced model; a model outside a provider list is refused', async () => {
    const yaml = (model: string) =>
      `name: ask-${model}\nnodes:\n  - { id: ask, type: llm, model: ${model}, prompt: hi }\n`;
    const priced = await h.call('POST', '/api/v1/workflows/validate', yaml('claude-a'), {
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(priced.statusCode, 200, priced.body);
    assert.deepEqual(priced.json(), { valid: true, name: 'ask-claude-a', nodes: 1, warnings: [] });
    const warning = {
      path: 'nodes[0].model',
      message:
        "model 'claude-b' has no price in modelPrices: its tokens are counted, its cost is marked unpriced, not $0",
    };
    const unpriced = await h.call('POST', '/api/v1/workflows/validate', yaml('claude-b'), {
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(unpriced.statusCode, 200, unpriced.body);
    assert.deepEqual(unpriced.json().warnings, [warning]);
    const imported = await h.call('POST', '/api/v1/workflows/import', yaml('claude-b'), {
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(imported.statusCode, 201, imported.body);
    // Import saves through the JSON parts: the path is the stored definition's.
    assert.deepEqual(imported.json().warnings, [{ ...warning, path: 'graph.nodes[0].model' }]);
    const id = imported.json().id as string;
    // Reads carry no warnings.
    assert.equal((await h.call('GET', `/api/v1/workflows/${id}`)).json().warnings, undefined);
    const patched = await h.call('PATCH', `/api/v1/workflows/${id}`, {
      graph: { nodes: [{ id: 'ask', type: 'llm', model: 'claude-a', prompt: 'hi' }] },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.deepEqual(patched.json().warnings, []);

    const refused = await h.call('POST', '/api/v1/workflows/validate', yaml('claude-z'), {
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(refused.statusCode, 422, refused.body);
    assert.deepEqual(refused.json().details, [
      {
        path: 'nodes[0].model',
        message:
          "unknown model 'claude-z' for LLM provider 'listed' (its models: claude-a, claude-b)",
      },
    ]);
  });
  after(async () => {
    await h?.close();
  });

  it('accepts a configured provider and names it when another is refused', async () => {
    const node = (provider: string) => ({
      id: 'ask',
      type: 'llm',
      provider,
      model: 'm',
      prompt: 'hi',
    });
    const ok = await h.call('POST', '/api/v1/workflows', {
      name: 'ask-local',
      graph: { nodes: [node('local')] },
    });
    assert.equal(ok.statusCode, 201, ok.body);
    const id = ok.json().id as string;
    const bad = await h.call('PATCH', `/api/v1/workflows/${id}`, {
      graph: { nodes: [node('lcoal')] },
    });
    assert.equal(bad.statusCode, 422, bad.body);
    assert.deepEqual(bad.json().details, [
      {
        path: 'graph.nodes[0].provider',
        message: "unknown LLM provider 'lcoal' on this server (configured: local, listed)",
      },
    ]);
  });
});
