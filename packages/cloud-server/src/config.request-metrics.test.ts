import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from './config.js';

describe('resolveServerConfig: --metrics-retention and --metrics-interval', () => {
  it('keeps request metrics as long as audit events unless told otherwise', () => {
    expect(resolveServerConfig({}, {}).metricsRetentionMs).toBeUndefined();
    expect(resolveServerConfig({ 'audit-retention': '30d' }, {}).metricsRetentionMs).toBe(30 * 86_400_000);
    expect(resolveServerConfig({ 'audit-retention': '30d', 'metrics-retention': '7d' }, {}).metricsRetentionMs).toBe(7 * 86_400_000);
    expect(resolveServerConfig({}, { TESSERA_METRICS_RETENTION: '12h' }).metricsRetentionMs).toBe(12 * 3_600_000);
    expect(resolveServerConfig({ 'metrics-retention': '2d' }, { TESSERA_METRICS_RETENTION: '9d' }).metricsRetentionMs).toBe(2 * 86_400_000);
  });

  it.each(['30', '59m', '0d', 'forever'])('refuses the retention %j, naming the option', (value) => {
    expect(() => resolveServerConfig({ 'metrics-retention': value }, {})).toThrow(/^--metrics-retention must be a duration such as 30d, 12h or 90m, of at least 1h$/);
  });

  it('tells SDKs to report every 10 s by default, or what the option or variable says', () => {
    expect(resolveServerConfig({}, {}).metricsIntervalSeconds).toBe(10);
    expect(resolveServerConfig({ 'metrics-interval': '60' }, {}).metricsIntervalSeconds).toBe(60);
    expect(resolveServerConfig({}, { TESSERA_METRICS_INTERVAL: '300' }).metricsIntervalSeconds).toBe(300);
  });

  it.each(['0', '-5', '1.5', '10s', '86401'])('refuses the interval %j', (value) => {
    expect(() => resolveServerConfig({ 'metrics-interval': value }, {})).toThrow(/^--metrics-interval must be a whole number from 1 to 86400$/);
  });
});
