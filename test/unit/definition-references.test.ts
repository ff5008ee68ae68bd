/**
 * Save-time checks of what expressions name (issue 21): roots and `nodes.<id>` references,
 * each problem at the path of the field holding the expression.
 */
import assert from 'node:assert/strict';
import { describe, it } from '../helpers/suite.ts';
import { AppError } from '../../src/errors.ts';
import { defaultDefinitionLimits } from '../../src/definition/index.ts';
import {
  type Problem,
  definitionProblems,
  parseWorkflowYaml,
  validateDefinitionParts,
} from '../helpers/definition.ts';
import { expressionNames } from '../../src/definition/references.ts';

/** Where secrets can be read, as the problems say. */
const where =
  "secrets are read only in fields a node renders when it runs (a command's env, an http node's url, headers and body, an llm node's prompt, system and messages)";

/** The problems of a graph (JSON parts), or [] when it is valid. */
const problems = (nodes: unknown[], edges: unknown[] = [], limits = defaultDefinitionLimits) =>
  definitionProblems({ graph: { nodes, edges } }, limits);

const cmd = (id: string, run: string, needs?: string[]) => ({
  id,
  type: 'command',
  run,
  ...(needs && { needs }),
});

describe('expression names from the CEL AST', () => {
  const cases: [string, string[], string[]][] = [
    ['nodes.build.outputs.version', ['nodes'], ['build']],
    ["nodes['build'].status == 'succeeded'", ['nodes'], ['build']],
    ['nodes[params.which].status', ['nodes', 'params'], []],
    ['params.list.map(i, i + vars.N)', ['params', 'vars'], []],
    ['params.list.exists(x, x == item)', ['params', 'item'], []],
    ['cel.bind(v, nodes.a.outputs, v.x + w)', ['nodes', 'w'], ['a']],
    ["'nodes.ghost and secrets.X' + string(1) + type(1) == string", [], []],
    [
      'has(nodes.a.outputs.x) ? secrets.X : {"k": [trigger.data]}',
      ['nodes', 'secrets', 'trigger'],
      ['a'],
    ],
  ];
  for (const [expr, roots, nodes] of cases) {
    it(expr, () => {
      const names = expressionNames(expr);
      assert.deepEqual([...names!.roots].sort(), roots.sort());
      assert.deepEqual([...names!.nodes].sort(), nodes.sort());
    });
  }
});

