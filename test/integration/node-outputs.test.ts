/**
 * Every node type's outputs are what its module declares (issue 21, item 13): one workflow using
 * every built-in type runs through the API — http against a loopback listener, llm and agent (an
 * answer without tools) against a fake OpenAI-compatible provider, the approval and the input
 * answered through their routes — and each node's output keys are compared with the declared
 * ones, which docs/workflow-yaml.md shows (the table there is generated from the same
 * declarations and checked here too).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinNodeRegistry, builtinNodeTypes } from '../../src/nodes/registry.ts';
import { documentedTable, outputsDoc, outputsTable } from '../../scripts/node-outputs.ts';
import { startLocalServer } from '../helpers/exec-context.ts';
import {
  createWorkflow,
  executionUrl,
  nodeOf,
  runWorkflow,
  waitForNode,
  waitForStatus,
} from '../helpers/executions.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

/** The keys a node of `type` may have, and those it must have ('<name>' entries excepted). */
function declared(type: string): string[] {
  const spec = builtinNodeRegistry.get(type);
  assert.ok(spec, type);
  return spec.outputs.map((o) => o.name).filter((name) => name !== '<name>');
}

describe('node outputs', () => {
  it('docs/workflow-yaml.md holds the table of the declared outputs (npm run docs:nodes)', async () => {
    const documented = documentedTable(readFileSync(outputsDoc, 'utf8'));
    assert.equal(documented, await outputsTable(builtinNodeTypes));
  });

  // Outputs do not depend on the store: SQLite only.
  describe('through the API', () => {
    let h: Harness;
    let web: Awaited<ReturnType<typeof startLocalServer>>;
    before(async () => {
      web = await startLocalServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        if (req.url === '/v1/chat/completions') {
          res.end(
            JSON.stringify({
              // JSON, so the llm node's `json` output (response_format: json) is there too.
              choices: [
                {
                  message: { role: 'assistant', content: '{"greeting": "hi"}' },
                  finish_reason: 'stop',
                },
              ],
              usage: { prompt_tokens: 2, completion_tokens: 1 },
            }),
          );
        } else res.end('{"ok":true}');
      });
      h = await startHarness('sqlite', {
        config: {
          egressAllow: [`127.0.0.1:${new URL(web.url).port}`],
          llmProviders: { fake: { kind: 'openai', baseUrl: `${web.url}/v1` } },
        },
      });
    });
    after(async () => {
      await h?.close();
      await web?.close();
    });

    it('every built-in type gives the outputs its module declares', async () => {
      const child = await createWorkflow(h, {
        name: 'outputs-child',
        graph: { nodes: [{ id: 'x', type: 'noop' }] },
      });
      const sh = (id: string) => ({ id, type: 'command', run: 'true' });
      const nodes = [
        {
          id: 'cmd',
          type: 'command',
          run: 'echo version=1.2 >> "$SWITCHYARD_OUTPUT"',
          outputs: ['version'],
        },
        { id: 'web', type: 'http', url: `${web.url}/status` },
        {
          id: 'ask',
          type: 'llm',
          provider: 'fake',
          model: 'm',
          prompt: 'hello',
          responseFormat: 'json',
        },
        { id: 'think', type: 'agent', provider: 'fake', model: 'm', prompt: 'hello' },
        { id: 'ok', type: 'approval', message: 'go?' },
        { id: 'say', type: 'input', message: 'say something' },
        { id: 'cond', type: 'condition', expression: 'true', then: ['sw'] },
        {
          id: 'sw',
          type: 'switch',
          value: '1',
          cases: [{ equals: 1, to: ['par'] }],
          needs: ['cond'],
        },
        { id: 'par', type: 'parallel', branches: [sh('a'), sh('b')], needs: ['sw'] },
        { id: 'each', type: 'map', items: '[1, 2]', node: { id: 'one', type: 'noop' } },
        {
          id: 'rep',
          type: 'loop',
          node: { id: 'turn', type: 'noop' },
          until: 'iteration >= 2',
          maxIterations: 5,
        },
        { id: 'pause', type: 'wait', duration: '1ms' },
        { id: 'sub', type: 'workflow', workflow: child.id },
        { id: 'end', type: 'noop' },
      ];
      const wf = await createWorkflow(h, { name: 'outputs-all', graph: { nodes } });
      // Every type appears once, so a new type without a case here fails this test.
      assert.deepEqual(
        [...new Set(nodes.map((n) => n.type))].sort(),
        [...builtinNodeRegistry.keys()].sort(),
      );
      const run = await runWorkflow(h, wf.id);
      const url = executionUrl(wf.id, run.id);
      await waitForNode(h, wf.id, run.id, 'ok', ['waiting']);
      let res = await h.call('POST', `${url}/resume`, { nodeId: 'ok', decision: 'approve' });
      assert.equal(res.statusCode, 200, res.body);
      await waitForNode(h, wf.id, run.id, 'say', ['waiting']);
      res = await h.call('POST', `${url}/followup`, { message: 'hello' });
      assert.equal(res.statusCode, 202, res.body);
      const done = await waitForStatus(h, wf.id, run.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));

      for (const node of nodes) {
        const outputs = nodeOf(done, node.id).outputs;
        const named = 'outputs' in node && Array.isArray(node.outputs) ? node.outputs : [];
        assert.deepEqual(
          Object.keys(outputs).sort(),
          [...declared(node.type), ...named].sort(),
          `${node.type} node '${node.id}': ${JSON.stringify(outputs)}`,
        );
      }
    });
  });
});
