/** Pricing (src/engine/cost.ts): tokens per model at the price table, and unpriced models flagged. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addCost, price, subtractCost, zeroCost } from '../../src/engine/cost.ts';

const pricing = {
  cpuSecondPriceUsd: 0.01,
  modelPrices: {
    'gpt-4o': { prompt: 2.5, completion: 10 },
    'gpt-4o-mini': { prompt: 0.15, completion: 0.6 },
  },
};

describe('cost', () => {
  it('prices tokens at the table, per model, plus compute', () => {
    const cost = price(
      { model: 'gpt-4o', promptTokens: 1_000_000, completionTokens: 250_000, runtimeSeconds: 2 },
      {},
      pricing,
    );
    // 2.5 + 2.5 for the tokens, 2 s × $0.01 of compute.
    assert.equal(cost.estimatedUsd, 5.02);
    assert.equal(cost.unpriced, undefined);
    assert.deepEqual(cost.models, {
      'gpt-4o': { prompt: 1_000_000, completion: 250_000, estimatedUsd: 5 },
    });
  });

  it('a model without a price is flagged unpriced, never a silent $0', () => {
    const cost = price(
      {
        promptTokens: 3000,
        completionTokens: 300,
        models: {
          'gpt-4o-mini': { promptTokens: 1000, completionTokens: 100 },
          mystery: { promptTokens: 2000, completionTokens: 200 },
        },
      },
      {},
      pricing,
    );
    assert.equal(cost.unpriced, true);
    assert.equal(cost.estimatedUsd, 0.00021);
    assert.deepEqual(cost.models?.mystery, {
      prompt: 2000,
      completion: 200,
      estimatedUsd: 0,
      unpriced: true,
    });
    // Tokens reported without any model cannot be priced either.
    assert.equal(price({ promptTokens: 5 }, {}, pricing).unpriced, true);
    // No tokens, nothing to flag.
    assert.deepEqual(price({ runtimeSeconds: 1 }, {}, pricing), {
      computeSeconds: 1,
      tokens: { prompt: 0, completion: 0 },
      estimatedUsd: 0.01,
    });
  });

  it('sums keep the flag and the breakdown; the difference of two sums is one attempt', () => {
    const priced = price({ model: 'gpt-4o', promptTokens: 400_000 }, {}, pricing);
    const unpriced = price({ model: 'mystery', completionTokens: 7 }, {}, pricing);
    const both = addCost(addCost(zeroCost(), priced), unpriced);
    assert.equal(both.estimatedUsd, 1);
    assert.equal(both.unpriced, true);
    assert.deepEqual(Object.keys(both.models ?? {}).sort(), ['gpt-4o', 'mystery']);
    // The attempt that added the priced tokens only: not unpriced.
    const second = addCost(both, priced);
    const delta = subtractCost(second, both);
    assert.equal(delta.estimatedUsd, 1);
    assert.equal(delta.unpriced, undefined);
    assert.deepEqual(delta.models, {
      'gpt-4o': { prompt: 400_000, completion: 0, estimatedUsd: 1 },
    });
    assert.equal(subtractCost(both, priced).unpriced, true);
  });
});
