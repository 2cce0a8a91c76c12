import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUTS, resolveServerConfig } from './config.js';

describe('resolveServerConfig: --log-stream-allow', () => {
  it('takes addresses and ranges from the flag (repeatable) or TESSERA_LOG_STREAM_ALLOW, the flag first', () => {
    expect(resolveServerConfig({}, {}).logStreamAllow).toEqual([]);
    expect(resolveServerConfig({}, { TESSERA_LOG_STREAM_ALLOW: '127.0.0.1, 10.20.0.0/16' }).logStreamAllow).toEqual(['127.0.0.1', '10.20.0.0/16']);
    const both = resolveServerConfig({ 'log-stream-allow': ['fd00::/8'] }, { TESSERA_LOG_STREAM_ALLOW: '127.0.0.1' });
    expect(both.logStreamAllow).toEqual(['fd00::/8']);
  });

  it('stops the start on a value that is not an address or a range', () => {
    expect(() => resolveServerConfig({ 'log-stream-allow': ['10.0.0.0/40'] }, {})).toThrow('--log-stream-allow[0]: "10.0.0.0/40" has an invalid prefix length');
    expect(() => resolveServerConfig({}, { TESSERA_LOG_STREAM_ALLOW: 'siem.internal' })).toThrow('"siem.internal" is not an IP address or CIDR range');
  });
});

describe('resolveServerConfig: --provider-egress-allow', () => {
  it('takes addresses and ranges from the flag (repeatable) or TESSERA_PROVIDER_EGRESS_ALLOW, the flag first', () => {
    expect(resolveServerConfig({}, {}).providerEgressAllow).toEqual([]);
    expect(resolveServerConfig({}, { TESSERA_PROVIDER_EGRESS_ALLOW: '127.0.0.0/8, ::1' }).providerEgressAllow).toEqual(['127.0.0.0/8', '::1']);
    expect(resolveServerConfig({ 'provider-egress-allow': ['127.0.0.1'] }, { TESSERA_PROVIDER_EGRESS_ALLOW: '::1' }).providerEgressAllow).toEqual(['127.0.0.1']);
  });

  it('stops the start on a value that is not an address or a range', () => {
    expect(() => resolveServerConfig({ 'provider-egress-allow': ['localhost'] }, {})).toThrow('--provider-egress-allow[0]: "localhost" is not an IP address or CIDR range');
  });

  it('--provider-egress-private: allow (the default) or refuse, from the flag or TESSERA_PROVIDER_EGRESS_PRIVATE', () => {
    expect(resolveServerConfig({}, {}).providerEgressPrivate).toBe('allow');
    expect(resolveServerConfig({}, { TESSERA_PROVIDER_EGRESS_PRIVATE: 'refuse' }).providerEgressPrivate).toBe('refuse');
    expect(resolveServerConfig({ 'provider-egress-private': 'allow' }, { TESSERA_PROVIDER_EGRESS_PRIVATE: 'refuse' }).providerEgressPrivate).toBe('allow');
    expect(() => resolveServerConfig({ 'provider-egress-private': 'deny' }, {})).toThrow('--provider-egress-private must be allow or refuse');
  });
});

describe('resolveServerConfig', () => {
  it('takes the HTTP timeouts and the replay cache size from flags, then TESSERA_* variables, then defaults', () => {
    expect(resolveServerConfig({}, {})).toMatchObject({ timeouts: DEFAULT_TIMEOUTS, replayCacheSize: 200_000 });
    expect(DEFAULT_TIMEOUTS).toEqual({ headersMs: 10_000, requestMs: 30_000, keepAliveMs: 72_000, idleMs: 120_000 });
    const env = {
      TESSERA_HEADERS_TIMEOUT_MS: '2000',
      TESSERA_REQUEST_TIMEOUT_MS: '5000',
      TESSERA_KEEP_ALIVE_TIMEOUT_MS: '4000',
      TESSERA_IDLE_TIMEOUT_MS: '9000',
      TESSERA_REPLAY_CACHE_SIZE: '5000',
    };
    expect(resolveServerConfig({}, env)).toMatchObject({
      timeouts: { headersMs: 2000, requestMs: 5000, keepAliveMs: 4000, idleMs: 9000 },
      replayCacheSize: 5000,
    });
    const flags = { 'headers-timeout-ms': '1000', 'request-timeout-ms': '3000', 'replay-cache-size': '1000' };
    expect(resolveServerConfig(flags, env)).toMatchObject({ timeouts: { headersMs: 1000, requestMs: 3000, keepAliveMs: 4000 }, replayCacheSize: 1000 });
  });

  it.each([
    [{ 'headers-timeout-ms': '0' }, '--headers-timeout-ms must be a whole number from 100 to 3600000'],
    [{ 'request-timeout-ms': '1.5' }, '--request-timeout-ms must be a whole number from 100 to 3600000'],
    [{ 'idle-timeout-ms': '-1' }, '--idle-timeout-ms must be a whole number from 100 to 3600000'],
    [{ 'keep-alive-timeout-ms': 'soon' }, '--keep-alive-timeout-ms must be a whole number from 100 to 3600000'],
    [{ 'headers-timeout-ms': '40000' }, '--headers-timeout-ms must not be longer than --request-timeout-ms'],
    [{ 'replay-cache-size': '10' }, '--replay-cache-size must be a whole number from 1000 to 100000000'],
  ])('refuses %o', (flags, message) => {
    expect(() => resolveServerConfig(flags, {})).toThrow(message);
  });
});
