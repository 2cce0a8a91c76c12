import { describe, expect, it } from 'vitest';
import type { ConditionContext } from '../../contracts.js';
import { ConditionError } from '../../errors.js';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { parseAddressRule, type SourceIpConfig, sourceIpCondition as condition } from './index.js';

function from(sourceIp: string): ConditionContext {
  return {
    now: new Date('2025-06-02T10:00:00Z'),
    sourceIp,
    clientWorkload: { id: 'c1', name: 'billing', claims: {} },
    serverWorkload: { id: 's1', name: 'payments', host: 'payments.test', port: 443, scheme: 'https' },
    claims: {},
  };
}

async function passes(config: SourceIpConfig, sourceIp: string): Promise<boolean> {
  return (await condition.evaluate(from(sourceIp), config)).passed;
}

describe('source-ip condition', () => {
  it('with allow, passes only matching addresses (IPv4 and IPv6)', async () => {
    const config: SourceIpConfig = { allow: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1'] };
    expect(await passes(config, '10.20.30.40')).toBe(true);
    expect(await passes(config, '192.0.2.7')).toBe(true);
    expect(await passes(config, '192.0.2.8')).toBe(false);
    expect(await passes(config, '11.0.0.1')).toBe(false);
    expect(await passes(config, '2001:db8:1::5')).toBe(true);
    expect(await passes(config, '2001:DB8::5')).toBe(true);
    expect(await passes(config, '2001:db9::5')).toBe(false);
    expect(await passes(config, '::1')).toBe(true);
    await expect(condition.evaluate(from('11.0.0.1'), config)).resolves.toEqual({
      passed: false,
      reason: 'source address 11.0.0.1 is not in the allow list',
    });
    await expect(condition.evaluate(from('10.0.0.1'), config)).resolves.toEqual({
      passed: true,
      reason: 'source address 10.0.0.1 is in the allow list',
    });
  });

  it('deny wins over allow', async () => {
    const config: SourceIpConfig = { allow: ['10.0.0.0/8'], deny: ['10.66.0.0/16'] };
    expect(await passes(config, '10.1.0.1')).toBe(true);
    await expect(condition.evaluate(from('10.66.1.1'), config)).resolves.toEqual({
      passed: false,
      reason: 'source address 10.66.1.1 is in the deny list',
    });
  });

  it('with only deny, allows everything else', async () => {
    const config: SourceIpConfig = { deny: ['203.0.113.0/24', '2001:db8:bad::/48'] };
    expect(await passes(config, '203.0.113.9')).toBe(false);
    expect(await passes(config, '198.51.100.1')).toBe(true);
    expect(await passes(config, '2001:db8:bad::1')).toBe(false);
    expect(await passes(config, '2001:db8:900d::1')).toBe(true);
    // An empty allow list is the same as no allow list.
    expect(await passes({ allow: [], deny: ['203.0.113.0/24'] }, '198.51.100.1')).toBe(true);
  });

  it('matches IPv4-mapped IPv6 sources against IPv4 rules', async () => {
    expect(await passes({ allow: ['10.0.0.0/8'] }, '::ffff:10.0.0.1')).toBe(true);
    expect(await passes({ allow: ['10.0.0.0/8'] }, '::FFFF:10.0.0.1')).toBe(true);
    expect(await passes({ allow: ['10.0.0.0/8'] }, '::ffff:a00:1')).toBe(true);
    expect(await passes({ allow: ['10.0.0.0/8'] }, '::ffff:11.0.0.1')).toBe(false);
    expect(await passes({ deny: ['10.0.0.1'] }, '::ffff:10.0.0.1')).toBe(false);
    expect(await passes({ allow: ['::ffff:10.0.0.0/104'] }, '10.1.2.3')).toBe(true);
  });

  it('does not match IPv4 rules with unrelated IPv6 sources', async () => {
    expect(await passes({ allow: ['0.0.0.0/0'] }, '2001:db8::1')).toBe(false);
    expect(await passes({ allow: ['::/0'] }, '2001:db8::1')).toBe(true);
  });

  it('ignores an IPv6 zone on the source address', async () => {
    expect(await passes({ allow: ['fe80::/10'] }, 'fe80::1%eth0')).toBe(true);
  });

  it('fails closed on a source that is not an IP address', async () => {
    for (const source of ['', 'localhost', '10.0.0.256', '[::1]']) {
      await expect(condition.evaluate(from(source), { deny: ['192.0.2.0/24'] })).resolves.toEqual({
        passed: false,
        reason: 'the source address is not a valid IP address',
      });
    }
  });

  it('refuses invalid entries at validation time, naming each one', () => {
    const result = validateProviderConfig(condition, {
      allow: ['10.0.0.0/8', '10.0.0.0/33', '2001:db8::/129', 'example.com', '10.0.0.0/', '10.0.0.0/+8'],
      deny: ['010.0.0.1', 'fe80::1%eth0', '1.2.3.4/8/9', '::1/-1'],
    });
    expect(result).toEqual({
      ok: false,
      errors: [
        { path: '', message: 'allow[1]: "10.0.0.0/33" has an invalid prefix length (0 to 32 for IPv4)' },
        { path: '', message: 'allow[2]: "2001:db8::/129" has an invalid prefix length (0 to 128 for IPv6)' },
        { path: '', message: 'allow[3]: "example.com" is not an IP address or CIDR range' },
        { path: '', message: 'allow[4]: "10.0.0.0/" has an invalid prefix length (0 to 32 for IPv4)' },
        { path: '', message: 'allow[5]: "10.0.0.0/+8" has an invalid prefix length (0 to 32 for IPv4)' },
        { path: '', message: 'deny[0]: "010.0.0.1" is not an IP address or CIDR range' },
        { path: '', message: 'deny[1]: "fe80::1%eth0" is not an IP address or CIDR range' },
        { path: '', message: 'deny[2]: "1.2.3.4/8/9" is not an IP address or CIDR range' },
        { path: '', message: 'deny[3]: "::1/-1" has an invalid prefix length (0 to 128 for IPv6)' },
      ],
    });
  });

  it('accepts prefix edges', () => {
    expect(condition.validate?.({ allow: ['0.0.0.0/0', '1.2.3.4/32', '::/0', '::1/128'] })).toEqual([]);
    expect(parseAddressRule('10.0.0.0/8')).toEqual({ address: '10.0.0.0', family: 'ipv4', prefix: 8 });
    expect(parseAddressRule('::1')).toEqual({ address: '::1', family: 'ipv6' });
  });

  it('needs at least one non-empty list, and refuses unknown fields', () => {
    expect(condition.validate?.({})).toEqual(['at least one of allow or deny must be non-empty']);
    expect(condition.validate?.({ allow: [], deny: [] })).toEqual(['at least one of allow or deny must be non-empty']);
    expect(validateConfig(condition.configSchema, { allowed: ['10.0.0.0/8'] })).toEqual({
      ok: false,
      errors: [{ path: '/allowed', message: 'is not a known property' }],
    });
    expect(validateConfig(condition.configSchema, { allow: [42] })).toEqual({
      ok: false,
      errors: [{ path: '/allow/0', message: 'must be string' }],
    });
  });

  it('throws invalid_config when evaluated with an invalid config (fail closed)', async () => {
    const evaluation = condition.evaluate(from('10.0.0.1'), { allow: ['10.0.0.0/40'] });
    await expect(evaluation).rejects.toBeInstanceOf(ConditionError);
    await expect(evaluation).rejects.toMatchObject({ code: 'invalid_config', provider: 'source-ip' });
    await expect(condition.evaluate(from('10.0.0.1'), {})).rejects.toThrow(
      'condition(source-ip): at least one of allow or deny must be non-empty',
    );
  });

  it('reuses the parsed rules of a config object', async () => {
    const config: SourceIpConfig = { allow: ['10.0.0.0/8'] };
    expect(await passes(config, '10.0.0.1')).toBe(true);
    expect(await passes(config, '10.0.0.2')).toBe(true);
    expect(await passes(config, '12.0.0.1')).toBe(false);
  });
});