describe('save-time reference checks', () => {
  const build = cmd('build', 'make');
  const cases: [string, unknown[], unknown[], Problem[]][] = [
    [
      'a typo of an upstream node',
      [build, cmd('test', 'echo ${{ nodes.bild.outputs.version }}', ['build'])],
      [],
      [
        {
          path: 'graph.nodes[1].run',
          message:
            "in 'nodes.bild.outputs.version': unknown node 'bild' (top-level nodes: build, test)",
        },
      ],
    ],
    [
      'a downstream node',
      [cmd('build', 'echo ${{ nodes.test.outputs.x }}'), cmd('test', 'true', ['build'])],
      [],
      [
        {
          path: 'graph.nodes[0].run',
          message:
            "in 'nodes.test.outputs.x': node 'test' is not upstream of 'build': no needs or edge path leads from it to 'build', so it has not run when 'build' does",
        },
      ],
    ],
    [
      'the node itself',
      [{ ...build, if: "nodes.build.status == 'failed'" }],
      [],
      [
        {
          path: 'graph.nodes[0].if',
          message:
            "in 'nodes.build.status == 'failed'': node 'build' reads its own outputs: a node sees only the nodes upstream of it",
        },
      ],
    ],
    [
      'a secret on a command line',
      [cmd('deploy', 'echo ${{ secrets.TOKEN }}')],
      [],
      [
        {
          path: 'graph.nodes[0].run',
          message:
            "in 'secrets.TOKEN': secrets cannot be read here: a command node reads secrets only in env (as environment variables, never on its command line)",
        },
      ],
    ],
    [
      'secrets where the engine decides: if, an edge when, an approval message',
      [
        { ...cmd('a', 'true'), if: "secrets.TOKEN == 'x'" },
        { id: 'ok', type: 'approval', message: 'token ${{ secrets.TOKEN }}' },
        cmd('b', 'true'),
      ],
      [{ from: 'a', to: 'b', when: "secrets['TOKEN'] != ''" }],
      [
        {
          path: 'graph.nodes[0].if',
          message: `in 'secrets.TOKEN == 'x'': secrets cannot be read here: the engine decides this itself and never sees secrets; ${where}`,
        },
        {
          path: 'graph.nodes[1].message',
          message: `in 'secrets.TOKEN': secrets cannot be read here: an approval node reads no secrets; ${where}`,
        },
        {
          path: 'graph.edges[0].when',
          message: `in 'secrets['TOKEN'] != ''': secrets cannot be read here: the engine decides this itself and never sees secrets; ${where}`,
        },
      ],
    ],
    [
      'a secret not named literally',
      [{ ...cmd('a', 'true'), env: { T: '${{ secrets[params.which] }}', U: '${{ secrets }}' } }],
      [],
      [
        {
          path: 'graph.nodes[0].env.T',
          message:
            "in 'secrets[params.which]': name each secret, as secrets.NAME or secrets['NAME'] (a node is given only the secrets it names)",
        },
        {
          path: 'graph.nodes[0].env.U',
          message:
            "in 'secrets': name each secret, as secrets.NAME or secrets['NAME'] (a node is given only the secrets it names)",
        },
      ],
    ],
    [
      'secrets where a node renders them: a command env, http url and headers, an inline command env',
      [
        { ...cmd('a', 'deploy'), env: { T: '${{ secrets.TOKEN }}', K: "${{ secrets['KEY'] }}" } },
        {
          id: 'call',
          type: 'http',
          url: 'https://example.com/${{ secrets.PATH_TOKEN }}',
          headers: { authorization: 'Bearer ${{ secrets.TOKEN }}' },
        },
        {
          id: 'each',
          type: 'map',
          items: '[1, 2]',
          node: { ...cmd('one', 'true'), env: { T: '${{ secrets.TOKEN + string(item) }}' } },
        },
      ],
      [],
      [],
    ],
    [
      'item outside a map template',
      [cmd('a', 'echo ${{ item }}')],
      [],
      [
        {
          path: 'graph.nodes[0].run',
          message:
            "in 'item': unknown name 'item'; expressions here see params, vars, nodes, execution, trigger; 'item' is defined only in the nodes a map node runs from its node",
        },
      ],
    ],
    [
      'an edge when reading a node that is not its source or upstream',
      [build, cmd('lint', 'true'), cmd('ship', 'true')],
      [{ from: 'build', to: 'ship', when: "nodes.lint.status == 'succeeded'" }],
      [
        {
          path: 'graph.edges[0].when',
          message:
            "in 'nodes.lint.status == 'succeeded'': node 'lint' is neither the edge's source 'build' nor upstream of it, so it has not run when the edge is decided",
        },
      ],
    ],
    [
      'an inline node read by id',
      [
        {
          id: 'each',
          type: 'map',
          items: 'params.list',
          node: cmd('one', 'echo ${{ item }}'),
        },
        cmd('after', 'echo ${{ nodes.one.outputs }}', ['each']),
      ],
      [],
      [
        {
          path: 'graph.nodes[1].run',
          message:
            "in 'nodes.one.outputs': node 'one' is an inline node: expressions see top-level nodes only",
        },
      ],
    ],
    [
      "a map's items do not see item; its template does not see the map's downstream",
      [
        build,
        {
          id: 'each',
          type: 'map',
          needs: ['build'],
          items: 'item',
          node: cmd('one', 'echo ${{ nodes.after.status }}'),
        },
        cmd('after', 'true', ['each']),
      ],
      [],
      [
        {
          path: 'graph.nodes[1].items',
          message:
            "in 'item': unknown name 'item'; expressions here see params, vars, nodes, execution, trigger; 'item' is defined only in the nodes a map node runs from its node",
        },
        {
          path: 'graph.nodes[1].node.run',
          message:
            "in 'nodes.after.status': node 'after' is not upstream of 'each': no needs or edge path leads from it to 'each', so it has not run when 'each' does",
        },
      ],
    ],
    [
      'good references: upstream through needs and edges, templates, macros, loop and parallel names',
      [
        build,
        cmd('test', 'echo ${{ nodes.build.outputs.v }} ${{ vars.ENV }} ${{ execution.id }}', [
          'build',
        ]),
        {
          id: 'each',
          type: 'map',
          needs: ['test'],
          items: 'nodes.build.outputs.list.filter(x, x != "")',
          node: cmd('one', 'echo ${{ item }} ${{ index }} ${{ nodes.build.outputs.v }}'),
        },
        {
          id: 'again',
          type: 'loop',
          needs: ['each'],
          until: 'outputs.done || iteration > 3',
          maxIterations: 5,
          node: cmd('step', 'echo ${{ iteration }} ${{ previous }} ${{ nodes.each.outputs }}'),
        },
        {
          id: 'fan',
          type: 'parallel',
          branches: [cmd('left', 'echo ${{ branch }} ${{ nodes.build.status }}')],
        },
        cmd('ship', "echo ${{ nodes['again'].outputs.iterations }} ${{ trigger.data }}"),
      ],
      [
        { from: 'again', to: 'ship' },
        { from: 'build', to: 'fan', when: "nodes.build.status == 'succeeded'" },
      ],
      [],
    ],
  ];
  for (const [what, nodes, edges, expected] of cases) {
    it(what, () => assert.deepEqual(problems(nodes, edges), expected));
  }

  it('reports every problem of a YAML document at its snake_case path', () => {
    const yaml = [
      'name: refs',
      'nodes:',
      '  - id: build',
      '    type: command',
      '    run: echo ${{ nodes.bild.outputs.version }}',
      '  - id: poll',
      '    type: loop',
      '    max_iterations: 3',
      '    until: previous.done',
      '    node: { id: once, type: command, run: "echo ${{ variables.A }}" }',
    ].join('\n');
    try {
      parseWorkflowYaml(yaml, defaultDefinitionLimits);
      assert.fail('expected ERR_WORKFLOW_INVALID');
    } catch (err) {
      assert.ok(err instanceof AppError, String(err));
      const details = err.details as Problem[];
      assert.deepEqual(
        details.map((d) => d.path),
        ['nodes[0].run', 'nodes[1].until', 'nodes[1].node.run'],
      );
      assert.match(
        details[1]!.message,
        /'previous' is defined only in the nodes a loop node runs from its node/,
      );
      assert.match(details[2]!.message, /the workflow variables are vars\.NAME/);
    }
  });
});

