import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { definitionProblems, validateDefinitionParts } from '../helpers/definition.ts';
import fc from 'fast-check';
import { AppError } from '../../src/errors.ts';
import {
  defaultDefinitionLimits,
  type DefinitionParts,
  type GraphNode,
} from '../../src/definition/index.ts';

const limits = defaultDefinitionLimits;

const problems = (parts: DefinitionParts) => definitionProblems(parts, limits);

const graphOf = (...nodes: unknown[]) => ({ graph: { nodes } });
const paths = (parts: DefinitionParts) => problems(parts).map((p) => p.path);

describe('validateDefinitionParts', () => {
  it('returns canonical parts: needs folded into edges, duplicates dropped, cpu as a string', () => {
    const result = validateDefinitionParts(
      {
        graph: {
          nodes: [
            { id: 'a', type: 'noop' },
            { id: 'b', type: 'noop', needs: ['a'] },
            { id: 'c', type: 'noop', needs: ['a', 'b'] },
          ],
          edges: [
            { from: 'a', to: 'c' },
            { from: 'b', to: 'c', when: 'true' },
          ].slice(0, 1),
        },
        variables: { ENV: 'prod', n: 2, on: true },
        runtimeConfig: { cpu: 2, memory: '1Gi', retentionHours: 0.5 },
        triggerConfig: [{ type: 'webhook', name: 'deploy' }],
      },
      limits,
    );
    assert.deepEqual(result, {
      graph: {
        nodes: [
          { id: 'a', type: 'noop' },
          { id: 'b', type: 'noop' },
          { id: 'c', type: 'noop' },
        ],
        edges: [
          { from: 'a', to: 'b' },
          { from: 'a', to: 'c' },
          { from: 'b', to: 'c' },
        ],
      },
      variables: { ENV: 'prod', n: 2, on: true },
      runtimeConfig: { cpu: '2', memory: '1Gi', retentionHours: 0.5 },
      triggerConfig: [{ type: 'webhook', name: 'deploy' }],
    });
  });

  it('validates only the parts given', () => {
    assert.deepEqual(validateDefinitionParts({}, limits), {});
    assert.deepEqual(validateDefinitionParts({ variables: { A: 'b' } }, limits), {
      variables: { A: 'b' },
    });
  });

  it('uses JSON paths and camelCase names, and hints at snake_case mistakes', () => {
    const details = problems({
      graph: {
        nodes: [{ id: 'a', type: 'command', run: 'x', continue_on_error: true }],
        fail_fast: true,
      },
      runtimeConfig: { retention_hours: 1 },
      triggerConfig: [{ type: 'schedule', cron: '* * * * *', catchup_limit: 1 }],
    });
    assert.deepEqual(
      details.map((d) => d.path),
      [
        'graph.nodes[0].continue_on_error',
        'graph.fail_fast',
        'runtimeConfig.retention_hours',
        'triggerConfig[0].catchup_limit',
      ],
    );
    assert.match(details[0]!.message, /use 'continueOnError'/);
  });

  it('finds cycles, dangling edges, self edges, unknown needs and duplicate ids together', () => {
    const details = problems({
      graph: {
        nodes: [
          { id: 'a', type: 'noop', needs: ['c'] },
          { id: 'b', type: 'noop', needs: ['a', 'b', 'ghost'] },
          { id: 'c', type: 'noop', needs: ['b'] },
          { id: 'c', type: 'noop' },
        ],
        edges: [
          { from: 'a', to: 'nowhere' },
          { from: 'a', to: 'a' },
          { from: 'a', to: 'b', when: 'true' },
        ],
      },
    });
    assert.deepEqual(details, [
      { path: 'graph.nodes[3].id', message: "duplicate node id 'c' (first at graph.nodes[2])" },
      { path: 'graph.nodes[1].needs[1]', message: 'a node cannot need itself' },
      { path: 'graph.nodes[1].needs[2]', message: "unknown node 'ghost'" },
      { path: 'graph.edges[0].to', message: "unknown node 'nowhere'" },
      { path: 'graph.edges[1]', message: "an edge cannot go from a node to itself ('a')" },
      {
        path: 'graph.edges[2]',
        message: "duplicate edge 'a' -> 'b': a pair of nodes has one edge",
      },
      { path: 'graph.nodes[0]', message: 'cycle: a -> b -> c -> a' },
    ]);
  });

  it('reports each cycle once, across separate components', () => {
    const details = problems(
      graphOf(
        { id: 'x', type: 'noop', needs: ['y'] },
        { id: 'y', type: 'noop', needs: ['x'] },
        { id: 'p', type: 'noop', needs: ['r'] },
        { id: 'q', type: 'noop', needs: ['p'] },
        { id: 'r', type: 'noop', needs: ['q'] },
      ),
    );
    assert.deepEqual(
      details.map((d) => d.message),
      ['cycle: x -> y -> x', 'cycle: p -> q -> r -> p'],
    );
  });

  it('checks CEL in if, when and every ${{ }} of any text field', () => {
    const details = problems({
      graph: {
        nodes: [
          {
            id: 'a',
            type: 'command',
            run: 'echo ${{ params. }} ${{ params.ok }}',
            if: '${{ a && }}',
          },
          {
            id: 'b',
            type: 'http',
            url: 'https://x',
            headers: { A: '${{ 1 + }}' },
            body: { deep: ['${{ ( }}'] },
          },
          { id: 'c', type: 'noop', if: 'x > 1 ${{ y }}' },
          { id: 'd', type: 'command', run: 'echo ${{ unterminated' },
        ],
        edges: [{ from: 'a', to: 'b', when: '1 +' }],
      },
    });
    assert.deepEqual(
      details.map((d) => d.path),
      [
        'graph.nodes[0].run',
        'graph.nodes[0].if',
        'graph.nodes[1].headers.A',
        'graph.nodes[1].body.deep[0]',
        'graph.nodes[2].if',
        'graph.nodes[3].run',
        'graph.edges[0].when',
      ],
    );
    assert.match(details[0]!.message, /invalid CEL in \$\{\{ \}\} at offset 5/);
    assert.match(details[4]!.message, /single \$\{\{ \}\}/);
    assert.match(details[5]!.message, /unterminated/);
  });

  it('accepts CEL with braces and strings inside ${{ }}', () => {
    validateDefinitionParts(
      graphOf({
        id: 'a',
        type: 'command',
        run: `echo \${{ {'k': {'v': "}}"}}.k.v }} done`,
        if: '${{ true }}',
      }),
      limits,
    );
  });

  it('checks durations and retry policies', () => {
    const details = problems(
      graphOf(
        {
          id: 'a',
          type: 'noop',
          timeout: '1h30',
          retry: {
            maxAttempts: 0,
            backoff: 'linear',
            initialInterval: '10s',
            maxInterval: '2s',
            jitter: 2,
          },
        },
        { id: 'b', type: 'noop', timeout: '1d2h3m4s5ms', retry: { jitter: true } },
      ),
    );
    assert.deepEqual(
      details.map((d) => d.path),
      [
        'graph.nodes[0].timeout',
        'graph.nodes[0].retry.maxAttempts',
        'graph.nodes[0].retry.backoff',
        'graph.nodes[0].retry.jitter',
      ],
    );
    const onlyInterval = problems(
      graphOf({ id: 'a', type: 'noop', retry: { initialInterval: '10s', maxInterval: '2s' } }),
    );
    assert.deepEqual(
      onlyInterval.map((d) => d.path),
      ['graph.nodes[0].retry.maxInterval'],
    );
  });

  it('checks triggers: cron, time zone, inputs, one manual trigger, unique webhook names', () => {
    const details = problems({
      triggerConfig: [
        { type: 'schedule', cron: '* * *', timezone: 'Nowhere/Atlantis', catchup: 'some' },
        { type: 'schedule', cron: '0 0 12 * * 1-5', timezone: 'America/New_York' },
        {
          type: 'manual',
          inputs: {
            a: { type: 'integer', default: 1.5 },
            b: { type: 'string', enum: ['x', 1], default: 'x' },
            c: { type: 'string', enum: ['x', 'y'], default: 'z' },
            d: { type: 'date' },
            'not ok': { type: 'string' },
          },
        },
        { type: 'manual' },
        { type: 'webhook', name: 'Bad Name' },
        { type: 'webhook', name: 'hook' },
        { type: 'webhook', name: 'hook' },
        { type: 'event' },
        { type: 'poll' },
        'manual',
      ],
    });
    assert.deepEqual(
      details.map((d) => d.path),
      [
        'triggerConfig[0].cron',
        'triggerConfig[0].timezone',
        'triggerConfig[0].catchup',
        'triggerConfig[2].inputs.d.type',
        'triggerConfig[2].inputs["not ok"]',
        'triggerConfig[4].name',
        'triggerConfig[7].event',
        'triggerConfig[8].type',
        'triggerConfig[9]',
        'triggerConfig[3]',
        'triggerConfig[6].name',
      ],
    );
    const byPath = new Map(details.map((d) => [d.path, d.message]));
    assert.match(byPath.get('triggerConfig[8].type')!, /manual, schedule, event, webhook/);
    assert.match(byPath.get('triggerConfig[3]')!, /only one manual trigger/);
    assert.match(byPath.get('triggerConfig[6].name')!, /duplicate webhook name 'hook'/);
    // Input rules apply to the triggers that passed their schema.
    const inputs = problems({
      triggerConfig: [
        {
          type: 'manual',
          inputs: {
            a: { type: 'integer', default: 1.5 },
            b: { type: 'string', enum: ['x', 1], default: 'x' },
            c: { type: 'string', enum: ['x', 'y'], default: 'z' },
            d: { type: 'array', default: [1], enum: [[1], [2]] },
            e: { type: 'object', default: {} },
          },
        },
      ],
    });
    assert.deepEqual(
      inputs.map((d) => d.path),
      [
        'triggerConfig[0].inputs.a.default',
        'triggerConfig[0].inputs.b.enum[1]',
        'triggerConfig[0].inputs.c.default',
      ],
    );
  });

  it('checks variables and runtime config', () => {
    const details = problems({
      variables: { ok: 1, '9lives': 'x', obj: { a: 1 }, inf: Number.POSITIVE_INFINITY },
      runtimeConfig: {
        mode: 'serverless',
        runtime: 'docker',
        cpu: '0',
        memory: '1GB',
        pids: 1.5,
        replicas: 0,
        retentionHours: 0,
        idleTimeout: 'soon',
        network: 'bridge',
        artifacts: ['a', ''],
        gpu: 1,
      },
    });
    assert.deepEqual(
      details.map((d) => d.path),
      [
        'variables["9lives"]',
        'variables.obj',
        'variables.inf',
        'runtimeConfig.mode',
        'runtimeConfig.cpu',
        'runtimeConfig.memory',
        'runtimeConfig.pids',
        'runtimeConfig.replicas',
        'runtimeConfig.retentionHours',
        'runtimeConfig.idleTimeout',
        'runtimeConfig.network',
        'runtimeConfig.artifacts[1]',
        'runtimeConfig.gpu',
      ],
    );
  });

  it('refuses network: host where the server forbids it, and judges nothing without a server', () => {
    const parts = { runtimeConfig: { network: 'host' } };
    const refused = definitionProblems(parts, { ...limits, allowHostNetwork: false });
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.path, 'runtimeConfig.network');
    assert.match(refused[0]!.message, /allowHostNetwork/);
    assert.match(refused[0]!.message, /network: outbound/);
    for (const allowHostNetwork of [true, undefined]) {
      const result = validateDefinitionParts(parts, { ...limits, allowHostNetwork });
      assert.equal(result.runtimeConfig?.network, 'host');
    }
    for (const network of ['none', 'outbound']) {
      const ok = validateDefinitionParts(
        { runtimeConfig: { network } },
        { ...limits, allowHostNetwork: false },
      );
      assert.equal(ok.runtimeConfig?.network, network);
    }
  });

  it('treats null optional fields as absent but null required ones as missing', () => {
    const result = validateDefinitionParts(
      graphOf({ id: 'a', type: 'noop', retry: null, name: null }),
      limits,
    );
    assert.deepEqual(result.graph?.nodes, [{ id: 'a', type: 'noop' }]);
    assert.deepEqual(paths(graphOf({ id: 'a', type: 'command', run: null })), [
      'graph.nodes[0].run',
    ]);
  });

  // Speed is measured in bench/definition-validate.bench.ts, not asserted here.
  describe('size', () => {
    it('rejects more than maxNodes with ERR_GRAPH_TOO_LARGE before looking at nodes', () => {
      const nodes = Array.from({ length: 10_000 }, () => null);
      try {
        validateDefinitionParts({ graph: { nodes } }, limits);
        assert.fail('expected ERR_GRAPH_TOO_LARGE');
      } catch (err) {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'ERR_GRAPH_TOO_LARGE');
        assert.equal(err.status, 413);
        assert.equal(err.details[0]?.path, 'graph.nodes');
      }
    });

    it('validates a 1,000-node chain', () => {
      const nodes: GraphNode[] = Array.from({ length: 1000 }, (_, i) => ({
        id: `step_${i}`,
        type: 'command',
        // Each step reads the one before it (upstream through needs); the first reads params.
        run: i > 0 ? `echo \${{ nodes.step_${i - 1}.outputs.x }}` : 'echo ${{ params.x }}',
        ...(i > 0 ? { needs: [`step_${i - 1}`] } : {}),
        if: 'params.go == true',
        env: { N: String(i) },
      }));
      const result = validateDefinitionParts({ graph: { nodes } }, limits);
      assert.equal(result.graph?.edges.length, 999);
    });

    it('reports a cycle through 1,000 nodes without deep recursion', () => {
      const nodes = Array.from({ length: 1000 }, (_, i) => ({
        id: `n${i}`,
        type: 'noop',
        needs: [`n${(i + 999) % 1000}`],
      }));
      const details = problems({ graph: { nodes } });
      assert.equal(details.length, 1);
      assert.match(details[0]!.message, /^cycle: n0 -> n1 -> n2 .* n999 -> n0$/);
    });

    it('caps the list of problems and says how many were left out', () => {
      const nodes = Array.from({ length: 1000 }, (_, i) => ({
        id: `n${i}`,
        type: 'command',
        run: 1,
        shell: 2,
      }));
      const details = problems({ graph: { nodes } });
      assert.equal(details.length, 1001);
      assert.match(details[1000]!.message, /and 1000 more problems/);
    });
  });

  describe('hostile input throws nothing but AppError', () => {
    const hostile: [string, DefinitionParts][] = [
      ['graph is a string', { graph: 'nodes' }],
      ['graph is null', { graph: null }],
      ['nodes is not an array', { graph: { nodes: { a: 1 } } }],
      ['a node is null', graphOf(null)],
      ['a node is an array', graphOf([1, 2])],
      ['ids are numbers', graphOf({ id: 1, type: 'noop' }, { id: 2, type: 'noop', needs: [1] })],
      ['type is an object', graphOf({ id: 'a', type: { toString: 1 } })],
      [
        'prototype names as types',
        graphOf(
          { id: 'a', type: '__proto__' },
          { id: 'b', type: 'constructor' },
          { id: 'c', type: 'toString' },
        ),
      ],
      ['edges with numbers', { graph: { nodes: [], edges: [{ from: 1, to: 2 }, null, 'a->b'] } }],
      [
        'a huge string',
        graphOf({
          id: 'a'.repeat(1_000_000),
          type: 'x'.repeat(1_000_000),
          run: '${{'.repeat(100_000),
        }),
      ],
      [
        'deep body',
        graphOf({
          id: 'a',
          type: 'http',
          url: 'https://x',
          body: JSON.parse('['.repeat(5000) + ']'.repeat(5000)) as unknown,
        }),
      ],
      ['variables is an array', { variables: [1, 2] }],
      ['triggers is an object', { triggerConfig: { type: 'manual' } }],
      ['runtimeConfig is a number', { runtimeConfig: 5 }],
      ['a class instance', { graph: new Date() }],
    ];
    for (const [what, parts] of hostile) {
      it(what, () => {
        assert.throws(() => validateDefinitionParts(parts, limits), AppError);
      });
    }

    it('prototype keys do not pollute', () => {
      const parts = JSON.parse(
        '{"graph":{"nodes":[{"id":"__proto__","type":"command","run":"x","env":{"__proto__":"p","constructor":"c"}},' +
          '{"id":"constructor","type":"noop","needs":["__proto__"]}],"__proto__":{"polluted":1}},' +
          '"variables":{"__proto__":"v"}}',
      ) as DefinitionParts;
      assert.throws(() => validateDefinitionParts(parts, limits), AppError); // graph.__proto__ is unknown
      delete (parts.graph as Record<string, unknown>).__proto__;
      const result = validateDefinitionParts(parts, limits);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(Object.getOwnPropertyDescriptor(result.variables, '__proto__')?.value, 'v');
      assert.deepEqual(result.graph?.edges, [{ from: '__proto__', to: 'constructor' }]);
    });

    it('any JSON value in any part (property)', () => {
      const anyPart = fc.jsonValue({ maxDepth: 6 });
      const nodeLike = fc.record(
        {
          id: fc.oneof(fc.constantFrom('a', 'b', '__proto__', 'constructor'), fc.jsonValue()),
          type: fc.oneof(
            fc.constantFrom('command', 'http', 'llm', 'switch', 'parallel', 'map', 'loop', 'wait'),
            fc.jsonValue(),
          ),
          needs: fc.oneof(fc.constant(['a']), fc.jsonValue()),
          run: fc.jsonValue(),
          branches: fc.jsonValue(),
          node: fc.jsonValue(),
          cases: fc.jsonValue(),
        },
        { requiredKeys: [] },
      );
      fc.assert(
        fc.property(
          fc.record(
            {
              graph: fc.oneof(
                anyPart,
                fc.record({ nodes: fc.array(nodeLike, { maxLength: 5 }), edges: anyPart }),
              ),
              variables: anyPart,
              runtimeConfig: anyPart,
              triggerConfig: anyPart,
            },
            { requiredKeys: [] },
          ),
          (parts) => {
            try {
              validateDefinitionParts(parts, limits);
            } catch (err) {
              if (!(err instanceof AppError)) throw err;
              assert.ok(
                err.details.every(
                  (d) => typeof d.path === 'string' && typeof d.message === 'string',
                ),
              );
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
