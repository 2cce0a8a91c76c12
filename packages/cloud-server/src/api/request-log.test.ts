import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../logger-options.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import { createTestApp, type TestApp } from '../../test/support/app-harness.js';

/**
 * The request log as the server writes it (the same logger options `tessera-cloud start`
 * uses), captured line by line: credentials sent in a URL or a header never reach it.
 */

const ADMIN_KEY = 'tsk_LeakedInAUrl0123456789abcdefghijklmnopqrstu';
const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2lnbmF0dXJlc2lnbmF0dXJl';
/** The key without its prefix: found however the URL spelled the prefix. */
const SECRETS = [ADMIN_KEY.slice(4), JWT, 'hunter2-password', 'sk_live_query_value', 'opaque-session-value'];

describe('request log', () => {
  let t: TestApp;
  const lines: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(BACKENDS[0]!, { app: { logger: loggerOptions('debug', { write: (line: string) => void lines.push(line) }) } });
  });
  afterAll(async () => {
    await t.close();
  });

  it.each([
    ['an admin key as access_token', `/api/v1/client-workloads?access_token=${ADMIN_KEY}`],
    ['a token, a key and a password', `/api/v1/client-workloads?token=${JWT}&key=sk_live_query_value&password=hunter2-password`],
    ['any unknown parameter', '/api/v1/client-workloads?session=opaque-session-value&limit=5'],
    ['an admin key in a known parameter', `/api/v1/client-workloads?name=${ADMIN_KEY}`],
    ['an admin key, percent-encoded', `/api/v1/client-workloads?name=${ADMIN_KEY.replace('_', '%5F')}`],
    ['an admin key in the path', `/api/v1/client-workloads/${ADMIN_KEY}`],
    ['a JWT in the path', `/edge/v1/${JWT}`],
    ['an admin key as a parameter name', `/healthz?${ADMIN_KEY}`],
  ])('keeps %s out of the log', async (_name, url) => {
    lines.length = 0;
    const response = await t.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, dpop: JWT, cookie: 'session=opaque-session-value', 'x-api-key': 'sk_live_query_value' },
    });
    expect(response.statusCode).toBeGreaterThanOrEqual(200);
    const log = lines.join('');
    expect(log).toContain('"msg":"incoming request"');
    for (const secret of SECRETS) expect(log).not.toContain(secret);
    expect(log).toContain('[redacted]');
  });

  it('keeps the route and the parameters that carry no credential readable', async () => {
    lines.length = 0;
    const id = '0190a6f1-7c1e-7000-8000-000000000000';
    await t.app.inject({ method: 'GET', url: `/api/v1/audit-events?kind=edge.attest&clientWorkloadId=${id}&limit=5&token=x`, headers: { authorization: `Bearer ${t.rootKey}` } });
    const request = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'incoming request');
    expect(request.req).toMatchObject({ method: 'GET', url: `/api/v1/audit-events?kind=edge.attest&clientWorkloadId=${id}&limit=5&token=[redacted]` });
  });
});

describe('an unexpected failure', () => {
  it('answers a bare 500 on admin and edge routes; the stack goes to the server log only', async () => {
    const lines: string[] = [];
    const t = await createTestApp(BACKENDS[0]!, { app: { logger: loggerOptions('info', { write: (line: string) => void lines.push(line) }) } });
    try {
      // Nothing a client sends can cause this: the database is gone under the running server.
      await t.store.close();
      const answers = [
        await t.app.inject({ method: 'GET', url: '/api/v1/client-workloads', headers: { authorization: `Bearer ${t.rootKey}` } }),
        await t.app.inject({ method: 'POST', url: '/edge/v1/attest', payload: { evidence: { type: 'fixture' } } }),
      ];
      for (const answer of answers) {
        expect(answer.statusCode).toBe(500);
        expect(answer.body).toBe('{"code":"internal_error","message":"Internal error"}');
      }
      const failures = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 50);
      expect(failures).toHaveLength(2);
      for (const failure of failures) expect(failure.err.stack).toMatch(/\n\s+at /);
    } finally {
      await t.app.close();
      await t.harness.dispose();
    }
  });
});
