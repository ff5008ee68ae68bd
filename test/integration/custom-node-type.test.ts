/**
 * A node type is one module (issue 22): a type defined in this file alone — schema, save-time
 * rule, engine behaviour or executor — is registered on a server and used through the API, with
 * no edit anywhere else. A server without it refuses the type when a workflow is saved.
 */
import assert from 'node:assert/strict';
import { Type } from 'typebox';
import { nodeSchema } from '../../src/definition/model.ts';
import { succeed } from '../../src/engine/draft.ts';
import { defineNodeType } from '../../src/nodes/node-type.ts';
import { builtinNodeTypes, createNodeRegistry } from '../../src/nodes/registry.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

/** Repeats a text; run by the worker, so `${{ }}` in `text` arrives rendered. */
const repeatNode = defineNodeType({
  type: 'repeat',
  schema: nodeSchema('repeat', {
    text: Type.String({ minLength: 1 }),
    times: Type.Optional(Type.Integer({ minimum: 1 })),
  }),
  description: 'Repeats a text.',
  outputs: [{ name: 'text', type: 'string', description: 'the text, repeated' }],
  check: (node, ctx) =>
    (node.times ?? 1) > 3 ? [{ path: ctx.field('times'), message: 'at most 3 times' }] : [],
  execute(ctx) {
    // Typed config: no cast, `times` is a number | undefined here.
    const times = ctx.node.times ?? 1;
    ctx.log('system', `repeating ${times} times`);
    return Promise.resolve({ status: 'succeeded', outputs: { text: ctx.node.text.repeat(times) } });
  },
});

/** Decided by the engine itself: succeeds at once with its `value`. */
const constantNode = defineNodeType({
  type: 'constant',
  schema: nodeSchema('constant', { value: Type.String() }),
  description: 'Succeeds with its value.',
  outputs: [{ name: 'value', type: 'string', description: 'the value' }],
  start: (d, id, node, attempt) => succeed(d, id, { value: node.value }, { attempt }),
});

const graph = {
  nodes: [
    { id: 'c', type: 'constant', value: 'ab' },
    { id: 'r', type: 'repeat', text: '${{ nodes.c.outputs.value }}-', times: 2, needs: ['c'] },
    { id: 'use', type: 'command', run: 'echo "${{ nodes.r.outputs.text }}"', needs: ['r'] },
  ],
};

for (const dialect of dialectNames) {
  describe(`a node type defined in one file (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let plain: Harness;
    before(async () => {
      h = await startHarness(dialect, {
        nodeTypes: createNodeRegistry([...builtinNodeTypes, repeatNode, constantNode]),
      });
      plain = await startHarness(dialect);
    });
    after(async () => {
      await h?.close();
      await plain?.close();
    });

    it('is validated, run and referenced like a built-in type', async () => {
      const wf = await createWorkflow(h, { name: `custom-${dialect}`, graph });
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.deepEqual(nodeOf(done, 'c').outputs, { value: 'ab' });
      assert.deepEqual(nodeOf(done, 'r').outputs, { text: 'ab-ab-' });
      assert.equal(nodeOf(done, 'use').status, 'succeeded');
    });

    it('refuses a config its schema or its check refuses, with the path', async () => {
      const res = await h.call('POST', '/api/v1/workflows', {
        name: `custom-bad-${dialect}`,
        graph: {
          nodes: [
            { id: 'a', type: 'repeat', text: 'x', times: 4 },
            { id: 'b', type: 'repeat', text: 'x', color: 'red' },
          ],
        },
      });
      assert.equal(res.statusCode, 422, res.body);
      const paths = (res.json().details as { path: string }[]).map((d) => d.path).sort();
      assert.deepEqual(paths, ['graph.nodes[0].times', 'graph.nodes[1].color']);
    });

    it('is an unknown type on a server that does not register it', async () => {
      const res = await plain.call('POST', '/api/v1/workflows', { name: 'custom-none', graph });
      assert.equal(res.statusCode, 422, res.body);
      const details = res.json().details as { path: string; message: string }[];
      assert.ok(
        details.some(
          (d) => d.path === 'graph.nodes[0].type' && /unknown node type/.test(d.message),
        ),
        JSON.stringify(details),
      );
    });
  });
}
