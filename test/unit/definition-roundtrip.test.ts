import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  defaultDefinitionLimits,
  normalizeGraph,
  type Graph,
  type GraphEdge,
  type GraphNode,
  type Trigger,
  type WorkflowDefinition,
} from '../../src/definition/index.ts';
import {
  parseWorkflowYaml,
  validateDefinitionParts,
  workflowToYaml,
} from '../helpers/definition.ts';
import { workflowTypes } from '../../src/types.ts';

const limits = defaultDefinitionLimits;

// Free text: any string without `${{` (spans must hold valid CEL), plus a few with templates.
const text = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !s.includes('${{')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }).filter((s) => !s.includes('${{')) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'a: b',
      '- x',
      '#hash',
      'true',
      '1e3',
      'null',
      '',
      '  pad ',
      'multi\nline\n',
      'tab\tx',
      '\u2028',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'Deploy ${{ params.ref }}!',
      '${{ vars.ENV }}',
      'x ${{ {"a": "}}"} }} y',
    ),
  },
);
const nonEmptyText = text.filter((s) => s.length > 0);
const envName = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/),
  fc.constantFrom('__proto__', 'constructor', 'PATH', 'lower_case'),
);
const envMap = fc.dictionary(envName, text, { noNullPrototype: true, maxKeys: 4 });
const cel = fc.constantFrom(
  'true',
  'params.go == true',
  '${{ !params.dry_run }}',
  "execution.id != ''",
  'size(vars.list) > 2',
);
const duration = fc.constantFrom('500ms', '2s', '15m', '1h30m', '1d', '0s', '1d2h3m4s5ms');
const jsonish = fc
  .jsonValue({ maxDepth: 3 })
  .map(
    (v) =>
      JSON.parse(
        JSON.stringify(v, (_k, x: unknown) =>
          typeof x === 'string' ? x.replaceAll('${{', '$ {{') : x,
        ),
      ) as unknown,
  );
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });

const retry = fc.record(
  {
    maxAttempts: fc.integer({ min: 1, max: 100 }),
    backoff: fc.constantFrom('fixed', 'exponential'),
    initialInterval: fc.constant('1s'),
    maxInterval: fc.constantFrom('1s', '1m'),
    jitter: fc.oneof(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true })),
  },
  { noNullPrototype: true, requiredKeys: [] },
);

const common = {
  name: fc.string({ maxLength: 20 }).filter((s) => !s.includes('${{')),
  if: cel,
  retry,
  timeout: duration,
  continueOnError: fc.boolean(),
  artifacts: fc.array(fc.constantFrom('out/**', 'coverage.out', 'a b.txt'), {
    minLength: 0,
    maxLength: 2,
  }),
  env: envMap,
};

