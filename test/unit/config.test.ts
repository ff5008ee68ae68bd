import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, defaultConfig, loadConfig, parseFlags, redactUrl } from '../../src/config.ts';
import { defaultLlmProvider } from '../../src/config-llm-providers.ts';
import { scratchDir } from '../helpers/scratch.ts';

const empty = scratchDir('switchyard-config-');

describe('config', () => {
  it('defaults to port 3000, ./data and SQLite', () => {
    const c = loadConfig({ env: {}, cwd: empty });
    assert.deepEqual(c, defaultConfig);
    assert.equal(c.port, 3000);
    assert.equal(c.dataDir, './data');
    assert.equal(c.databaseUrl, '');
  });

  it('resolves explicit > env > file > default', () => {
    const dir = scratchDir('switchyard-config-');
    writeFileSync(
      path.join(dir, 'switchyard.yaml'),
      'port: 4000\nlog_level: debug\ndata-dir: /tmp/from-file\nmaxGraphNodes: 50\n',
    );
    let c = loadConfig({ env: {}, cwd: dir });
    assert.equal(c.port, 4000);
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.dataDir, '/tmp/from-file');
    assert.equal(c.maxGraphNodes, 50);
    c = loadConfig({ env: { PORT: '5000', SWITCHYARD_LOG_LEVEL: 'warn' }, cwd: dir });
    assert.equal(c.port, 5000);
    assert.equal(c.logLevel, 'warn');
    c = loadConfig({ env: { PORT: '5000' }, cwd: dir, overrides: { port: '6000' } });
    assert.equal(c.port, 6000);
    // SWITCHYARD_PORT wins over PORT.
    c = loadConfig({ env: { PORT: '5000', SWITCHYARD_PORT: '5001' }, cwd: empty });
    assert.equal(c.port, 5001);
  });

  it('reads an explicit config file and names bad values with their source', () => {
    const dir = scratchDir('switchyard-config-');
    const file = path.join(dir, 'custom.yaml');
    writeFileSync(file, 'port: 99999\n');
    assert.throws(
      () => loadConfig({ env: {}, cwd: dir, configFile: file }),
      (e: Error) =>
        e instanceof ConfigError &&
        /port must be an integer from 0 to 65535 \(got 99999 from .*custom\.yaml\)/.test(e.message),
    );
    writeFileSync(file, 'colour: blue\n');
    assert.throws(
      () => loadConfig({ env: {}, cwd: dir, configFile: file }),
      /unknown key 'colour'/,
    );
    writeFileSync(file, ': : :\n  - [');
    assert.throws(
      () => loadConfig({ env: {}, cwd: dir, configFile: file }),
      /cannot read config file/,
    );
    assert.throws(
      () => loadConfig({ env: {}, cwd: dir, configFile: path.join(dir, 'missing.yaml') }),
      /cannot read config file/,
    );
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_PORT: 'abc' }, cwd: empty }),
      /port must be an integer .*got 'abc' from \$SWITCHYARD_PORT/,
    );
    assert.throws(
      () => loadConfig({ env: { LOG_LEVEL: 'loud' }, cwd: empty }),
      /logLevel must be one of/,
    );
    assert.throws(
      () => loadConfig({ env: { DATABASE_URL: 'mysql://u:secret@h/db' }, cwd: empty }),
      (e: Error) => /postgres:\/\//.test(e.message) && !e.message.includes('secret'),
    );
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_BODY_LIMIT: '10' }, cwd: empty }),
      /bodyLimitBytes/,
    );
  });

  it('reads number and object settings from env and file', () => {
    let c = loadConfig({
      env: {
        SWITCHYARD_CPU_SECOND_PRICE_USD: '0.5',
        SWITCHYARD_MODEL_PRICES: '{"m": {"prompt": 1, "completion": 2}}',
      },
      cwd: empty,
    });
    assert.equal(c.cpuSecondPriceUsd, 0.5);
    assert.deepEqual(c.modelPrices, { m: { prompt: 1, completion: 2 } });
    const dir = scratchDir('switchyard-config-');
    writeFileSync(
      path.join(dir, 'switchyard.yaml'),
      'llm_providers:\n  local: { kind: openai, baseUrl: "http://127.0.0.1:8080/v1" }\nworker_concurrency: 4\n',
    );
    c = loadConfig({ env: {}, cwd: dir });
    assert.deepEqual(c.llmProviders, {
      local: { kind: 'openai', baseUrl: 'http://127.0.0.1:8080/v1' },
    });
    assert.equal(c.workerConcurrency, 4);
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_MODEL_PRICES: '{"m": {"prompt": -1}}' }, cwd: empty }),
      /modelPrices\.m must be/,
    );
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_LLM_PROVIDERS: 'not json' }, cwd: empty }),
      /llmProviders must be a JSON object/,
    );
    assert.throws(
      () =>
        loadConfig({
          env: { SWITCHYARD_LLM_PROVIDERS: '{"x": {"kind": "mystery", "baseUrl": "http://a"}}' },
          cwd: empty,
        }),
      /llmProviders\.x must be/,
    );
    // A key from the secret store: a secret's name, and not together with apiKeyEnv.
    c = loadConfig({
      env: {
        SWITCHYARD_LLM_PROVIDERS:
          '{"s": {"kind": "anthropic", "baseUrl": "http://a", "apiKeySecret": "CLAUDE_KEY"}}',
      },
      cwd: empty,
    });
    assert.deepEqual(c.llmProviders, {
      s: { kind: 'anthropic', baseUrl: 'http://a', apiKeySecret: 'CLAUDE_KEY' },
    });
    for (const bad of [
      '{"s": {"kind": "openai", "baseUrl": "http://a", "apiKeySecret": "no-dashes"}}',
      '{"s": {"kind": "openai", "baseUrl": "http://a", "apiKeySecret": "K", "apiKeyEnv": "K"}}',
    ])
      assert.throws(
        () => loadConfig({ env: { SWITCHYARD_LLM_PROVIDERS: bad }, cwd: empty }),
        /llmProviders\.s must be .*apiKeySecret/,
      );
    // The provider layer: a default, a timeout, a concurrency cap, retries, the known models.
    c = loadConfig({
      env: {
        SWITCHYARD_LLM_PROVIDERS: JSON.stringify({
          main: {
            kind: 'openai',
            baseUrl: 'http://a/v1',
            default: true,
            timeout: '90s',
            maxConcurrency: 4,
            maxRetries: 3,
            models: ['gpt-4o', 'gpt-4o-mini'],
          },
          other: { kind: 'anthropic', baseUrl: 'http://b' },
        }),
      },
      cwd: empty,
    });
    assert.equal(defaultLlmProvider(c.llmProviders), 'main');
    assert.deepEqual(c.llmProviders.main?.models, ['gpt-4o', 'gpt-4o-mini']);
    assert.equal(c.llmProviders.main?.maxConcurrency, 4);
    // One provider is the default without saying so; two without `default` have none.
    assert.equal(defaultLlmProvider({ only: { kind: 'openai', baseUrl: 'http://a' } }), 'only');
    assert.equal(
      defaultLlmProvider({
        a: { kind: 'openai', baseUrl: 'http://a' },
        b: { kind: 'openai', baseUrl: 'http://b' },
      }),
      undefined,
    );
    for (const [extra, message] of [
      [{ timeout: 'soon' }, /llmProviders\.p\.timeout must be a duration such as 60s.*"soon"/],
      [{ timeout: 30 }, /llmProviders\.p\.timeout must be a duration/],
      [{ maxConcurrency: 0 }, /llmProviders\.p\.maxConcurrency must be an integer from 1/],
      [{ maxRetries: 11 }, /llmProviders\.p\.maxRetries must be an integer from 0 to 10/],
      [{ models: [] }, /llmProviders\.p\.models must be a non-empty list/],
      [{ models: ['ok', 3] }, /llmProviders\.p\.models must be a non-empty list/],
      [{ default: 'yes' }, /llmProviders\.p\.default must be true or false/],
      [{ retries: 2 }, /llmProviders\.p must be .*unknown field "retries"/],
    ] as const) {
      const bad = JSON.stringify({ p: { kind: 'openai', baseUrl: 'http://a', ...extra } });
      assert.throws(
        () => loadConfig({ env: { SWITCHYARD_LLM_PROVIDERS: bad }, cwd: empty }),
        message,
      );
    }
    assert.throws(
      () =>
        loadConfig({
          env: {
            SWITCHYARD_LLM_PROVIDERS: JSON.stringify({
              a: { kind: 'openai', baseUrl: 'http://a', default: true },
              b: { kind: 'openai', baseUrl: 'http://b', default: true },
            }),
          },
          cwd: empty,
        }),
      /only one provider may be the default \(default: true on a, b\)/,
    );
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_CPU_SECOND_PRICE_USD: 'free' }, cwd: empty }),
      /cpuSecondPriceUsd must be a number/,
    );
  });

  it('parses flags', () => {
    assert.deepEqual(parseFlags(['--port', '8080', '--data-dir=/srv/yard']), {
      values: { port: '8080', dataDir: '/srv/yard' },
    });
    assert.deepEqual(parseFlags(['--config', 'x.yaml']), { values: {}, configFile: 'x.yaml' });
    assert.throws(() => parseFlags(['--colour', 'blue']), /unknown flag --colour/);
    assert.throws(() => parseFlags(['--port']), /--port needs a value/);
    assert.throws(() => parseFlags(['serve']), /unexpected argument 'serve'/);
  });

  it('reads allowDockerSocket as a boolean from flags, environment and file; false by default', () => {
    const dir = scratchDir('switchyard-config-');
    assert.equal(loadConfig({ env: {}, cwd: dir }).allowDockerSocket, false);
    assert.deepEqual(parseFlags(['--allow-docker-socket']), {
      values: { allowDockerSocket: 'true' },
    });
    assert.deepEqual(parseFlags(['--allow-docker-socket', '--port', '1']), {
      values: { allowDockerSocket: 'true', port: '1' },
    });
    assert.deepEqual(parseFlags(['--allow-docker-socket=false']), {
      values: { allowDockerSocket: 'false' },
    });
    const flagged = loadConfig({ env: {}, cwd: dir, overrides: { allowDockerSocket: 'true' } });
    assert.equal(flagged.allowDockerSocket, true);
    const fromEnv = loadConfig({ env: { SWITCHYARD_ALLOW_DOCKER_SOCKET: '1' }, cwd: dir });
    assert.equal(fromEnv.allowDockerSocket, true);
    writeFileSync(path.join(dir, 'switchyard.yaml'), 'allow_docker_socket: true\n');
    assert.equal(loadConfig({ env: {}, cwd: dir }).allowDockerSocket, true);
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_ALLOW_DOCKER_SOCKET: 'maybe' }, cwd: dir }),
      /allowDockerSocket must be true or false \(got 'maybe' from \$SWITCHYARD_ALLOW_DOCKER_SOCKET\)/,
    );
  });

  it('reads egressAllow as a list from environment and file, and names a bad entry', () => {
    const dir = scratchDir('switchyard-config-');
    assert.deepEqual(loadConfig({ env: {}, cwd: dir }).egressAllow, []);
    assert.equal(loadConfig({ env: {}, cwd: dir }).allowHostNetwork, false);
    const fromEnv = loadConfig({
      env: { SWITCHYARD_EGRESS_ALLOW: '127.0.0.1, 10.0.0.0/8,mirror.internal:8080,[::1]:3000' },
      cwd: dir,
    });
    assert.deepEqual(fromEnv.egressAllow, [
      '127.0.0.1',
      '10.0.0.0/8',
      'mirror.internal:8080',
      '[::1]:3000',
    ]);
    writeFileSync(path.join(dir, 'switchyard.yaml'), 'egress_allow: [fd00::/8, "10.0.0.5:3128"]\n');
    assert.deepEqual(loadConfig({ env: {}, cwd: dir }).egressAllow, ['fd00::/8', '10.0.0.5:3128']);
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_EGRESS_ALLOW: '10.0.0.0/40' }, cwd: dir }),
      /egressAllow entry '10.0.0.0\/40' has a prefix length outside 0-32 \(from \$SWITCHYARD_EGRESS_ALLOW\)/,
    );
    assert.throws(
      () => loadConfig({ env: { SWITCHYARD_EGRESS_ALLOW: 'bad host!' }, cwd: dir }),
      /egressAllow entry 'bad host!' is neither an address, a CIDR nor a host name/,
    );
  });

  it('redacts passwords in database URLs', () => {
    assert.equal(redactUrl('postgres://user:pw@host:5432/db'), 'postgres://user:***@host:5432/db');
    assert.equal(redactUrl('postgres://host/db'), 'postgres://host/db');
  });
});
