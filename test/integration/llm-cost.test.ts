/**
 * The `llm` and `agent` nodes through the real server and worker against the scripted provider
 * (issue 11): a JSON Schema mismatch is retried by the engine, the cost of each node (agent steps
 * included) matches the price table to the cent, an unpriced model is flagged instead of costing
 * $0, and usage groups by model.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { dialectNames, skipFor } from '../helpers/dialects.ts';
import { createWorkflow, nodeOf, runAndWait } from '../helpers/executions.ts';
import { type FakeLlm, startFakeLlm } from '../helpers/fake-llm.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** USD per 1M tokens, as configured below. */
const prices = { 'gpt-priced': { prompt: 2.5, completion: 10 } };
const usdOf = (prompt: number, completion: number) =>
  (prompt * prices['gpt-priced'].prompt + completion * prices['gpt-priced'].completion) / 1e6;

interface UsageGroupJson {
  key: string;
  attempts: number;
  computeSeconds: number;
  tokens: { prompt: number; completion: number };
  estimatedUsd: number;
  unpriced?: boolean;
}

for (const dialect of dialectNames) {
  describe(`llm cost and retries (${dialect})`, { skip: await skipFor(dialect) }, () => {
    let h: Harness;
    let llm: FakeLlm;
    before(async () => {
      llm = await startFakeLlm();
      h = await startHarness(dialect, {
        config: {
          // Compute is free here, so every cent below is a token's.
          cpuSecondPriceUsd: 0,
          modelPrices: prices,
          llmProviders: {
            gpt: { kind: 'openai', baseUrl: `${llm.url}/v1`, default: true },
            claude: { kind: 'anthropic', baseUrl: llm.url, maxRetries: 0 },
          },
        },
      });
    });
    after(async () => {
      await h?.close();
      await llm?.close();
    });

    it('retries a schema mismatch, prices each node (agent steps included) to the cent, flags the unpriced model and groups usage by model', async () => {
      const wf = await createWorkflow(h, {
        name: `llm-cost-${dialect}`,
        graph: {
          nodes: [
            {
              id: 'summarize',
              type: 'llm',
              model: 'gpt-priced',
              prompt: 'Summarize',
              responseFormat: 'json',
              schema: {
                type: 'object',
                required: ['summary'],
                properties: { summary: { type: 'string' } },
              },
              retry: { maxAttempts: 2, initialInterval: '10ms' },
            },
            {
              id: 'review',
              type: 'agent',
              provider: 'claude',
              model: 'claude-unpriced',
              prompt: 'Review ${{ nodes.summarize.outputs.json.summary }}',
              tools: ['list_files'],
              needs: ['summarize'],
            },
          ],
        },
      });
      // Saved with a warning: the agent's model has no price.
      assert.deepEqual((wf as { warnings?: unknown }).warnings, [
        {
          path: 'graph.nodes[1].model',
          message:
            "model 'claude-unpriced' has no price in modelPrices: its tokens are counted, its cost is marked unpriced, not $0",
        },
      ]);
      llm.script([
        { text: '{"headline": "no summary"}', usage: { prompt: 100_000, completion: 20_000 } },
        { text: '{"summary": "all good"}', usage: { prompt: 1_234_000, completion: 567_000 } },
        {
          toolCalls: [{ name: 'list_files', input: { path: '.' } }],
          usage: { prompt: 1000, completion: 100 },
        },
        { text: 'Looks fine.', usage: { prompt: 2000, completion: 200 } },
      ]);
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));

      // The first answer failed the schema; the engine's retry got a valid one.
      const summarize = nodeOf(done, 'summarize') as ReturnType<typeof nodeOf> & {
        attempts: { error?: { code: string; message: string } }[];
      };
      assert.equal(summarize.attempt, 2);
      assert.equal(summarize.attempts[0]!.error?.code, 'ERR_LLM_SCHEMA');
      assert.match(
        summarize.attempts[0]!.error?.message ?? '',
        /does not match the schema: \(root\) must have required property 'summary'/,
      );
      assert.deepEqual(summarize.outputs.json, { summary: 'all good' });
      assert.equal(summarize.outputs.model, 'gpt-priced');
      assert.deepEqual(summarize.outputs.usage, {
        promptTokens: 1_234_000,
        completionTokens: 567_000,
      });
      // Both attempts are charged: $0.45 + $8.755.
      const summarizeUsd = usdOf(1_334_000, 587_000);
      assert.equal(summarize.cost.estimatedUsd, summarizeUsd);
      assert.equal(summarize.cost.estimatedUsd.toFixed(2), '9.21');
      assert.deepEqual(summarize.cost.tokens, { prompt: 1_334_000, completion: 587_000 });
      assert.equal(summarize.cost.unpriced, undefined);

      // The agent's two steps are one node's cost, flagged unpriced rather than a silent $0.
      const review = nodeOf(done, 'review');
      assert.equal(review.outputs.answer, 'Looks fine.');
      assert.deepEqual(review.cost.tokens, { prompt: 3000, completion: 300 });
      assert.equal(review.cost.estimatedUsd, 0);
      assert.equal(review.cost.unpriced, true);
      assert.deepEqual(review.cost.models, {
        'claude-unpriced': { prompt: 3000, completion: 300, estimatedUsd: 0, unpriced: true },
      });
      assert.equal(done.cost.estimatedUsd, summarizeUsd);
      assert.equal(done.cost.unpriced, true);

      const res = await h.call('GET', `/api/v1/workflows/${wf.id}/usage?groupBy=model`);
      assert.equal(res.statusCode, 200, res.body);
      const usage = res.json<{ total: UsageGroupJson; groups: UsageGroupJson[] }>();
      assert.equal(usage.total.estimatedUsd, summarizeUsd);
      assert.equal(usage.total.unpriced, true);
      assert.equal(usage.total.attempts, 3);
      const byKey = new Map(usage.groups.map((g) => [g.key, g]));
      assert.deepEqual(byKey.get('gpt-priced'), {
        key: 'gpt-priced',
        attempts: 2,
        computeSeconds: 0,
        tokens: { prompt: 1_334_000, completion: 587_000 },
        estimatedUsd: summarizeUsd,
      });
      assert.deepEqual(byKey.get('claude-unpriced'), {
        key: 'claude-unpriced',
        attempts: 1,
        computeSeconds: 0,
        tokens: { prompt: 3000, completion: 300 },
        estimatedUsd: 0,
        unpriced: true,
      });
      // The groups add up to the total.
      const sum = usage.groups.reduce((s, g) => s + g.estimatedUsd, 0);
      assert.equal(Math.round(sum * 1e6) / 1e6, usage.total.estimatedUsd);
      assert.deepEqual(
        usage.groups.reduce((s, g) => s + g.tokens.prompt, 0),
        usage.total.tokens.prompt,
      );
    });
  });
}