describe('llm providers at save time', () => {
  const llm = (provider: string) => ({
    id: 'ask',
    type: 'llm',
    provider,
    model: 'm',
    prompt: 'hi',
  });
  const cases: [string, readonly string[] | undefined, string, Problem[]][] = [
    ['configured', ['openai'], 'openai', []],
    ['not judged without a server', undefined, 'anything', []],
    ['templated: known only at run time', [], '${{ params.provider }}', []],
    [
      'not configured',
      ['openai', 'claude'],
      'opnai',
      [
        {
          path: 'graph.nodes[0].provider',
          message: "unknown LLM provider 'opnai' on this server (configured: openai, claude)",
        },
      ],
    ],
    [
      'none configured',
      [],
      'openai',
      [
        {
          path: 'graph.nodes[0].provider',
          message:
            "unknown LLM provider 'openai' on this server (none are configured; set llmProviders or SWITCHYARD_LLM_PROVIDERS)",
        },
      ],
    ],
  ];
  for (const [what, llmProviders, provider, expected] of cases) {
    it(what, () => {
      const limits = { ...defaultDefinitionLimits, ...(llmProviders && { llmProviders }) };
      assert.deepEqual(problems([llm(provider)], [], limits), expected);
      // An agent node's provider is checked the same way.
      const agent = { ...llm(provider), type: 'agent' };
      assert.deepEqual(problems([agent], [], limits), expected);
    });
  }
});