/** Fields of each leaf node type (no references to other nodes). */
const leafFields: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  command: fc.record(
    {
      run: nonEmptyText,
      shell: fc.constantFrom('bash', 'sh -e'),
      workingDir: fc.constantFrom('src', 'a/b'),
      image: fc.constantFrom('alpine:3', 'node:20'),
      outputs: fc.array(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/), { maxLength: 3 }),
    },
    { noNullPrototype: true, requiredKeys: ['run'] },
  ),
  http: fc.record(
    {
      url: fc.constantFrom(
        'https://example.com/x?a=1',
        'http://localhost:8080',
        'https://${{ vars.HOST }}/p',
      ),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
      headers: fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/), text, {
        noNullPrototype: true,
        maxKeys: 3,
      }),
      body: jsonish,
      expectStatus: fc.oneof(
        fc.integer({ min: 100, max: 599 }),
        fc.array(fc.integer({ min: 100, max: 599 }), { minLength: 1, maxLength: 3 }),
      ),
    },
    { noNullPrototype: true, requiredKeys: ['url'] },
  ),
  llm: fc.record(
    {
      provider: fc.constantFrom('openai', 'anthropic'),
      model: fc.constantFrom('gpt-4o', 'claude-sonnet'),
      prompt: nonEmptyText,
      system: text,
      maxTokens: fc.integer({ min: 1, max: 4096 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    },
    { noNullPrototype: true, requiredKeys: ['provider', 'model', 'prompt'] },
  ),
  input: fc.record(
    {
      message: text,
      schema: fc.dictionary(fc.string({ maxLength: 8 }), jsonish, {
        noNullPrototype: true,
        maxKeys: 3,
      }),
    },
    { noNullPrototype: true, requiredKeys: [] },
  ),
  wait: fc.oneof(
    duration.map((d) => ({ duration: d })),
    fc.constantFrom('2030-01-01T00:00:00Z', 'params.at').map((u) => ({ until: u })),
  ),
  workflow: fc.record(
    {
      workflow: fc.constantFrom('child', 'wf_01H'),
      version: fc.integer({ min: 1, max: 9 }),
      params: fc.dictionary(
        fc.oneof(
          fc.string({ maxLength: 8 }),
          fc.constantFrom('__proto__', 'snake_key', 'camelKey'),
        ),
        jsonish,
        { noNullPrototype: true, maxKeys: 3 },
      ),
      wait: fc.boolean(),
    },
    { noNullPrototype: true, requiredKeys: ['workflow'] },
  ),
  noop: fc.constant({}),
};
const leafType = fc.constantFrom(...Object.keys(leafFields));
const leaf = (id: string) =>
  leafType.chain((type) =>
    fc
      .tuple(leafFields[type]!, fc.record(common, { noNullPrototype: true, requiredKeys: [] }))
      .map(([fields, extra]) => ({ ...extra, id, type, ...fields })),
  );

/** Kinds of node that need the rest of the graph: filled in after the edges are known. */
const kinds = [
  'leaf',
  'leaf',
  'leaf',
  'condition',
  'switch',
  'approval',
  'parallel',
  'map',
  'loop',
] as const;

const definition = fc
  .uniqueArray(
    fc.oneof(
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,12}$/),
      fc.constantFrom('__proto__', 'constructor'),
    ),
    {
      minLength: 1,
      maxLength: 14,
    },
  )
  .chain((ids) => {
    const n = Math.max(1, Math.ceil(ids.length / 2));
    const top = ids.slice(0, n);
    const spare = ids.slice(n);
    return fc.record({
      top: fc.constant(top),
      spare: fc.constant(spare),
      kinds: fc.array(fc.constantFrom(...kinds), { minLength: n, maxLength: n }),
      leaves: fc.tuple(...[...top, ...spare].map((id) => leaf(id))),
      // For node i: which earlier nodes it needs, and which it is reached from conditionally.
      needs: fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: n, maxLength: n }),
      conditional: fc.array(fc.tuple(fc.nat(), fc.nat(), cel), { maxLength: 3 }),
      picks: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
      graphExtra: fc.record(
        { failFast: fc.boolean(), timeout: duration, retry },
        { noNullPrototype: true, requiredKeys: [] },
      ),
      meta: fc.record({
        name: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== ''),
        description: text,
        type: fc.constantFrom(...workflowTypes),
        variables: fc.dictionary(
          fc.oneof(
            fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/),
            fc.constantFrom('__proto__', 'ENV', 'env'),
          ),
          fc.oneof(text, fc.integer(), finite, fc.boolean()),
          { noNullPrototype: true, maxKeys: 4 },
        ),
        runtimeConfig: fc.record(
          {
            mode: fc.constantFrom('per_execution', 'per_workflow', 'shared'),
            runtime: fc.constantFrom('auto', 'local', 'docker'),
            image: fc.constantFrom('dev-go', 'alpine:3'),
            cpu: fc.constantFrom('1', '0.5', '2'),
            memory: fc.constantFrom('512Mi', '1Gi', '64Mi'),
            pids: fc.integer({ min: 1, max: 4096 }),
            replicas: fc.integer({ min: 1, max: 10 }),
            retentionHours: fc.oneof(fc.integer({ min: 1, max: 720 }), fc.constant(0.5)),
            idleTimeout: duration,
            network: fc.constantFrom('none', 'outbound', 'host'),
            artifacts: fc.array(fc.constantFrom('**/*.log', 'dist/**'), { maxLength: 2 }),
          },
          { noNullPrototype: true, requiredKeys: [] },
        ),
        triggerConfig: triggers,
        concurrency: fc.option(concurrency, { nil: undefined }),
      }),
    });
  })
  .map((g): WorkflowDefinition => {
    const { top, spare, kinds: nodeKinds, leaves, picks } = g;
    const n = top.length;
    const plain: GraphEdge[] = [];
    const conditional: GraphEdge[] = [];
    const pairs = new Set<string>();
    g.needs.forEach((froms, i) => {
      for (const f of froms) {
        if (i === 0) break;
        const from = top[f % i]!;
        if (!pairs.has(`${from}>${top[i]!}`)) plain.push({ from, to: top[i]! });
        pairs.add(`${from}>${top[i]!}`);
      }
    });
    for (const [a, b, when] of g.conditional) {
      if (n < 2) break;
      const to = 1 + (b % (n - 1));
      const from = top[a % to]!;
      if (pairs.has(`${from}>${top[to]!}`)) continue;
      pairs.add(`${from}>${top[to]!}`);
      conditional.push({ from, to: top[to]!, when });
    }
    const successors = (id: string) =>
      [...plain, ...conditional].filter((e) => e.from === id).map((e) => e.to);
    const pick = <T>(list: T[], k: number): T[] =>
      list.filter((_, j) => ((picks[k % picks.length]! >> j) & 1) === 1);
    let spareAt = 0;
    const inline = (): GraphNode => leaves[n + spareAt++]!;
    const nodes = top.map((id, i): GraphNode => {
      const base = leaves[i]!;
      const kind = nodeKinds[i]!;
      const succ = successors(id);
      const { id: _id, type: _type, ...commonish } = base;
      const shared = Object.fromEntries(Object.entries(commonish).filter(([k]) => k in common));
      switch (kind) {
        case 'condition': {
          const then = pick(succ, i);
          const otherwise = pick(succ, i + 1);
          return {
            ...shared,
            id,
            type: 'condition',
            expression: 'params.x > 1',
            ...(then.length ? { then } : {}),
            ...(otherwise.length ? { else: otherwise } : {}),
          };
        }
        case 'switch':
          if (succ.length === 0) return base;
          return {
            ...shared,
            id,
            type: 'switch',
            value: 'params.mode',
            cases: [
              { equals: 'a', to: [succ[0]!] },
              { equals: 2, to: succ },
            ],
            ...(pick(succ, i).length ? { default: pick(succ, i) } : {}),
          };
        case 'approval': {
          const others = top.filter((t) => t !== id);
          return {
            ...shared,
            id,
            type: 'approval',
            message: 'ok?',
            approvers: ['alice'],
            ...(others.length ? { onReject: others[picks[i % 8]! % others.length]! } : {}),
          };
        }
        case 'parallel':
          if (spareAt >= spare.length) return base;
          return {
            ...shared,
            id,
            type: 'parallel',
            branches: [inline(), ...(spareAt < spare.length ? [inline()] : [])],
            concurrency: 2,
          };
        case 'map':
          if (spareAt >= spare.length) return base;
          return {
            ...shared,
            id,
            type: 'map',
            items: '${{ params.items }}',
            node: inline(),
            concurrency: 3,
          };
        case 'loop':
          if (spareAt >= spare.length) return base;
          return {
            ...shared,
            id,
            type: 'loop',
            node: inline(),
            until: 'outputs.done',
            maxIterations: 5,
          };
        default:
          return base;
      }
    });
    const graph: Graph = normalizeGraph({
      nodes,
      edges: [...plain, ...conditional],
      ...g.graphExtra,
    });
    const { concurrency: c, ...meta } = g.meta;
    return { ...meta, graph, ...(c && { concurrency: c }) };
  });

