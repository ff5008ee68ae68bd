import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { defaultDefinitionLimits } from '../../src/definition/index.ts';
import { validateDefinitionParts } from '../helpers/definition.ts';
import { QuantityError, parseCpu, parseMemory } from '../../src/definition/quantity.ts';
import { price } from '../../src/engine/cost.ts';
import { limitsOf } from '../../src/runtime/broker.ts';

describe('quantities', () => {
  it('reads cpu as cores or millicores', () => {
    for (const [text, cpus] of [
      ['500m', 0.5],
      ['.5', 0.5],
      ['0.5', 0.5],
      ['2', 2],
      ['1.25', 1.25],
      ['1m', 0.001],
      [' 3 ', 3],
    ] as const) {
      assert.equal(parseCpu(text), cpus, text);
    }
    assert.equal(parseCpu(2), 2);
    assert.equal(parseCpu(0.25), 0.25);
    assert.equal(parseCpu(undefined), undefined);
  });

  it('reads memory in binary and decimal units and plain bytes', () => {
    for (const [text, bytes] of [
      ['1Ki', 1024],
      ['64Mi', 64 * 2 ** 20],
      ['2Gi', 2 * 2 ** 30],
      ['1k', 1000],
      ['512M', 512e6],
      ['1G', 1e9],
      ['.5Gi', 2 ** 29],
      ['4096', 4096],
    ] as const) {
      assert.equal(parseMemory(text), bytes, text);
    }
    assert.equal(parseMemory(65536), 65536);
    assert.equal(parseMemory(null), undefined);
  });

  it('refuses what it cannot read with a message naming the value', () => {
    for (const bad of ['', 'half', '-1', '0', '0m', '1.5.0', '2cpu', '0.0001', true]) {
      assert.throws(
        () => parseCpu(bad),
        (err: unknown) => err instanceof QuantityError && err.message.includes('cpu'),
        `cpu ${JSON.stringify(bad)}`,
      );
    }
    for (const bad of ['512m', '1GB', '1g', 'big', '0', '-1Mi', '1 Mi', []]) {
      assert.throws(
        () => parseMemory(bad),
        (err: unknown) => err instanceof QuantityError && err.message.includes('memory'),
        `memory ${JSON.stringify(bad)}`,
      );
    }
    assert.throws(() => parseCpu('lots'), /invalid cpu "lots": use a number of CPUs/);
  });

  it('is the parser of validation, limits and pricing alike', () => {
    // Validation accepts what the runtimes and pricing read.
    const parts = validateDefinitionParts(
      { runtimeConfig: { cpu: '500m', memory: '1k' } },
      defaultDefinitionLimits,
    );
    assert.deepEqual(parts.runtimeConfig, { cpu: '500m', memory: '1k' });
    assert.deepEqual(
      validateDefinitionParts({ runtimeConfig: { cpu: '.5' } }, defaultDefinitionLimits)
        .runtimeConfig,
      { cpu: '.5' },
    );
    assert.deepEqual(limitsOf({ cpu: '500m', memory: '64Mi' }), {
      cpu: 0.5,
      memoryBytes: 64 * 2 ** 20,
    });
    // ...and refuses what they would not.
    try {
      validateDefinitionParts({ runtimeConfig: { cpu: '500x' } }, defaultDefinitionLimits);
      assert.fail('cpu 500x was accepted');
    } catch (err) {
      assert.ok(err instanceof AppError, String(err));
      assert.equal(err.code, 'ERR_WORKFLOW_INVALID');
      assert.deepEqual(
        err.details.map((d) => d.path),
        ['runtimeConfig.cpu'],
      );
    }
    // Half a CPU for 10 s is 5 CPU-seconds, however it is spelled.
    const pricing = { cpuSecondPriceUsd: 0.01, modelPrices: {} };
    for (const cpu of ['.5', '0.5', '500m', 0.5]) {
      const cost = price({ runtimeSeconds: 10 }, { cpu }, pricing);
      assert.equal(cost.computeSeconds, 5, `cpu ${String(cpu)}`);
      assert.equal(cost.estimatedUsd, 0.05, `cpu ${String(cpu)}`);
    }
    assert.equal(price({ runtimeSeconds: 10 }, {}, pricing).computeSeconds, 10);
  });
});
