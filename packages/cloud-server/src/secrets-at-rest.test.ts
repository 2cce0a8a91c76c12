import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../test/support/app-harness.js';

/**
 * What a thief of the database gets: rows and files with no plaintext secret, admin key or
 * private signing key — only AES-256-GCM envelopes and SHA-256 hashes.
 */
describe.each(BACKENDS)('secrets at rest ($name)', (backend) => {
  let t: TestApp;
  const plaintexts = {
    apiKey: 'sk_live_AT_REST_api_key_4f1c9e',
    password: 'AT_REST_password_c0rrect-h0rse',
    webhookAuth: 'Bearer AT_REST_webhook_token_77aa',
  };
  let adminKey: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    await create(t, 'credential-providers', { name: 'api', type: 'api-key', secrets: { apiKey: plaintexts.apiKey } });
    const basic = await create(t, 'credential-providers', {
      name: 'basic',
      type: 'basic',
      config: { username: 'svc' },
      secrets: { password: 'first-password-AT_REST' },
    });
    // Rotating a secret must not leave the old value behind either.
    await t.call('PATCH', `/api/v1/credential-providers/${basic.id}`, { body: { secrets: { password: plaintexts.password } } });
    await create(t, 'log-streams', {
      name: 'siem',
      type: 'webhook',
      config: { url: 'https://siem.example.com/ingest' },
      secrets: { authorization: plaintexts.webhookAuth },
    });
    adminKey = (await create(t, 'admin-keys', { name: 'at-rest', role: 'auditor', resourceSetIds: ['*'] })).key;
    await t.keyRing.rotate();
  });
  afterAll(async () => {
    await t.close();
  });

  function expectNoPlaintext(haystack: string): void {
    for (const value of [...Object.values(plaintexts), 'first-password-AT_REST', adminKey, t.rootKey]) {
      expect(haystack.includes(value), `found a plaintext secret of length ${value.length}`).toBe(false);
    }
    expect(haystack).not.toMatch(/PRIVATE KEY|"d":"/);
  }

  it('keeps no plaintext secret in any table', async () => {
    const dump: string[] = [];
    for (const table of ['objects', 'object_refs', 'audit_events', 'signing_keys', 'meta']) {
      dump.push(JSON.stringify(await t.harness.rawQuery(`SELECT * FROM ${table}`)));
    }
    const all = dump.join('\n');
    expect(all).toContain('tsb1.'); // the envelopes are there...
    expectNoPlaintext(all); // ...and nothing they protect
  });

  if (backend.name === 'sqlite') it('keeps no plaintext secret in the raw database files', async () => {
    const path = t.harness.filePath!;
    const bytes = ['', '-wal', '-shm']
      .map((suffix) => path + suffix)
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file).toString('latin1'))
      .join('\n');
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes).toContain('tsb1.');
    expectNoPlaintext(bytes);
  });
});