describe('maxConcurrency through the worker (sqlite)', () => {
  let h: Harness;
  let llm: FakeLlm;
  before(async () => {
    llm = await startFakeLlm();
    h = await startHarness('sqlite', {
      config: {
        llmProviders: {
          capped: { kind: 'openai', baseUrl: `${llm.url}/v1`, maxConcurrency: 1 },
          free: { kind: 'openai', baseUrl: `${llm.url}/v1` },
        },
      },
    });
  });
  after(async () => {
    await h?.close();
    await llm?.close();
  });

  it("one provider's calls wait for its slots across nodes; another provider's do not", async () => {
    for (const [provider, expected] of [
      ['capped', 1],
      ['free', 3],
    ] as const) {
      const wf = await createWorkflow(h, {
        name: `three-asks-${provider}`,
        graph: {
          nodes: ['a', 'b', 'c'].map((id) => ({
            id,
            type: 'llm',
            provider,
            model: 'm',
            prompt: `question ${id}`,
          })),
        },
      });
      llm.script([1, 2, 3].map(() => ({ text: 'ok', holdMs: 300 })));
      const done = await runAndWait(h, wf.id, ['succeeded', 'failed']);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.equal(llm.requests.length, 3);
      assert.equal(llm.maxOpen, expected, provider);
    }
  });
});
