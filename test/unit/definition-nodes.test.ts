import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { defaultDefinitionLimits } from '../../src/definition/index.ts';
import { validateDefinitionParts } from '../helpers/definition.ts';
import { builtinNodeRegistry as nodeTypes } from '../../src/nodes/registry.ts';

/** Paths of the problems of a graph made of `nodes` (empty when valid). */
function paths(nodes: unknown[], edges: unknown[] = []): string[] {
  try {
    validateDefinitionParts({ graph: { nodes, edges } }, defaultDefinitionLimits);
    return [];
  } catch (err) {
    assert.ok(err instanceof AppError);
    return err.details.map((d) => d.path);
  }
}
const noop = (id: string) => ({ id, type: 'noop' });

describe('node types', () => {
  it('registers every DESIGN §3 type once, each with a schema', () => {
    assert.deepEqual([...nodeTypes.keys()].sort(), [
      'agent',
      'approval',
      'command',
      'condition',
      'http',
      'input',
      'llm',
      'loop',
      'map',
      'noop',
      'parallel',
      'switch',
      'wait',
      'workflow',
    ]);
    for (const [type, spec] of nodeTypes) {
      assert.equal(spec.type, type);
      assert.equal(
        (spec.schema as { additionalProperties?: unknown }).additionalProperties,
        false,
        type,
      );
    }
  });

  it('rejects unknown fields on every type', () => {
    for (const type of nodeTypes.keys()) {
      assert.ok(paths([{ id: 'a', type, bogus: 1 }]).includes('graph.nodes[0].bogus'), type);
    }
  });

  it('checks ids', () => {
    assert.deepEqual(
      paths([
        { id: '9lives', type: 'noop' },
        { id: 'x'.repeat(65), type: 'noop' },
        { id: 'ok-id_2', type: 'noop' },
        { type: 'noop' },
      ]),
      ['graph.nodes[0].id', 'graph.nodes[1].id', 'graph.nodes[3].id'],
    );
  });

  const cases: [string, unknown[], string[]][] = [
    ['command needs run', [{ id: 'a', type: 'command' }], ['graph.nodes[0].run']],
    [
      'command outputs are names',
      [{ id: 'a', type: 'command', run: 'x', outputs: ['ok', 'not ok'] }],
      ['graph.nodes[0].outputs[1]'],
    ],
    [
      'http needs an http(s) url',
      [{ id: 'a', type: 'http', url: 'file:///etc/passwd' }],
      ['graph.nodes[0].url'],
    ],
    ['http url may be templated', [{ id: 'a', type: 'http', url: '${{ vars.URL }}' }], []],
    [
      'http expect_status is a code or codes',
      [
        { id: 'a', type: 'http', url: 'https://x', expectStatus: [200, 700] },
        { id: 'b', type: 'http', url: 'https://x', expectStatus: '200' },
      ],
      ['graph.nodes[0].expectStatus[1]', 'graph.nodes[1].expectStatus'],
    ],
    [
      'llm needs exactly one of prompt and messages',
      [
        { id: 'a', type: 'llm', provider: 'p', model: 'm' },
        {
          id: 'b',
          type: 'llm',
          provider: 'p',
          model: 'm',
          prompt: 'x',
          messages: [{ role: 'user', content: 'x' }],
        },
        {
          id: 'c',
          type: 'llm',
          provider: 'p',
          model: 'm',
          messages: [{ role: 'robot', content: 'x' }],
        },
        { id: 'd', type: 'llm', provider: 'p', model: 'm', prompt: 'x', temperature: 3 },
      ],
      [
        'graph.nodes[2].messages[0].role',
        'graph.nodes[3].temperature',
        'graph.nodes[0]',
        'graph.nodes[1]',
      ],
    ],
    [
      'agent needs a prompt, known tools and bounded limits',
      [
        { id: 'a', type: 'agent', provider: 'p', model: 'm' },
        { id: 'b', type: 'agent', provider: 'p', model: 'm', prompt: 'x', tools: ['browser'] },
        { id: 'c', type: 'agent', provider: 'p', model: 'm', prompt: 'x', maxSteps: 0 },
        { id: 'd', type: 'agent', provider: 'p', model: 'm', prompt: 'x', onMaxSteps: 'stop' },
        { id: 'e', type: 'agent', provider: 'p', model: 'm', prompt: 'x', shellTimeout: 'soon' },
        {
          id: 'f',
          type: 'agent',
          provider: 'p',
          model: 'm',
          prompt: 'x',
          tools: ['shell', 'read_file'],
          maxSteps: 200,
          maxTokens: 5000,
          onMaxSteps: 'finish',
          shellTimeout: '30s',
          toolOutputBytes: 4096,
        },
        {
          id: 'g',
          type: 'agent',
          provider: 'p',
          model: 'm',
          prompt: 'x',
          tools: ['shell', 'workflow'],
          workflows: ['deploy', 'wf_123'],
        },
        // `workflows` limits a tool the node is not offered (the default tools lack it).
        { id: 'h', type: 'agent', provider: 'p', model: 'm', prompt: 'x', workflows: ['deploy'] },
        { id: 'i', type: 'agent', provider: 'p', model: 'm', prompt: 'x', workflows: [''] },
      ],
      [
        'graph.nodes[0].prompt',
        'graph.nodes[1].tools[0]',
        'graph.nodes[2].maxSteps',
        'graph.nodes[3].onMaxSteps',
        'graph.nodes[4].shellTimeout',
        'graph.nodes[8].workflows[0]',
        'graph.nodes[7].workflows',
      ],
    ],
    [
      'approval on_reject must exist and not be itself',
      [
        { id: 'a', type: 'approval', onReject: 'ghost' },
        { id: 'b', type: 'approval', onReject: 'b' },
        { id: 'c', type: 'approval', onReject: 'a', approvers: ['x'] },
      ],
      ['graph.nodes[0].onReject', 'graph.nodes[1].onReject'],
    ],
    [
      'input schema is an object',
      [{ id: 'a', type: 'input', schema: 'text' }],
      ['graph.nodes[0].schema'],
    ],
    [
      'condition targets are direct successors',
      [
        { id: 'c', type: 'condition', expression: 'x >', then: ['a'] },
        {
          id: 'd',
          type: 'condition',
          expression: 'params.x > 1',
          then: ['a'],
          else: ['b', 'ghost'],
        },
        { ...noop('a'), needs: ['d'] },
        noop('b'),
      ],
      ['graph.nodes[0].expression', 'graph.nodes[1].else[0]', 'graph.nodes[1].else[1]'],
    ],
    [
      'switch cases are non-empty and point at successors',
      [
        { id: 's', type: 'switch', value: 'params.x', cases: [] },
        {
          id: 't',
          type: 'switch',
          value: 'params.x',
          cases: [
            { equals: 1, to: ['a'] },
            { equals: [1], to: [] },
          ],
          default: ['b'],
        },
        { ...noop('a'), needs: ['t'] },
        noop('b'),
      ],
      ['graph.nodes[0].cases', 'graph.nodes[1].cases[1].equals', 'graph.nodes[1].cases[1].to'],
    ],
    [
      'switch default must be a successor',
      [
        {
          id: 't',
          type: 'switch',
          value: 'params.x',
          cases: [{ equals: 'x', to: ['a'] }],
          default: ['b'],
        },
        { ...noop('a'), needs: ['t'] },
        noop('b'),
      ],
      ['graph.nodes[0].default[0]'],
    ],
    [
      'parallel branches are validated recursively',
      [
        {
          id: 'p',
          type: 'parallel',
          branches: [
            { id: 'b1', type: 'command' },
            { id: 'b2', type: 'parallel', branches: [{ id: 'b3', type: 'warp' }] },
            { id: 'b4', type: 'noop', needs: ['p'] },
          ],
        },
      ],
      [
        'graph.nodes[0].branches[0].run',
        'graph.nodes[0].branches[1].branches[0].type',
        'graph.nodes[0].branches[2].needs',
      ],
    ],
    [
      'parallel needs branches',
      [{ id: 'p', type: 'parallel', branches: [], concurrency: 0 }],
      ['graph.nodes[0].branches', 'graph.nodes[0].concurrency'],
    ],
    [
      'map needs items and a node',
      [
        { id: 'm', type: 'map', items: 'params.list' },
        { id: 'n', type: 'map', items: '[1,', node: { id: 'x', type: 'noop' } },
      ],
      ['graph.nodes[0].node', 'graph.nodes[1].items'],
    ],
    [
      'loop is bounded',
      [
        { id: 'l', type: 'loop', until: 'true', node: noop('x'), maxIterations: 10001 },
        { id: 'k', type: 'loop', until: 'true', node: noop('y') },
      ],
      ['graph.nodes[0].maxIterations', 'graph.nodes[1].maxIterations'],
    ],
    [
      'inline ids are unique across the graph',
      [noop('x'), { id: 'l', type: 'loop', until: 'true', node: noop('x'), maxIterations: 3 }],
      ['graph.nodes[1].node.id'],
    ],
    [
      'edges connect top-level nodes only',
      [
        { id: 'l', type: 'loop', until: 'true', node: noop('inner'), maxIterations: 3 },
        { ...noop('a'), needs: ['inner'] },
      ],
      ['graph.nodes[1].needs[0]'],
    ],
    [
      'wait needs exactly one of duration and until',
      [
        { id: 'a', type: 'wait' },
        { id: 'b', type: 'wait', duration: '1s', until: '2030-01-01T00:00:00Z' },
        { id: 'c', type: 'wait', until: 'tomorrow at noon' },
        { id: 'd', type: 'wait', until: '2030-01-01T00:00:00+02:00' },
        { id: 'e', type: 'wait', until: '${{ params.at }}' },
      ],
      ['graph.nodes[2].until', 'graph.nodes[0]', 'graph.nodes[1]'],
    ],
    [
      'a command runs inside the workspace: relative, or absolute under /workspace',
      [
        { id: 'a', type: 'command', run: 'true', workingDir: '/workspace/src' },
        { id: 'b', type: 'command', run: 'true', workingDir: 'src/../lib' },
        { id: 'c', type: 'command', run: 'true', workingDir: '${{ params.dir }}' },
        { id: 'd', type: 'command', run: 'true', workingDir: '/tmp' },
        { id: 'e', type: 'command', run: 'true', workingDir: '../up' },
        { id: 'f', type: 'command', run: 'true', workingDir: '/workspace/../etc' },
      ],
      ['graph.nodes[3].workingDir', 'graph.nodes[4].workingDir', 'graph.nodes[5].workingDir'],
    ],
    [
      'workflow names its child',
      [{ id: 'w', type: 'workflow', workflow: '', version: 0, wait: 'yes' }],
      ['graph.nodes[0].workflow', 'graph.nodes[0].version', 'graph.nodes[0].wait'],
    ],
    [
      'common fields are checked on every type',
      [
        {
          id: 'a',
          type: 'noop',
          name: 5,
          if: '',
          continueOnError: 'yes',
          artifacts: 'x',
          env: { A: 1 },
        },
      ],
      [
        'graph.nodes[0].name',
        'graph.nodes[0].if',
        'graph.nodes[0].continueOnError',
        'graph.nodes[0].artifacts',
        'graph.nodes[0].env.A',
      ],
    ],
  ];
  for (const [what, nodes, expected] of cases) {
    it(what, () => assert.deepEqual(paths(nodes), expected));
  }
});
