import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkEgress, createEgressPolicy, originOf, unmapIpv4 } from '../../src/egress/policy.ts';
import { parseEgressAllow } from '../../src/egress/ranges.ts';

const policy = (allow: string[] = [], trusted: string[] = []) =>
  createEgressPolicy({ allow: parseEgressAllow(allow), trustedOrigins: trusted.map(originOf) });

const check = (
  p: ReturnType<typeof policy>,
  address: string,
  port = 443,
  hostname: string = address,
) => checkEgress(p, { address, port, hostname });

describe('egress policy', () => {
  const refused: [string, RegExp][] = [
    ['127.0.0.1', /loopback \(127\.0\.0\.0\/8\)/],
    ['127.45.6.7', /loopback/],
    ['::1', /loopback \(::1\/128\)/],
    ['169.254.169.254', /link-local \(cloud metadata\)/],
    ['10.0.0.1', /private \(RFC 1918\)/],
    ['192.168.1.1', /private \(RFC 1918\)/],
    ['172.16.5.4', /private \(RFC 1918\)/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['fd00::1', /unique local/],
    ['fe80::1', /link-local \(fe80::\/10\)/],
    ['::ffff:127.0.0.1', /::ffff:127\.0\.0\.1 \(127\.0\.0\.1\) is loopback/],
    ['::ffff:7f00:1', /\(127\.0\.0\.1\) is loopback/],
    ['::ffff:a9fe:a9fe', /\(169\.254\.169\.254\) is link-local/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /reserved and broadcast/],
    ['64:ff9b::a00:1', /NAT64/],
  ];
  for (const [address, reason] of refused) {
    it(`refuses ${address} by default`, () => {
      const decision = check(policy(), address);
      assert.equal(decision.allowed, false);
      assert.match((decision as { reason: string }).reason, reason);
    });
  }

  for (const address of ['8.8.8.8', '1.1.1.1', '2001:4860::8888', '::ffff:8.8.8.8', '172.32.0.1']) {
    it(`allows the public address ${address}`, () => {
      assert.deepEqual(check(policy(), address), { allowed: true });
    });
  }

  it('refuses what is not an IP address', () => {
    const decision = check(policy(), 'example.com');
    assert.equal(decision.allowed, false);
    assert.match((decision as { reason: string }).reason, /not an IP address/);
  });

  it('opens exactly the CIDR an entry names', () => {
    const p = policy(['10.0.0.0/24', 'fd00::/16']);
    assert.equal(check(p, '10.0.0.200').allowed, true);
    assert.equal(check(p, '::ffff:10.0.0.7').allowed, true);
    assert.equal(check(p, '10.0.1.1').allowed, false);
    assert.equal(check(p, 'fd00:1::5').allowed, true);
    assert.equal(check(p, 'fd01::5').allowed, false);
    assert.equal(check(p, '127.0.0.1').allowed, false);
  });

  it('opens an address with a port only on that port', () => {
    const p = policy(['127.0.0.1:8080', '[::1]:9090']);
    assert.equal(check(p, '127.0.0.1', 8080).allowed, true);
    assert.equal(check(p, '127.0.0.1', 8081).allowed, false);
    assert.equal(check(p, '127.0.0.2', 8080).allowed, false);
    assert.equal(check(p, '::1', 9090).allowed, true);
    assert.equal(check(p, '::1', 8080).allowed, false);
  });

  it('opens a host name for the URL host that equals it, whatever it resolves to', () => {
    const p = policy(['mirror.internal', 'Cache.Internal:3128']);
    assert.equal(check(p, '10.0.0.5', 443, 'mirror.internal').allowed, true);
    assert.equal(check(p, '10.0.0.5', 443, 'MIRROR.internal.').allowed, true);
    assert.equal(check(p, '10.0.0.5', 443, 'evil.mirror.internal').allowed, false);
    assert.equal(check(p, '10.0.0.5', 443, 'other.internal').allowed, false);
    assert.equal(check(p, '10.0.0.6', 3128, 'cache.internal').allowed, true);
    assert.equal(check(p, '10.0.0.6', 80, 'cache.internal').allowed, false);
  });

  it('trusts an origin (host and port) without checking its address', () => {
    const p = policy([], ['http://127.0.0.1:11434/v1', 'https://llm.internal/']);
    assert.equal(check(p, '127.0.0.1', 11434).allowed, true);
    assert.equal(check(p, '127.0.0.1', 11435).allowed, false);
    assert.equal(check(p, '10.1.2.3', 443, 'llm.internal').allowed, true);
    assert.equal(check(p, '10.1.2.3', 80, 'llm.internal').allowed, false);
    // An origin is a host name: another name for the same address is checked as usual.
    assert.equal(check(p, '127.0.0.1', 11434, 'localhost').allowed, false);
  });

  it('reads the IPv4 address out of IPv4-mapped IPv6 only', () => {
    assert.equal(unmapIpv4('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(unmapIpv4('::FFFF:0a01:0203'), '10.1.2.3');
    assert.equal(unmapIpv4('0:0:0:0:0:ffff:c0a8:101'), '192.168.1.1');
    assert.equal(unmapIpv4('::1'), '::1');
    assert.equal(unmapIpv4('2001:db8::ffff:a01:203'), '2001:db8::ffff:a01:203');
    assert.equal(unmapIpv4('8.8.8.8'), '8.8.8.8');
  });
});
