import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from './config.js';

describe('resolveServerConfig: --audit-retention', () => {
  it('keeps every audit event unless a retention is given', () => {
    expect(resolveServerConfig({}, {}).auditRetentionMs).toBeUndefined();
  });

  it.each([
    ['30d', 30 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['90m', 90 * 60_000],
    ['400d', 400 * 86_400_000],
  ])('takes %s', (value, ms) => {
    expect(resolveServerConfig({ 'audit-retention': value }, {}).auditRetentionMs).toBe(ms);
    expect(resolveServerConfig({}, { TESSERA_AUDIT_RETENTION: value }).auditRetentionMs).toBe(ms);
  });

  it('prefers the option to the variable', () => {
    expect(resolveServerConfig({ 'audit-retention': '2d' }, { TESSERA_AUDIT_RETENTION: '9d' }).auditRetentionMs).toBe(2 * 86_400_000);
  });

  it.each(['30', '30 d', '1.5d', '-1d', '30s', '59m', '0d', 'forever', '', '99999999999d'])('refuses %j', (value) => {
    expect(() => resolveServerConfig({ 'audit-retention': value }, {})).toThrow(/--audit-retention must be a duration such as 30d, 12h or 90m, of at least 1h/);
  });
});