const input = fc.record(
  {
    type: fc.constantFrom('string', 'number', 'integer', 'boolean', 'object', 'array'),
    required: fc.boolean(),
    description: text,
  },
  { noNullPrototype: true, requiredKeys: ['type'] },
);
const valueOf: Record<string, fc.Arbitrary<unknown>> = {
  string: text,
  number: finite,
  integer: fc.integer(),
  boolean: fc.boolean(),
  object: fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), {
    noNullPrototype: true,
    maxKeys: 2,
  }),
  array: fc.array(fc.integer(), { maxLength: 2 }),
};
const inputWithValues = input.chain((spec) =>
  fc
    .record({
      d: fc.option(valueOf[spec.type]!, { nil: undefined }),
      e: fc.option(fc.array(valueOf[spec.type]!, { minLength: 1, maxLength: 3 }), {
        nil: undefined,
      }),
    })
    .map(({ d, e }) => ({
      ...spec,
      ...(e !== undefined ? { enum: e } : {}),
      ...(d !== undefined ? { default: e !== undefined ? e[0] : d } : {}),
    })),
);
const triggers: fc.Arbitrary<Trigger[]> = fc
  .record({
    manual: fc.option(
      fc.dictionary(
        fc.oneof(
          fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/),
          fc.constantFrom('dry_run', 'dryRun', '__proto__'),
        ),
        inputWithValues,
        { noNullPrototype: true, maxKeys: 3 },
      ),
      { nil: undefined },
    ),
    schedules: fc.array(
      fc.record(
        {
          cron: fc.constantFrom('*/5 * * * *', '0 0 3 * * 1-5', '@daily'),
          timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York'),
          catchup: fc.constantFrom('skip', 'latest', 'all'),
          catchupLimit: fc.integer({ min: 1, max: 100 }),
          jitter: fc.constantFrom('5s', '1m'),
          overlap: fc.constantFrom('skip', 'buffer_one', 'buffer_all', 'cancel_other', 'allow_all'),
        },
        { noNullPrototype: true, requiredKeys: ['cron'] },
      ),
      { maxLength: 2 },
    ),
    events: fc.array(
      fc.record(
        {
          event: fc.constantFrom('pr.merged', 'push'),
          branches: fc.array(fc.constantFrom('main', 'release/*'), { maxLength: 2 }),
          paths: fc.array(fc.constantFrom('src/**', 'docs/*.md'), { maxLength: 2 }),
        },
        { noNullPrototype: true, requiredKeys: ['event'] },
      ),
      { maxLength: 2 },
    ),
    hooks: fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/), { maxLength: 2 }),
  })
  .map(({ manual, schedules, events, hooks }) => [
    ...(manual === undefined
      ? []
      : [
          {
            type: 'manual' as const,
            ...(Object.keys(manual).length ? { inputs: manual } : {}),
          } as Trigger,
        ]),
    ...schedules.map((s) => ({ type: 'schedule' as const, ...s })),
    ...events.map((e) => ({ type: 'event' as const, ...e })),
    ...hooks.map((name) => ({ type: 'webhook' as const, name })),
  ]);

