import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from './config.js';

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