describe('default provider, known models and prices at save time', () => {
  const limits = {
    ...defaultDefinitionLimits,
    llmProviders: ['openai', 'claude'],
    llmModels: { openai: ['gpt-4o', 'gpt-4o-mini'] },
    defaultLlmProvider: 'openai',
    pricedModels: ['gpt-4o'],
  };
  const node = (more: Record<string, unknown>) => ({
    id: 'ask',
    type: 'llm',
    prompt: 'hi',
    ...more,
  });

  it('a node without provider takes the default; without one it is refused', () => {
    assert.deepEqual(problems([node({ model: 'gpt-4o' })], [], limits), []);
    const { defaultLlmProvider: _none, ...noDefault } = limits;
    assert.deepEqual(problems([node({ model: 'gpt-4o' })], [], noDefault), [
      {
        path: 'graph.nodes[0]',
        message:
          'names no provider and this server has no default LLM provider (configured: openai, claude; set default: true on one)',
      },
    ]);
    // Without a server nothing is judged.
    assert.deepEqual(problems([node({ model: 'x' })]), []);
  });

  it("a model outside the provider's models list is refused; a provider without a list takes any", () => {
    const expected = [
      {
        path: 'graph.nodes[0].model',
        message:
          "unknown model 'gpt-5' for LLM provider 'openai' (its models: gpt-4o, gpt-4o-mini)",
      },
    ];
    assert.deepEqual(problems([node({ model: 'gpt-5' })], [], limits), expected);
    assert.deepEqual(
      problems([node({ provider: 'openai', model: 'gpt-5' })], [], limits),
      expected,
    );
    assert.deepEqual(
      problems([{ ...node({ provider: 'openai', model: 'gpt-5' }), type: 'agent' }], [], limits),
      expected,
    );
    assert.deepEqual(problems([node({ provider: 'claude', model: 'any-model' })], [], limits), []);
    assert.deepEqual(
      problems([node({ model: '${{ params.model }}' })], [], limits),
      [],
      'a templated model is known only at run time',
    );
  });

  it('an unpriced model is a warning, not a problem, in JSON and in YAML', () => {
    const warnings: Problem[] = [];
    validateDefinitionParts(
      {
        graph: {
          nodes: [
            node({ model: 'gpt-4o' }),
            node({ id: 'cheap', model: 'gpt-4o-mini' }),
            { id: 'think', type: 'agent', provider: 'claude', model: 'claude-x', prompt: 'go' },
          ],
        },
      },
      limits,
      warnings,
    );
    const says = (m: string) =>
      `model '${m}' has no price in modelPrices: its tokens are counted, its cost is marked unpriced, not $0`;
    assert.deepEqual(warnings, [
      { path: 'graph.nodes[1].model', message: says('gpt-4o-mini') },
      { path: 'graph.nodes[2].model', message: says('claude-x') },
    ]);
    const yamlWarnings: Problem[] = [];
    parseWorkflowYaml(
      'name: w\nnodes:\n  - id: ask\n    type: llm\n    model: gpt-4o-mini\n    prompt: hi\n    max_tokens: 5\n',
      limits,
      yamlWarnings,
    );
    assert.deepEqual(yamlWarnings, [{ path: 'nodes[0].model', message: says('gpt-4o-mini') }]);
  });

  it('schema needs response_format: json and must be a JSON Schema', () => {
    assert.deepEqual(
      problems([node({ model: 'gpt-4o', schema: { type: 'object' } })], [], limits),
      [{ path: 'graph.nodes[0].schema', message: 'needs responseFormat: json' }],
    );
    assert.deepEqual(
      problems(
        [node({ model: 'gpt-4o', responseFormat: 'json', schema: { type: 'nonsense' } })],
        [],
        limits,
      ).map((p) => p.path),
      ['graph.nodes[0].schema'],
    );
    assert.deepEqual(
      problems(
        [node({ model: 'gpt-4o', responseFormat: 'json', schema: { type: 'array' } })],
        [],
        limits,
      ),
      [],
    );
  });
});
