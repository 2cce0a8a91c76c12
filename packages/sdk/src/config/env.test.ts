import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TesseraConfigurationError } from '../errors.js';
import { ENVIRONMENT, optionsFromEnv } from './env.js';

describe('optionsFromEnv', () => {
  it('needs TESSERA_CLOUD_URL and takes defaults for the rest', () => {
    expect(() => optionsFromEnv({})).toThrow(TesseraConfigurationError);
    expect(() => optionsFromEnv({ TESSERA_CLOUD_URL: '  ' })).toThrow(/TESSERA_CLOUD_URL/);
    const options = optionsFromEnv({ TESSERA_CLOUD_URL: 'https://tessera.example.com' });
    expect(options.cloudUrl).toBe('https://tessera.example.com');
    expect(options.collectors).toBeUndefined();
    expect(options.failMode).toBeUndefined();
    expect(options.intercept).toBeUndefined();
    expect(options.logger).toBeDefined();
  });

  it('reads every option', () => {
    const options = optionsFromEnv({
      TESSERA_CLOUD_URL: 'https://t.example',
      TESSERA_COLLECTORS: 'kubernetes-service-account, oidc',
      TESSERA_RESOURCE_SET: ' payments ',
      TESSERA_FAIL_MODE: 'OPEN',
      TESSERA_LOG_LEVEL: 'silent',
      TESSERA_INTERCEPT: 'fetch',
      TESSERA_ATTEST: 'lazy',
      TESSERA_START_TIMEOUT_MS: '0',
      TESSERA_SKEW_SECONDS: '5',
      TESSERA_DEADLINE_MS: '3000',
      TESSERA_REQUEST_TIMEOUT_MS: '1000',
      TESSERA_CACHE_MAX_ENTRIES: '50',
      TESSERA_CACHE_REFRESH_AHEAD_SECONDS: '10',
      TESSERA_METRICS_FLUSH_INTERVAL_MS: '250',
    });
    expect(options).toMatchObject({
      collectors: ['kubernetes-service-account', 'oidc'],
      resourceSet: 'payments',
      failMode: 'open',
      intercept: { fetch: true, http: false },
      attest: 'lazy',
      startTimeoutMs: 0,
      skewSeconds: 5,
      deadlineMs: 3000,
      requestTimeoutMs: 1000,
      cache: { maxEntries: 50, refreshAheadSeconds: 10 },
      metrics: { flushIntervalMs: 250 },
    });
    expect(optionsFromEnv({ TESSERA_CLOUD_URL: 'https://t.example', TESSERA_METRICS: 'off' }).metrics).toBe(false);
    expect(optionsFromEnv({ TESSERA_CLOUD_URL: 'https://t.example', TESSERA_METRICS_FLUSH_INTERVAL_MS: '0' }).metrics).toEqual({ flushIntervalMs: 0 });
    expect(optionsFromEnv({ TESSERA_CLOUD_URL: 'https://t.example', TESSERA_INTERCEPT: 'none' }).intercept).toEqual({ fetch: false, http: false });
  });

  it('still reads the TESSERA_EVENTS names of before request metrics; the new names win', () => {
    const url = { TESSERA_CLOUD_URL: 'https://t.example' };
    expect(optionsFromEnv({ ...url, TESSERA_EVENTS: 'off' }).metrics).toBe(false);
    expect(optionsFromEnv({ ...url, TESSERA_EVENTS: 'off', TESSERA_METRICS: 'on' }).metrics).toBeUndefined();
    expect(optionsFromEnv({ ...url, TESSERA_EVENTS_FLUSH_INTERVAL_MS: '600000', TESSERA_EVENTS_MAX_QUEUE: '100' }).metrics).toEqual({ flushIntervalMs: 600_000 });
    expect(optionsFromEnv({ ...url, TESSERA_EVENTS_FLUSH_INTERVAL_MS: '600000', TESSERA_METRICS_FLUSH_INTERVAL_MS: '5' }).metrics).toEqual({ flushIntervalMs: 5 });
  });

  it('names the variable when a value is malformed', () => {
    const bad: Record<string, string> = {
      TESSERA_FAIL_MODE: 'maybe',
      TESSERA_LOG_LEVEL: 'loud',
      TESSERA_INTERCEPT: 'fetch,sockets',
      TESSERA_ATTEST: 'later',
      TESSERA_START_TIMEOUT_MS: '5s',
      TESSERA_SKEW_SECONDS: '-1',
      TESSERA_DEADLINE_MS: '0',
      TESSERA_CACHE_MAX_ENTRIES: '1e3',
      TESSERA_EVENTS: 'maybe',
      TESSERA_METRICS: 'sometimes',
      TESSERA_METRICS_FLUSH_INTERVAL_MS: '10s',
      TESSERA_EVENTS_MAX_QUEUE: 'lots',
      TESSERA_COLLECTORS: ' , ',
      TESSERA_RESOURCE_SET: 'tenant b',
    };
    for (const [name, value] of Object.entries(bad)) {
      expect(() => optionsFromEnv({ TESSERA_CLOUD_URL: 'https://t.example', [name]: value }), name).toThrow(name);
    }
  });

  it('every variable is documented in docs/sdk.md', () => {
    const doc = readFileSync(new URL('../../../../docs/sdk.md', import.meta.url), 'utf8');
    for (const name of Object.keys(ENVIRONMENT)) expect(doc, name).toContain(`\`${name}\``);
  });
});
