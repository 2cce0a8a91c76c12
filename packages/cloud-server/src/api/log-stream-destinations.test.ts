import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationGuard } from '../egress/destination-guard.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';

/**
 * Where an editor may point a webhook log stream: https to a public address, unless the operator
 * allow-lists more (`--log-stream-allow`). Each refused write is a 400 that stores nothing.
 */

const REFUSED: Array<[string, string, RegExp]> = [
  ['the cloud metadata service', 'https://169.254.169.254/latest/meta-data/iam/', /link-local/],
  ['the metadata service, decimal', 'https://2852039166/latest/meta-data/', /link-local/],
  ['the metadata service, hex', 'https://0xa9fea9fe/latest/meta-data/', /link-local/],
  ['the metadata service, IPv4-mapped IPv6', 'https://[::ffff:169.254.169.254]/latest/meta-data/', /link-local/],
  ["the control plane's admin API", 'http://127.0.0.1:8080/api/v1/admin-keys', /loopback/],
  ['loopback, decimal', 'http://2130706433:8080/api/v1/admin-keys', /loopback/],
  ['loopback, short form', 'http://127.1:8080/api/v1/admin-keys', /loopback/],
  ['loopback by name', 'http://localhost:8080/api/v1/admin-keys', /loopback/],
  ['IPv6 loopback', 'http://[::1]:8080/api/v1/admin-keys', /loopback/],
  ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]:8080/', /loopback/],
  ['a private IPv4 address', 'https://10.0.0.12/ingest', /private/],
  ['a private IPv4 address, 192.168', 'https://192.168.1.20/ingest', /private/],
  ['a unique-local IPv6 address', 'https://[fd00::12]/ingest', /private/],
  ['an IPv6 link-local address', 'https://[fe80::1]/ingest', /link-local/],
  ['the unspecified address', 'https://0.0.0.0/ingest', /unspecified/],
  ['the unspecified IPv6 address', 'https://[::]/ingest', /unspecified/],
  ['plain http to a public name', 'http://siem.example.com/ingest', /must use https/],
];

describe.each(BACKENDS)('log stream destinations ($name)', (backend) => {
  let t: TestApp;
  let allowing: TestApp;
  let serial = 0;

  beforeAll(async () => {
    t = await createTestApp(backend);
    allowing = await createTestApp(backend, { streamGuard: new DestinationGuard({ allow: ['127.0.0.1', '10.0.0.0/8'] }) });
  });
  afterAll(async () => {
    await t?.close();
    await allowing?.close();
  });

  it.each(REFUSED)('refuses a webhook to %s (%s)', async (_what, url, problem) => {
    const name = `hook-${++serial}`;
    const response = await t.call('POST', '/api/v1/log-streams', { body: { name, type: 'webhook', config: { url } } });
    expect(response.status, response.raw).toBe(400);
    expect(response.body).toMatchObject({ code: 'validation_failed', details: [{ path: '/config', message: expect.stringMatching(problem) }] });
    expect((await t.call('GET', `/api/v1/log-streams?name=${name}`)).body.items).toEqual([]);
  });

  it('refuses a change of url to a refused address, keeping the stored one', async () => {
    const stream = await create(t, 'log-streams', { name: `hook-${++serial}`, type: 'webhook', config: { url: 'https://siem.example.com/in' } });
    const response = await t.call('PATCH', `/api/v1/log-streams/${stream.id}`, { body: { config: { url: 'https://169.254.169.254/' } } });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_failed');
    expect((await t.call('GET', `/api/v1/log-streams/${stream.id}`)).body.config).toEqual({ url: 'https://siem.example.com/in' });
  });

  it('accepts https to a public name, and what the operator allow-listed', async () => {
    await create(t, 'log-streams', { name: `hook-${++serial}`, type: 'webhook', config: { url: 'https://siem.example.com/in' } });
    for (const url of ['http://127.0.0.1:9000/in', 'http://localhost:9000/in', 'https://10.1.2.3/in']) {
      await create(allowing, 'log-streams', { name: `hook-${++serial}`, type: 'webhook', config: { url } });
    }
    const stillRefused = await allowing.call('POST', '/api/v1/log-streams', {
      body: { name: `hook-${++serial}`, type: 'webhook', config: { url: 'https://169.254.169.254/' } },
    });
    expect(stillRefused.status).toBe(400);
  });
});
