/**
 * Hostile and malformed input: every case answers with the DESIGN §9 error body and the
 * expected status, never a 500, and the server keeps serving with nothing lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

interface Case {
  name: string;
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  /** `:id` is replaced by a real workflow's id, `:other` by another workflow's. */
  url?: string;
  body?: string | Buffer;
  json?: unknown;
  contentType?: string | null;
  headers?: Record<string, string>;
  token?: string | null;
  status: number;
  code: string;
  /** A detail path the answer must name. */
  path?: RegExp;
  /** What the answer's message must say. */
  message?: RegExp;
}

const node = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'noop', ...extra });
const create = (body: Record<string, unknown>): Partial<Case> => ({
  method: 'POST',
  url: '/api/v1/workflows',
  json: { name: 'bad', ...body },
});
const yaml = (text: string): Partial<Case> => ({
  method: 'POST',
  url: '/api/v1/workflows/import',
  body: text,
  contentType: 'application/yaml',
});
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

const cases: Case[] = [
  // Transport-level problems.
  {
    name: 'malformed JSON',
    method: 'POST',
    url: '/api/v1/workflows',
    body: '{"name": ',
    contentType: 'application/json',
    status: 400,
    code: 'ERR_JSON_MALFORMED',
  },
  {
    name: 'JSON with trailing garbage',
    method: 'POST',
    url: '/api/v1/workflows',
    body: '{"name":"a"} x',
    contentType: 'application/json',
    status: 400,
    code: 'ERR_JSON_MALFORMED',
  },
  {
    name: 'empty JSON body',
    method: 'POST',
    url: '/api/v1/workflows',
    body: '',
    contentType: 'application/json',
    status: 400,
    code: 'ERR_JSON_MALFORMED',
  },
  {
    name: 'invalid UTF-8 in JSON',
    method: 'POST',
    url: '/api/v1/workflows',
    body: Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    contentType: 'application/json',
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'body is null',
    ...create({}),
    json: undefined,
    body: 'null',
    contentType: 'application/json',
    status: 400,
    code: 'ERR_VALIDATION',
  },
  { name: 'body is an array', ...create({}), json: [], status: 400, code: 'ERR_VALIDATION' },
  {
    name: 'body is a string',
    ...create({}),
    json: undefined,
    body: '"x"',
    contentType: 'application/json',
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'text/plain body',
    method: 'POST',
    url: '/api/v1/workflows',
    body: 'name=x',
    contentType: 'text/plain',
    status: 415,
    code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'XML body',
    method: 'POST',
    url: '/api/v1/workflows',
    body: '<a/>',
    contentType: 'application/xml',
    status: 415,
    code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'oversized JSON body',
    method: 'POST',
    url: '/api/v1/workflows',
    body: JSON.stringify({ name: 'x', description: 'y'.repeat(2 * 1024 * 1024) }),
    contentType: 'application/json',
    status: 413,
    code: 'ERR_BODY_TOO_LARGE',
  },
  {
    name: '__proto__ key',
    method: 'POST',
    url: '/api/v1/workflows',
    body: '{"name":"x","__proto__":{"admin":true}}',
    contentType: 'application/json',
    status: 400,
    code: 'ERR_BAD_REQUEST',
  },
  {
    name: 'constructor.prototype key',
    method: 'POST',
    url: '/api/v1/workflows',
    body: '{"name":"x","constructor":{"prototype":{"admin":true}}}',
    contentType: 'application/json',
    status: 400,
    code: 'ERR_BAD_REQUEST',
  },
  {
    name: 'JSON nested 100,000 deep',
    method: 'POST',
    url: '/api/v1/workflows',
    body: `{"name":"x","graph":${deep(100_000)}}`,
    contentType: 'application/json',
    status: 400,
    code: 'ERR_BAD_REQUEST',
  },
  {
    name: 'JSON nested 200 deep inside a node',
    ...create({
      graph: {
        nodes: [node('a', { type: 'http', url: 'http://127.0.0.1/', body: JSON.parse(deep(200)) })],
      },
    }),
    status: 400,
    code: 'ERR_BAD_REQUEST',
  },

  // Schema problems in the request itself.
  {
    name: 'name missing',
    ...create({}),
    json: { description: 'x' },
    status: 400,
    code: 'ERR_VALIDATION',
    path: /^body\.name$/,
  },
  {
    name: 'name empty',
    ...create({ name: '' }),
    status: 400,
    code: 'ERR_VALIDATION',
    path: /^body\.name$/,
  },
  {
    name: 'name too long',
    ...create({ name: 'n'.repeat(500) }),
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'name with control characters',
    ...create({ name: 'a\u0000b' }),
    status: 400,
    code: 'ERR_VALIDATION',
  },
  { name: 'name is a number', ...create({ name: 42 }), status: 400, code: 'ERR_VALIDATION' },
  {
    name: 'unknown field',
    ...create({ colour: 'blue' }),
    status: 400,
    code: 'ERR_VALIDATION',
    path: /^body\.colour$/,
  },
  {
    name: 'unknown type',
    ...create({ type: 'batch' }),
    status: 400,
    code: 'ERR_VALIDATION',
    path: /^body\.type$/,
  },
  {
    name: 'description is an object',
    ...create({ description: { a: 1 } }),
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'PATCH with nothing',
    method: 'PATCH',
    url: '/api/v1/workflows/:id',
    json: {},
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'PATCH of type (not patchable)',
    method: 'PATCH',
    url: '/api/v1/workflows/:id',
    json: { type: 'ci' },
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'promote with a string version',
    method: 'POST',
    url: '/api/v1/workflows/:id/promote',
    json: { version: '1' },
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'promote version 0',
    method: 'POST',
    url: '/api/v1/workflows/:id/promote',
    json: { version: 0 },
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'token with an unknown permission',
    method: 'POST',
    url: '/api/v1/tokens',
    json: { name: 't', permissions: ['root'] },
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'token with a bad expiry',
    method: 'POST',
    url: '/api/v1/tokens',
    json: { name: 't', permissions: ['workflows.read'], expiresAt: 'tomorrow' },
    status: 400,
    code: 'ERR_VALIDATION',
  },

  // Invalid graphs and definitions.
  {
    name: 'graph is a string',
    ...create({ graph: 'nodes' }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'nodes is not an array',
    ...create({ graph: { nodes: {} } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'node is null',
    ...create({ graph: { nodes: [null] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'node without id',
    ...create({ graph: { nodes: [{ type: 'noop' }] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'node id is a number',
    ...create({ graph: { nodes: [{ id: 7, type: 'noop' }] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'duplicate node ids',
    ...create({ graph: { nodes: [node('a'), node('a')] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'unknown node type',
    ...create({ graph: { nodes: [{ id: 'a', type: 'teleport' }] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'cycle',
    ...create({ graph: { nodes: [node('a', { needs: ['b'] }), node('b', { needs: ['a'] })] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'dangling edge',
    ...create({ graph: { nodes: [node('a')], edges: [{ from: 'a', to: 'ghost' }] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'unknown needs',
    ...create({ graph: { nodes: [node('a', { needs: ['ghost'] })] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'bad CEL in if',
    ...create({ graph: { nodes: [node('a', { if: '${{ params.x == }}' })] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'command without run',
    ...create({ graph: { nodes: [{ id: 'a', type: 'command' }] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'unknown field on a node',
    ...create({ graph: { nodes: [node('a', { colour: 'red' })] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'bad duration',
    ...create({ graph: { nodes: [node('a', { timeout: 'soon' })] } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'bad cron',
    ...create({ triggerConfig: [{ type: 'schedule', cron: '61 * * * *' }] }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'unknown trigger type',
    ...create({ triggerConfig: [{ type: 'telepathy' }] }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'variables with a bad key',
    ...create({ variables: { 'bad key': 1 } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'variables with an object value',
    ...create({ variables: { A: { b: 1 } } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'runtimeConfig with a bad mode',
    ...create({ runtimeConfig: { mode: 'everywhere' } }),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: '10,000-node graph',
    ...create({ graph: { nodes: Array.from({ length: 10_000 }, (_, i) => node(`n${i}`)) } }),
    status: 413,
    code: 'ERR_GRAPH_TOO_LARGE',
  },

  // YAML import.
  {
    name: 'YAML syntax error',
    ...yaml('name: [unclosed\nnodes: -'),
    status: 400,
    code: 'ERR_YAML_MALFORMED',
  },
  {
    name: 'YAML alias bomb',
    ...yaml(
      [
        'a: &a ["x","x","x","x","x","x","x","x","x"]',
        ...'bcdefghi'
          .split('')
          .map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
        'name: bomb',
      ].join('\n'),
    ),
    status: 400,
    code: 'ERR_YAML_MALFORMED',
  },
  {
    name: 'YAML nested 10,000 deep',
    ...yaml(`name: deep\nx: ${deep(10_000)}`),
    status: 400,
    code: 'ERR_YAML_MALFORMED',
  },
  {
    name: 'YAML with two documents',
    ...yaml('name: a\n---\nname: b\n'),
    status: 400,
    code: 'ERR_YAML_MALFORMED',
  },
  { name: 'YAML root is a list', ...yaml('- a\n- b\n'), status: 400, code: 'ERR_YAML_MALFORMED' },
  {
    name: 'YAML without a name',
    ...yaml('nodes:\n  - {id: a, type: noop}\n'),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'YAML with a cycle',
    ...yaml(
      'name: cyc\nnodes:\n  - {id: a, type: noop, needs: [b]}\n  - {id: b, type: noop, needs: [a]}\n',
    ),
    status: 422,
    code: 'ERR_WORKFLOW_INVALID',
  },
  {
    name: 'oversized YAML',
    ...yaml(`name: big\ndescription: ${'z'.repeat(2 * 1024 * 1024)}`),
    status: 413,
    code: 'ERR_BODY_TOO_LARGE',
  },

  // Query strings, ids and auth.
  {
    name: 'limit=0',
    method: 'GET',
    url: '/api/v1/workflows?limit=0',
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'limit=abc',
    method: 'GET',
    url: '/api/v1/workflows?limit=abc',
    status: 400,
    code: 'ERR_VALIDATION',
    message: /^The query string is invalid\.$/,
  },
  {
    name: 'limit too large',
    method: 'GET',
    url: '/api/v1/workflows?limit=100000',
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'unknown query parameter',
    method: 'GET',
    url: '/api/v1/workflows?colour=blue',
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'unknown status filter',
    method: 'GET',
    url: '/api/v1/workflows?status=bogus',
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'forged cursor',
    method: 'GET',
    url: `/api/v1/workflows?cursor=${Buffer.from('{"after":5}').toString('base64url')}`,
    status: 400,
    code: 'ERR_VALIDATION',
  },
  {
    name: 'unknown workflow id',
    method: 'GET',
    url: '/api/v1/workflows/wf_00000000000000000000000000',
    status: 404,
    code: 'ERR_WORKFLOW_NOT_FOUND',
  },
  {
    name: 'SQL in the id',
    method: 'GET',
    url: `/api/v1/workflows/${encodeURIComponent("' OR 1=1 --")}`,
    status: 404,
    code: 'ERR_WORKFLOW_NOT_FOUND',
  },
  {
    name: 'traversal in the id',
    method: 'GET',
    url: '/api/v1/workflows/..%2F..%2Fetc%2Fpasswd',
    status: 404,
    code: 'ERR_WORKFLOW_NOT_FOUND',
  },
  {
    name: 'very long id',
    method: 'GET',
    url: `/api/v1/workflows/${'x'.repeat(5000)}`,
    status: 414,
    code: 'ERR_URI_TOO_LONG',
  },
  {
    name: "another workflow's version number",
    method: 'GET',
    url: '/api/v1/workflows/:other/versions/2',
    status: 404,
    code: 'ERR_VERSION_NOT_FOUND',
  },
  {
    name: 'restore under a missing workflow',
    method: 'POST',
    url: '/api/v1/workflows/wf_missing/versions/1/restore',
    status: 404,
    code: 'ERR_WORKFLOW_NOT_FOUND',
  },
  {
    name: 'unknown route',
    method: 'GET',
    url: '/api/v1/nothing-here',
    status: 404,
    code: 'ERR_NOT_FOUND',
  },
  {
    name: 'unknown method',
    method: 'PUT',
    url: '/api/v1/workflows',
    json: {},
    status: 404,
    code: 'ERR_NOT_FOUND',
  },
  {
    name: 'no token',
    method: 'GET',
    url: '/api/v1/workflows',
    token: null,
    status: 401,
    code: 'ERR_AUTH_MISSING',
  },
  {
    name: 'huge Authorization header',
    method: 'GET',
    url: '/api/v1/workflows',
    token: null,
    headers: { authorization: `Bearer ${'x'.repeat(8000)}` },
    status: 401,
    code: 'ERR_AUTH_INVALID',
  },
  {
    name: 'token with a NUL byte',
    method: 'GET',
    url: '/api/v1/workflows',
    token: 'sy_\u0001abc',
    status: 401,
    code: 'ERR_AUTH_INVALID',
  },
];

for (const dialect of dialectNames) {
  describe(`bad input (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let wfId = '';
    let otherId = '';
    let before0: unknown;

    before(async () => {
      h = await startHarness(dialect);
      const wf = await h.call('POST', '/api/v1/workflows', {
        name: 'keeper',
        graph: { nodes: [node('a'), node('b', { needs: ['a'] })] },
      });
      assert.equal(wf.statusCode, 201, wf.body);
      wfId = wf.json().id;
      const other = await h.call('POST', '/api/v1/workflows', { name: 'other' });
      otherId = other.json().id;
      before0 = (await h.call('GET', '/api/v1/workflows?includeArchived=true&limit=200')).json();
    });
    after(async () => {
      await h?.close();
    });

    for (const c of cases) {
      it(`${c.name} → ${c.status} ${c.code}`, async () => {
        const url = (c.url ?? '/api/v1/workflows').replace(':id', wfId).replace(':other', otherId);
        const headers: Record<string, string> = { ...c.headers };
        let body: string | Buffer | undefined = c.body;
        if (c.json !== undefined) {
          body = JSON.stringify(c.json);
          headers['content-type'] = 'application/json';
        }
        if (c.contentType) headers['content-type'] = c.contentType;
        const res = await h.call(c.method ?? 'GET', url, body, {
          headers,
          ...(c.token !== undefined && { token: c.token }),
        });
        assert.equal(res.statusCode, c.status, res.body.slice(0, 500));
        const err = res.json();
        assert.equal(err.code, c.code, res.body.slice(0, 500));
        assert.equal(typeof err.error, 'string');
        assert.ok(err.error.length > 0);
        assert.ok(Array.isArray(err.details));
        if (c.path)
          assert.ok(
            err.details.some((d: { path: string }) => c.path!.test(d.path)),
            JSON.stringify(err.details),
          );
        if (c.message) assert.match(err.error, c.message);
      });
    }

    it('lists every problem of an invalid graph at once, with paths', async () => {
      const res = await h.call('POST', '/api/v1/workflows', {
        name: 'many-problems',
        graph: {
          nodes: [
            node('a', { colour: 'red' }),
            { id: 'b', type: 'teleport' },
            node('a'),
            { id: 'c', type: 'command' },
          ],
        },
      });
      assert.equal(res.statusCode, 422);
      const paths = res.json().details.map((d: { path: string }) => d.path);
      assert.ok(paths.length >= 4, JSON.stringify(paths));
      assert.ok(paths.some((p: string) => p.includes('nodes[0]')));
      assert.ok(paths.some((p: string) => p.includes('nodes[1]')));
      assert.ok(paths.some((p: string) => p.includes('nodes[2]')));
      assert.ok(paths.some((p: string) => p.includes('nodes[3]')));
    });

    it('still serves and lost nothing', async () => {
      assert.equal((await h.call('GET', '/healthz', undefined, { token: null })).statusCode, 200);
      assert.deepEqual(
        (await h.call('GET', '/api/v1/workflows?includeArchived=true&limit=200')).json(),
        before0,
      );
      const wf = (await h.call('GET', `/api/v1/workflows/${wfId}`)).json();
      assert.equal(wf.version, 1);
      assert.deepEqual(wf.graph.edges, [{ from: 'a', to: 'b' }]);
    });
  });
}
