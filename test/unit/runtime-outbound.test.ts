import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusedRanges } from '../../src/egress/ranges.ts';
import { RuntimeBroker } from '../../src/runtime/broker.ts';
import { createLocalRuntime } from '../../src/runtime/local.ts';
import { firewallRules, outboundDnsAddress } from '../../src/runtime/outbound.ts';

describe('outbound sandbox firewall', () => {
  const rules = firewallRules({
    allow: [
      { address: '10.0.0.5/32', family: 4, port: 3128 },
      { address: '192.168.7.0/24', family: 4 },
      { address: 'fd00::5/128', family: 6 },
    ],
    hostAddresses: ['127.0.0.1', '192.0.2.2', '::1', 'fd00::2'],
  });
  const lines = (text: string) => text.split('\n');

  it('lets loopback and DNS to the forwarder pass first, then what egressAllow opens', () => {
    const v4 = lines(rules.v4);
    const first = v4.findIndex((l) => l.startsWith('-A OUTPUT'));
    assert.equal(v4[first], '-A OUTPUT -o lo -j ACCEPT');
    assert.ok(v4.includes(`-A OUTPUT -d ${outboundDnsAddress}/32 -p udp --dport 53 -j ACCEPT`));
    const allowPort = v4.indexOf('-A OUTPUT -d 10.0.0.5/32 -p tcp --dport 3128 -j ACCEPT');
    const allowNet = v4.indexOf('-A OUTPUT -d 192.168.7.0/24 -j ACCEPT');
    const refuse = v4.indexOf('-A OUTPUT -d 10.0.0.0/8 -j SY_REFUSE');
    assert.ok(allowPort > 0 && allowNet > 0 && refuse > allowPort && refuse > allowNet);
    assert.ok(lines(rules.v6).includes('-A OUTPUT -d fd00::5/128 -j ACCEPT'));
    assert.ok(!rules.v4.includes('fd00::5'), 'an IPv6 entry stays out of the IPv4 rules');
  });

  it('refuses every refused range and every host address, in its own family', () => {
    for (const r of refusedRanges) {
      const text = r.family === 4 ? rules.v4 : rules.v6;
      assert.ok(text.includes(`-A OUTPUT -d ${r.cidr} -j SY_REFUSE`), r.cidr);
    }
    assert.ok(rules.v4.includes('-A OUTPUT -d 192.0.2.2/32 -j SY_REFUSE'));
    assert.ok(rules.v6.includes('-A OUTPUT -d fd00::2/128 -j SY_REFUSE'));
    assert.ok(rules.v4.endsWith('COMMIT\n') && rules.v6.endsWith('COMMIT\n'));
    assert.ok(rules.v4.includes('-A SY_REFUSE -p tcp -j REJECT --reject-with tcp-reset'));
  });
});

describe('network: host at run time', () => {
  it('fails with ERR_RUNTIME_FORBIDDEN, not retried, unless the server allows it', async () => {
    let created = 0;
    const local = createLocalRuntime({ dataDir: '/tmp', isolation: 'none' });
    const counting = {
      ...local,
      create: (spec: Parameters<typeof local.create>[0]) => (created++, local.create(spec)),
    };
    const broker = new RuntimeBroker({
      dataDir: '/tmp/switchyard-broker-test',
      local: counting,
      defaultRuntime: 'local',
    });
    const exec = { executionId: 'exec_x', workflowId: 'wf_x', config: { network: 'host' } };
    await assert.rejects(
      broker.sandboxFor(exec),
      (err: Error & { code?: string; retryable?: boolean }) => {
        assert.equal(err.code, 'ERR_RUNTIME_FORBIDDEN');
        assert.equal(err.retryable, false);
        assert.match(err.message, /allowHostNetwork/);
        return true;
      },
    );
    assert.equal(created, 0, 'nothing is created for a refused environment');
  });
});
