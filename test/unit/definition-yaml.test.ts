import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { defaultDefinitionLimits, type WorkflowDefinition } from '../../src/definition/index.ts';
import { parseWorkflowYaml, workflowToYaml } from '../helpers/definition.ts';

const limits = defaultDefinitionLimits;
const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/workflows/${name}.yaml`, import.meta.url), 'utf8');

/** The AppError that `fn` throws (fails the test when it throws anything else or nothing). */
function appError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an AppError');
}

describe('parseWorkflowYaml', () => {
  it('reads a top-level concurrency block and refuses bad ones with their paths', () => {
    const doc = (block: string) =>
      `name: deploy\nconcurrency:\n${block}nodes:\n  - { id: a, type: noop }\n`;
    const def = parseWorkflowYaml(
      doc('  group: deploy-${{ params.env }}\n  max: 2\n  policy: cancel_running\n'),
      limits,
    );
    assert.deepEqual(def.concurrency, {
      group: 'deploy-${{ params.env }}',
      max: 2,
      policy: 'cancel_running',
    });
    assert.match(workflowToYaml(def), /concurrency:\n {2}group: deploy-\$\{\{ params.env \}\}/);
    assert.equal('concurrency' in parseWorkflowYaml(doc(''), limits), false);

    const err = appError(() =>
      parseWorkflowYaml(
        doc('  group: x-${{ nodes.a.outputs.b }}-${{ params. }}\n  max: 0\n  when: now\n'),
        limits,
      ),
    );
    assert.deepEqual(err.details.map((d) => d.path).sort(), [
      'concurrency.group',
      'concurrency.group',
      'concurrency.max',
      'concurrency.when',
    ]);
    const group = err.details.filter((d) => d.path === 'concurrency.group').map((d) => d.message);
    assert.ok(
      group.some((m) => /reads 'nodes'/.test(m)),
      group.join('; '),
    );
    assert.ok(
      group.some((m) => /invalid CEL/.test(m)),
      group.join('; '),
    );
  });

  it('parses the DESIGN §3 example into the camelCase definition', () => {
    const def = parseWorkflowYaml(fixture('deploy-staging'), limits);
    assert.deepEqual(def, {
      name: 'deploy-staging',
      description: 'Deploy main to staging on every merge',
      type: 'ci',
      variables: { ENV: 'staging' },
      runtimeConfig: {
        mode: 'per_execution',
        image: 'dev-go',
        cpu: '2',
        memory: '1Gi',
        retentionHours: 24,
      },
      triggerConfig: [
        { type: 'event', event: 'pr.merged', branches: ['main'] },
        {
          type: 'manual',
          inputs: {
            ref: { type: 'string', default: 'main' },
            dry_run: { type: 'boolean', default: false },
          },
        },
      ],
      graph: {
        nodes: [
          { id: 'checkout', type: 'command', run: 'git clone "$REPO" .' },
          {
            id: 'test',
            type: 'command',
            run: 'go test ./...',
            retry: { maxAttempts: 3, backoff: 'exponential', initialInterval: '2s' },
            timeout: '15m',
            artifacts: ['coverage.out'],
          },
          {
            id: 'approve',
            type: 'approval',
            message: 'Deploy ${{ params.ref }} to ${{ vars.ENV }}?',
          },
          { id: 'deploy', type: 'command', if: '${{ !params.dry_run }}', run: './deploy.sh' },
        ],
        edges: [
          { from: 'checkout', to: 'test' },
          { from: 'test', to: 'approve' },
          { from: 'approve', to: 'deploy' },
        ],
      },
    } satisfies WorkflowDefinition);
  });

  it('keeps user-named keys as written and converts only declared ones', () => {
    const def = parseWorkflowYaml(fixture('every-node-type'), limits);
    const fetch = def.graph.nodes.find((n) => n.id === 'fetch')!;
    assert.deepEqual(fetch.body, {
      query: '${{ params.topic }}',
      nested: { keep_this_key: 1, andThis: [1, 2] },
    });
    assert.deepEqual(fetch.expectStatus, [200, 201]);
    const child = def.graph.nodes.find((n) => n.id === 'child')!;
    assert.deepEqual(child.params, { report_id: '${{ nodes.fetch.outputs.id }}', DryRun: false });
    const fan = def.graph.nodes.find((n) => n.id === 'fan')!;
    assert.deepEqual((fan.branches as { env?: unknown }[])[1]!.env, {
      CI: 'true',
      node_env: 'test',
    });
    const each = def.graph.nodes.find((n) => n.id === 'each')!;
    assert.equal((each.node as Record<string, unknown>).workingDir, 'out');
    const manual = def.triggerConfig.find((t) => t.type === 'manual');
    assert.deepEqual(Object.keys(manual?.inputs ?? {}), ['topic', 'depth']);
    const schedule = def.triggerConfig.find((t) => t.type === 'schedule');
    assert.equal(schedule?.catchupLimit, 5);
    assert.deepEqual(
      def.runtimeConfig.cpu,
      '0.5',
      'a YAML number cpu becomes the canonical string',
    );
    assert.equal(def.runtimeConfig.idleTimeout, '30m');
    assert.equal(def.graph.failFast, true);
    assert.deepEqual(def.graph.retry, {
      maxAttempts: 2,
      backoff: 'fixed',
      initialInterval: '1s',
      maxInterval: '10s',
      jitter: 0.2,
    });
  });

  it('defaults type, description, variables, runtime config and triggers', () => {
    const def = parseWorkflowYaml('name: tiny\nnodes: [{ id: a, type: noop }]\n', limits);
    assert.deepEqual(def, {
      name: 'tiny',
      description: '',
      type: 'automation',
      variables: {},
      runtimeConfig: {},
      triggerConfig: [],
      graph: { nodes: [{ id: 'a', type: 'noop' }], edges: [] },
    });
  });

  it('folds needs into edges and keeps conditional edges after plain ones', () => {
    const def = parseWorkflowYaml(fixture('conditional-edges'), limits);
    assert.deepEqual(def.graph.edges, [
      { from: 'build', to: 'test' },
      { from: 'test', to: 'release', when: "nodes.test.status == 'succeeded'" },
      { from: 'build', to: 'notify_fail', when: "${{ nodes.build.status == 'failed' }}" },
    ]);
    assert.ok(def.graph.nodes.every((n) => !('needs' in n)));
  });

  it('reports a cycle naming its nodes', () => {
    const err = appError(() => parseWorkflowYaml(fixture('invalid-cycle'), limits));
    assert.equal(err.code, 'ERR_WORKFLOW_INVALID');
    assert.equal(err.status, 422);
    assert.deepEqual(err.details, [{ path: 'nodes[0]', message: 'cycle: a -> b -> c -> a' }]);
  });

  it('lists every problem at once, with YAML paths', () => {
    const err = appError(() => parseWorkflowYaml(fixture('invalid-many-problems'), limits));
    assert.equal(err.code, 'ERR_WORKFLOW_INVALID');
    const paths = err.details.map((d) => d.path).sort();
    assert.deepEqual(paths, [
      'edges[0].to',
      'nodes[0].needs[0]',
      'nodes[0].run',
      'nodes[1].id',
      'nodes[1].type',
      'nodes[2].if',
      'nodes[2].timeout',
      'nodes[3].then[0]',
      'triggers[0].cron',
    ]);
    const byPath = new Map(err.details.map((d) => [d.path, d.message]));
    assert.match(
      byPath.get('nodes[1].type')!,
      /unknown node type 'teleport' \(known: command, http, llm/,
    );
    assert.match(byPath.get('nodes[1].id')!, /duplicate node id 'a'/);
    assert.match(byPath.get('nodes[0].needs[0]')!, /unknown node 'ghost'/);
    assert.match(byPath.get('nodes[2].timeout')!, /duration/);
    assert.match(byPath.get('nodes[3].then[0]')!, /not a direct successor/);
  });

  it('names unknown fields and points camelCase keys to their snake_case spelling', () => {
    const err = appError(() => parseWorkflowYaml(fixture('invalid-unknown-field'), limits));
    assert.deepEqual(
      err.details.map((d) => d.path),
      ['nodes[0].retry.maxAttempts', 'nodes[0].working_directory'],
    );
    assert.match(err.details[0]!.message, /use 'max_attempts'/);
    assert.match(err.details[1]!.message, /unknown field 'working_directory'.*working_dir/);
  });

  it('maps runtime_config user and docker_socket, and checks them', () => {
    const def = parseWorkflowYaml(
      "name: x\nruntime_config: { user: '1000:1000', docker_socket: true }\nnodes: []\n",
      limits,
    );
    assert.deepEqual(def.runtimeConfig, { user: '1000:1000', dockerSocket: true });
    assert.match(workflowToYaml(def), /user: 1000:1000\n\s+docker_socket: true/);
    assert.deepEqual(
      parseWorkflowYaml('name: x\nruntime_config: { user: nobody }\nnodes: []\n', limits)
        .runtimeConfig,
      { user: 'nobody' },
    );
    const err = appError(() =>
      parseWorkflowYaml(
        "name: x\nruntime_config: { user: 'root; rm -rf /', docker_socket: 'yes' }\nnodes: []\n",
        limits,
      ),
    );
    assert.deepEqual(
      err.details.map((d) => d.path),
      ['runtime_config.user', 'runtime_config.docker_socket'],
    );
  });

  it("maps the agent node's snake_case limits to its camelCase config", () => {
    const yaml = [
      'name: x',
      'nodes:',
      '  - id: fix',
      '    type: agent',
      '    provider: openai',
      '    model: m',
      '    prompt: fix the tests',
      '    tools: [shell, write_file]',
      '    max_steps: 5',
      '    max_tokens: 1000',
      '    on_max_steps: finish',
      '    shell_timeout: 30s',
      '    tool_output_bytes: 2048',
      '',
    ].join('\n');
    const def = parseWorkflowYaml(yaml, limits);
    assert.deepEqual(def.graph.nodes[0], {
      id: 'fix',
      type: 'agent',
      provider: 'openai',
      model: 'm',
      prompt: 'fix the tests',
      tools: ['shell', 'write_file'],
      maxSteps: 5,
      maxTokens: 1000,
      onMaxSteps: 'finish',
      shellTimeout: '30s',
      toolOutputBytes: 2048,
    });
    assert.equal(workflowToYaml(def).includes('on_max_steps: finish'), true);
  });

  it('rejects unknown top-level keys and JSON spellings', () => {
    const err = appError(() =>
      parseWorkflowYaml('name: x\nruntimeConfig: {}\ngraph: {}\nfoo: 1\nnodes: []\n', limits),
    );
    assert.deepEqual(
      err.details.map((d) => d.path),
      ['runtimeConfig', 'graph', 'foo'],
    );
    assert.match(err.details[0]!.message, /runtime_config/);
  });

  it('requires a name and checks type and description', () => {
    const err = appError(() =>
      parseWorkflowYaml('type: robot\ndescription: [1]\nnodes: []\n', limits),
    );
    assert.deepEqual(
      err.details.map((d) => d.path),
      ['name', 'description', 'type'],
    );
    assert.match(err.details[2]!.message, /agent, ci, chat, automation/);
  });

  describe('malformed documents answer ERR_YAML_MALFORMED (400)', () => {
    const cases: [string, string, RegExp][] = [
      ['a syntax error', 'name: x\nnodes: [\n', /valid YAML/],
      ['a duplicate key', 'name: x\nname: y\n', /valid YAML/],
      ['two documents', 'name: x\n---\nname: y\n', /several/],
      ['a list root', '- a\n- b\n', /mapping/],
      ['a scalar root', 'hello\n', /mapping/],
      ['an empty document', '', /empty/],
      ['only a comment', '# nothing\n', /empty/],
    ];
    for (const [what, text, message] of cases) {
      it(what, () => {
        const err = appError(() => parseWorkflowYaml(text, limits));
        assert.equal(err.code, 'ERR_YAML_MALFORMED');
        assert.equal(err.status, 400);
        assert.match(err.message, message);
      });
    }

    it('gives line and column of a syntax error', () => {
      const err = appError(() =>
        parseWorkflowYaml('name: x\nnodes:\n  - id: a\n\ttype: noop\n', limits),
      );
      assert.match(err.details[0]!.path, /^line 4, column \d+$/);
    });

    it('points at the line indented one space too far, not at the line above it', () => {
      const text = 'name: x\nnodes:\n  - id: a\n    type: command\n     run: echo hi\n';
      const err = appError(() => parseWorkflowYaml(text, limits));
      assert.deepEqual(err.details, [
        {
          path: 'line 5, column 6',
          message:
            "indented deeper than line 4 above it, so YAML reads it as part of that line's value; align it with the keys it belongs with",
        },
      ]);
    });

    it('an alias bomb', () => {
      const bomb = [
        'a: &a [x, x, x, x, x, x, x, x, x]',
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
        'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
        'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
        'f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
      ].join('\n');
      const err = appError(() => parseWorkflowYaml(bomb, limits));
      assert.equal(err.code, 'ERR_YAML_MALFORMED');
      assert.match(err.message, /alias/);
    });

    it('nesting deeper than maxYamlDepth', () => {
      const deep = `name: x\nnodes:\n  - { id: a, type: http, url: "https://x", body: ${'['.repeat(70)}${']'.repeat(70)} }\n`;
      const err = appError(() => parseWorkflowYaml(deep, limits));
      assert.equal(err.code, 'ERR_YAML_MALFORMED');
      assert.match(err.details[0]!.path, /^nodes\[0\]\.body(\[0\])+$/);
      // The same document passes with a higher limit.
      parseWorkflowYaml(deep, { ...limits, maxYamlDepth: 100 });
    });

    it('pathological nesting without overflowing the stack', () => {
      const err = appError(() =>
        parseWorkflowYaml(`a: ${'['.repeat(20000)}${']'.repeat(20000)}`, limits),
      );
      assert.equal(err.code, 'ERR_YAML_MALFORMED');
    });
  });

  it('answers ERR_GRAPH_TOO_LARGE (413) beyond maxNodes, inline nodes included', () => {
    const nodes = (n: number) =>
      Array.from({ length: n }, (_, i) => `  - { id: n${i}, type: noop }`).join('\n');
    const err = appError(() =>
      parseWorkflowYaml(`name: big\nnodes:\n${nodes(6)}\n`, { ...limits, maxNodes: 5 }),
    );
    assert.equal(err.code, 'ERR_GRAPH_TOO_LARGE');
    assert.equal(err.status, 413);
    const inline = `name: big\nnodes:\n  - id: p\n    type: parallel\n    branches:\n${nodes(5).replace(/^/gm, '    ')}\n`;
    assert.equal(
      appError(() => parseWorkflowYaml(inline, { ...limits, maxNodes: 5 })).code,
      'ERR_GRAPH_TOO_LARGE',
    );
  });

  it('does not let __proto__ or constructor keys pollute anything', () => {
    const def = parseWorkflowYaml(
      [
        'name: proto',
        'variables: { __proto__: 1, constructor: two }',
        'nodes:',
        '  - id: __proto__',
        '    type: command',
        '    run: echo',
        '    env: { __proto__: polluted, constructor: x }',
        '  - { id: constructor, type: noop, needs: [__proto__] }',
      ].join('\n'),
      limits,
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(def.variables), Object.prototype);
    assert.deepEqual(Object.keys(def.variables), ['__proto__', 'constructor']);
    assert.equal(Object.getOwnPropertyDescriptor(def.variables, '__proto__')?.value, 1);
    const env = def.graph.nodes[0]!.env as Record<string, string>;
    assert.equal(Object.getOwnPropertyDescriptor(env, '__proto__')?.value, 'polluted');
    assert.deepEqual(def.graph.edges, [{ from: '__proto__', to: 'constructor' }]);
    // ...and survive the round trip.
    assert.deepEqual(parseWorkflowYaml(workflowToYaml(def), limits), def);
  });
});

describe('workflowToYaml', () => {
  it('writes snake_case keys, needs for plain edges and edges: only for conditional ones', () => {
    const def = parseWorkflowYaml(fixture('conditional-edges'), limits);
    const text = workflowToYaml(def);
    assert.match(text, /needs: \[build\]/);
    assert.match(text, /^edges:\n {2}- from: test\n {4}to: release\n {4}when: /m);
    assert.doesNotMatch(text, /from: build\n {4}to: test/);
  });

  it('round-trips every valid fixture', () => {
    for (const name of ['deploy-staging', 'every-node-type', 'conditional-edges']) {
      const def = parseWorkflowYaml(fixture(name), limits);
      const text = workflowToYaml(def);
      assert.match(text, /retention_hours|max_attempts|name:/);
      assert.deepEqual(parseWorkflowYaml(text, limits), def, name);
    }
  });
});