// The group is text with templates over the roots a new run has; max and policy optional.
const concurrency = fc.record(
  {
    group: fc.oneof(
      nonEmptyText.filter((t) => t.length <= 200),
      fc.constantFrom(
        'deploy-${{ params.env }}',
        '${{ trigger.data.branch }}',
        'g-${{ vars.ENV }}',
      ),
    ),
    max: fc.integer({ min: 1, max: 1000 }),
    policy: fc.constantFrom('queue' as const, 'skip' as const, 'cancel_running' as const),
  },
  { noNullPrototype: true, requiredKeys: ['group'] },
);

describe('definition round trip', () => {
  it('parseWorkflowYaml(workflowToYaml(def)) equals def for generated canonical definitions', () => {
    fc.assert(
      fc.property(definition, (def) => {
        // The generated definition is valid and canonical...
        const parts = validateDefinitionParts(
          {
            graph: def.graph,
            variables: def.variables,
            runtimeConfig: def.runtimeConfig,
            triggerConfig: def.triggerConfig,
            ...(def.concurrency && { concurrency: def.concurrency }),
          },
          limits,
        );
        assert.deepStrictEqual(parts, {
          graph: def.graph,
          variables: def.variables,
          runtimeConfig: def.runtimeConfig,
          triggerConfig: def.triggerConfig,
          ...(def.concurrency && { concurrency: def.concurrency }),
        });
        // ...and survives export then import.
        const yaml = workflowToYaml(def);
        assert.deepStrictEqual(parseWorkflowYaml(yaml, limits), def, yaml);
        // Exporting again gives the same text.
        assert.equal(workflowToYaml(parseWorkflowYaml(yaml, limits)), yaml);
      }),
      { numRuns: 300 },
    );
  });

  it('normalizeGraph is idempotent', () => {
    const anyGraph = fc
      .record({
        ids: fc.uniqueArray(fc.stringMatching(/^[a-e]$/), { minLength: 1, maxLength: 5 }),
        needs: fc.array(fc.array(fc.nat(), { maxLength: 4 }), { maxLength: 5 }),
        edges: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.option(cel, { nil: undefined })), {
          maxLength: 8,
        }),
      })
      .map(({ ids, needs, edges }): Graph => ({
        nodes: ids.map((id, i) => ({
          id,
          type: 'noop',
          ...(needs[i] ? { needs: needs[i].map((k) => ids[k % ids.length]!) } : {}),
        })),
        edges: edges.map(([a, b, when]) => ({
          from: ids[a % ids.length]!,
          to: ids[b % ids.length]!,
          ...(when === undefined ? {} : { when }),
        })),
      }));
    fc.assert(
      fc.property(anyGraph, (graph) => {
        const once = normalizeGraph(graph);
        assert.deepStrictEqual(normalizeGraph(once), once);
        assert.ok(once.nodes.every((node) => !('needs' in node)));
        const plainKeys = once.edges
          .filter((e) => e.when === undefined)
          .map((e) => `${e.from}>${e.to}`);
        assert.equal(new Set(plainKeys).size, plainKeys.length, 'no duplicate plain edges');
      }),
      { numRuns: 500 },
    );
  });
});
