import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createGraph, createTestApp, type TestApp } from '../../test/support/app-harness.js';

describe.each(BACKENDS)('admin API ($name)', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(backend);
  });
  afterAll(async () => {
    await t.close();
  });

  it('starts with the default resource set and the bootstrap key', async () => {
    const sets = await t.call('GET', '/api/v1/resource-sets');
    expect(sets.status).toBe(200);
    expect(sets.body.items.map((s: { name: string }) => s.name)).toEqual(['default']);
    const keys = await t.call('GET', '/api/v1/admin-keys');
    expect(keys.body.items).toHaveLength(1);
    expect(keys.body.items[0]).toMatchObject({ name: 'bootstrap', role: 'admin', resourceSetIds: ['*'] });
    expect(JSON.stringify(keys.body)).not.toContain(t.rootKey);
  });

  it('creates, reads, patches, lists and deletes every kind', async () => {
    const graph = await createGraph(t);
    for (const [plural, object] of [
      ['client-workloads', graph.client],
      ['server-workloads', graph.server],
      ['trust-providers', graph.trust],
      ['credential-providers', graph.credential],
      ['access-conditions', graph.condition],
      ['access-policies', graph.policy],
    ] as const) {
      const read = await t.call('GET', `/api/v1/${plural}/${object.id}`);
      expect(read.status, plural).toBe(200);
      expect(read.body).toEqual(object);
      const patched = await t.call('PATCH', `/api/v1/${plural}/${object.id}`, { body: { description: 'changed ✓' } });
      expect(patched.status, plural).toBe(200);
      expect(patched.body.description).toBe('changed ✓');
      expect(Date.parse(patched.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(object.updatedAt));
      const listed = await t.call('GET', `/api/v1/${plural}?name=${object.name}`);
      expect(listed.body.items.map((o: { id: string }) => o.id)).toEqual([object.id]);
    }
    // Delete in dependency order: the policy first, then what it referenced.
    for (const [plural, object] of [
      ['access-policies', graph.policy],
      ['client-workloads', graph.client],
      ['server-workloads', graph.server],
      ['trust-providers', graph.trust],
      ['credential-providers', graph.credential],
      ['access-conditions', graph.condition],
    ] as const) {
      expect((await t.call('DELETE', `/api/v1/${plural}/${object.id}`)).status, plural).toBe(204);
      expect((await t.call('GET', `/api/v1/${plural}/${object.id}`)).status, plural).toBe(404);
    }
  });

  it('applies defaults and normalises hosts on create', async () => {
    const server = await create(t, 'server-workloads', {
      name: 'defaults',
      host: '*.Example.COM',
      port: 8443,
      scheme: 'https',
      injection: { kind: 'header', name: 'authorization' },
    });
    expect(server).toMatchObject({
      host: '*.example.com',
      pathPrefix: '/',
      enabled: true,
      description: '',
      injection: { kind: 'header', name: 'authorization', format: 'Bearer {token}' },
    });
    const ipv6 = await create(t, 'server-workloads', { name: 'v6', host: '0:0:0:0:0:0:0:1', port: 443, scheme: 'https', injection: { kind: 'basic' } });
    expect(ipv6.host).toBe('::1');
    // A patch never gains defaulted fields it did not send.
    const patched = await t.call('PATCH', `/api/v1/server-workloads/${server.id}`, { body: { pathPrefix: '/v2' } });
    expect(patched.body).toMatchObject({ pathPrefix: '/v2', injection: server.injection, host: '*.example.com' });
  });

  it('keeps secrets write-only and merges them on patch', async () => {
    const created = await create(t, 'credential-providers', {
      name: 'write-only',
      type: 'basic',
      config: { username: 'svc' },
      secrets: { password: 'hunter2-super-secret' },
    });
    expect(created.secretFields).toEqual(['password']);
    expect(JSON.stringify(created)).not.toContain('hunter2');
    const read = await t.call('GET', `/api/v1/credential-providers/${created.id}`);
    expect(read.raw).not.toContain('hunter2');
    expect(read.body.secretFields).toEqual(['password']);
    // Patching config alone keeps the secret; a secret of the wrong shape is refused by the type's schema.
    const renamed = await t.call('PATCH', `/api/v1/credential-providers/${created.id}`, { body: { config: { username: 'svc2' } } });
    expect(renamed.body).toMatchObject({ config: { username: 'svc2' }, secretFields: ['password'] });
    const removed = await t.call('PATCH', `/api/v1/credential-providers/${created.id}`, { body: { secrets: { password: null } } });
    expect(removed.status).toBe(400);
    expect(removed.body.code).toBe('validation_failed');
    expect(removed.body.details[0].path).toBe('/secrets/password');
    const unknown = await t.call('PATCH', `/api/v1/credential-providers/${created.id}`, { body: { secrets: { token: 'x' } } });
    expect(unknown.status).toBe(400);
    expect(unknown.raw).not.toContain('"x"');
  });

  it('validates provider config against the schema of its type', async () => {
    const badType = await t.call('POST', '/api/v1/trust-providers', {
      body: { name: 'nope', type: 'no-such-type', config: {} },
    });
    expect(badType.status).toBe(400);
    expect(badType.body).toMatchObject({ code: 'validation_failed', details: [{ path: '/type' }] });
    const badConfig = await t.call('POST', '/api/v1/access-conditions', {
      body: { name: 'tw', type: 'time-window', config: { timeZone: 'Mars/Olympus', start: '09:00', end: '17:00' } },
    });
    expect(badConfig.status).toBe(400);
    expect(badConfig.body.details[0].path).toMatch(/^\/config/);
    const unknownField = await t.call('POST', '/api/v1/access-conditions', {
      body: { name: 'ip', type: 'source-ip', config: { allow: ['10.0.0.0/8'], extra: true } },
    });
    expect(unknownField.status).toBe(400);
    const badCidr = await t.call('POST', '/api/v1/access-conditions', {
      body: { name: 'ip', type: 'source-ip', config: { allow: ['10.0.0.0/33'] } },
    });
    expect(badCidr.status).toBe(400);
    const typeChange = await createGraph(t);
    const immutable = await t.call('PATCH', `/api/v1/credential-providers/${typeChange.credential.id}`, {
      body: { type: 'basic' },
    });
    expect(immutable.status).toBe(400);
    expect(immutable.body.code).toBe('immutable_field');
  });

  it('refuses dangling references and deleting referenced objects', async () => {
    const graph = await createGraph(t);
    const dangling = await t.call('POST', '/api/v1/access-policies', {
      body: {
        name: 'dangling',
        clientWorkloadIds: [graph.client.id],
        serverWorkloadId: '00000000-0000-7000-8000-000000000000',
        trustProviderIds: [graph.trust.id],
        credentialProviderId: graph.credential.id,
      },
    });
    expect(dangling.status).toBe(400);
    expect(dangling.body).toMatchObject({ code: 'invalid_reference', details: [{ path: '/serverWorkloadId' }] });
    const wrongKind = await t.call('POST', '/api/v1/access-policies', {
      body: {
        name: 'wrong-kind',
        clientWorkloadIds: [graph.server.id],
        serverWorkloadId: graph.server.id,
        trustProviderIds: [graph.trust.id],
        credentialProviderId: graph.credential.id,
      },
    });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.body.details[0].path).toBe('/clientWorkloadIds/0');

    const referenced = await t.call('DELETE', `/api/v1/server-workloads/${graph.server.id}`);
    expect(referenced.status).toBe(409);
    expect(referenced.body.code).toBe('still_referenced');
    expect(referenced.body.details).toEqual([expect.objectContaining({ id: graph.policy.id, kind: 'access-policy' })]);
    expect((await t.call('GET', `/api/v1/server-workloads/${graph.server.id}`)).status).toBe(200);
  });

  it('refuses references across resource sets and deleting a set that holds objects', async () => {
    const set = await create(t, 'resource-sets', { name: 'team-b' });
    const other = await createGraph(t, set.id);
    const local = await createGraph(t);
    const crossSet = await t.call('PATCH', `/api/v1/access-policies/${local.policy.id}`, {
      body: { serverWorkloadId: other.server.id },
    });
    expect(crossSet.status).toBe(400);
    expect(crossSet.body.code).toBe('invalid_reference');
    const moved = await t.call('PATCH', `/api/v1/client-workloads/${local.client.id}`, { body: { resourceSetId: set.id } });
    expect(moved.status).toBe(400);
    const busy = await t.call('DELETE', `/api/v1/resource-sets/${set.id}`);
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe('still_referenced');
  });

  it('keeps names unique within a resource set and kind', async () => {
    await create(t, 'client-workloads', { name: 'dup', identities: [{ claim: 'a', value: 'b' }] });
    const again = await t.call('POST', '/api/v1/client-workloads', {
      body: { name: 'dup', identities: [{ claim: 'a', value: 'c' }] },
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('name_taken');
    const set = await create(t, 'resource-sets', { name: 'team-dup' });
    await create(t, 'client-workloads', { resourceSetId: set.id, name: 'dup', identities: [{ claim: 'a', value: 'b' }] });
    await create(t, 'server-workloads', {
      name: 'dup',
      host: 'dup.example.com',
      port: 443,
      scheme: 'https',
      injection: { kind: 'basic' },
    });
  });

  it('paginates with opaque cursors', async () => {
    const set = await create(t, 'resource-sets', { name: 'paging' });
    const names = Array.from({ length: 7 }, (_, i) => `page-${i}`);
    for (const name of names) {
      await create(t, 'client-workloads', { resourceSetId: set.id, name, identities: [{ claim: 'x', value: name }] });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `resourceSetId=${set.id}&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await t.call('GET', `/api/v1/client-workloads?${query}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.items.map((o: { name: string }) => o.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(names);
    expect((await t.call('GET', '/api/v1/client-workloads?cursor=!!!')).body.code).toBe('invalid_cursor');
    expect((await t.call('GET', '/api/v1/client-workloads?limit=0')).body.items.length).toBeLessThanOrEqual(1);
  });

  it('records every admin write as an admin.change audit event without secret values', async () => {
    const created = await create(t, 'credential-providers', {
      name: 'audited',
      type: 'api-key',
      secrets: { apiKey: 'sk_audit_value_never_logged' },
    });
    await t.call('PATCH', `/api/v1/credential-providers/${created.id}`, {
      body: { description: 'new', secrets: { apiKey: 'sk_audit_value_rotated' } },
    });
    await t.call('DELETE', `/api/v1/credential-providers/${created.id}`);
    const events = await t.call('GET', `/api/v1/audit-events?objectId=${created.id}`);
    expect(events.status).toBe(200);
    expect(events.body.items.map((e: { data: { action: string } }) => e.data.action)).toEqual(['delete', 'update', 'create']);
    const [, update, creation] = events.body.items;
    expect(creation).toMatchObject({ kind: 'admin.change', outcome: 'success', objectId: created.id });
    expect(creation.data.changedFields).toEqual(['name', 'secrets.apiKey', 'type']);
    expect(update.data.changedFields).toEqual(['description', 'secrets.apiKey']);
    expect(update.actor).toBe((await t.call('GET', '/api/v1/admin-keys')).body.items[0].id);
    expect(events.raw).not.toContain('sk_audit_value');
    const filtered = await t.call('GET', `/api/v1/audit-events?kind=admin.change&outcome=deny`);
    expect(filtered.body.items).toEqual([]);
    // `since` is inclusive, and the create may share the update's millisecond.
    const since = await t.call('GET', `/api/v1/audit-events?since=${encodeURIComponent(update.time)}&objectId=${created.id}`);
    const atOrAfterUpdate = events.body.items.filter((e: { time: string }) => e.time >= update.time).map((e: { id: string }) => e.id);
    expect(atOrAfterUpdate.length).toBeGreaterThanOrEqual(2);
    expect(since.body.items.map((e: { id: string }) => e.id)).toEqual(atOrAfterUpdate);
  });

  it('creates one admin key of a name and scope when several creates race (the name check and the insert are one step)', async () => {
    const body = { name: 'raced', role: 'editor', resourceSetIds: ['*'] };
    const answers = await Promise.all(Array.from({ length: 6 }, () => t.call('POST', '/api/v1/admin-keys', { body })));
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    expect(answers.filter((answer) => answer.status === 409).every((answer) => answer.body.code === 'name_taken')).toBe(true);
    expect((await t.call('GET', '/api/v1/admin-keys?name=raced')).body.items).toHaveLength(1);
  });

  it('keeps an admin key with access to every set when two are disabled at once', async () => {
    const first = await create(t, 'admin-keys', { name: 'raced-admin-1', role: 'admin', resourceSetIds: ['*'] });
    const second = await create(t, 'admin-keys', { name: 'raced-admin-2', role: 'admin', resourceSetIds: ['*'] });
    const others = (await t.call('GET', '/api/v1/admin-keys')).body.items.filter(
      (key: { id: string; role: string; enabled: boolean }) => key.role === 'admin' && key.enabled && key.id !== first.id && key.id !== second.id,
    );
    for (const other of others) expect((await t.call('PATCH', `/api/v1/admin-keys/${other.id}`, { body: { enabled: false }, key: first.key })).status).toBe(200);
    const answers = await Promise.all(
      [first, second].map((key) => t.call('PATCH', `/api/v1/admin-keys/${key.id}`, { body: { enabled: false }, key: key.key })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    expect(answers.find((answer) => answer.status === 409)!.body.code).toBe('last_admin_key');
    // Put the keys this test turned off back, for the tests after it.
    const survivor = answers[0]!.status === 409 ? first : second;
    for (const other of others) expect((await t.call('PATCH', `/api/v1/admin-keys/${other.id}`, { body: { enabled: true }, key: survivor.key })).status).toBe(200);
    expect((await t.call('PATCH', `/api/v1/admin-keys/${survivor.id}`, { body: { enabled: false } })).status).toBe(200);
  });

  it('creates admin keys shown once and usable at once', async () => {
    const created = await create(t, 'admin-keys', { name: 'ci', role: 'editor', resourceSetIds: ['*'] });
    expect(created.key).toMatch(/^tsk_[A-Za-z0-9_-]{43}$/);
    const read = await t.call('GET', `/api/v1/admin-keys/${created.id}`);
    expect(read.body.key).toBeUndefined();
    expect(read.raw).not.toContain(created.key);
    expect((await t.call('GET', '/api/v1/client-workloads', { key: created.key })).status).toBe(200);
    await t.call('PATCH', `/api/v1/admin-keys/${created.id}`, { body: { enabled: false } });
    expect((await t.call('GET', '/api/v1/client-workloads', { key: created.key })).status).toBe(401);
    const expired = await create(t, 'admin-keys', {
      name: 'expired',
      role: 'admin',
      resourceSetIds: ['*'],
      expiresAt: new Date(Date.now() - 1000).toISOString(),
    });
    expect((await t.call('GET', '/api/v1/client-workloads', { key: expired.key })).status).toBe(401);
  });

  it('never removes the last global admin key', async () => {
    const keys = await t.call('GET', '/api/v1/admin-keys?name=bootstrap');
    const bootstrapId = keys.body.items[0].id;
    const admins = (await t.call('GET', '/api/v1/admin-keys')).body.items.filter(
      (k: { role: string; enabled: boolean; resourceSetIds: string[]; expiresAt: string | null }) =>
        k.role === 'admin' && k.enabled && k.resourceSetIds[0] === '*' && (k.expiresAt === null || Date.parse(k.expiresAt) > Date.now()),
    );
    expect(admins).toHaveLength(1);
    const refused = await t.call('DELETE', `/api/v1/admin-keys/${bootstrapId}`);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('last_admin_key');
    expect((await t.call('PATCH', `/api/v1/admin-keys/${bootstrapId}`, { body: { role: 'auditor' } })).status).toBe(409);
    const second = await create(t, 'admin-keys', { name: 'second-admin', role: 'admin', resourceSetIds: ['*'] });
    expect((await t.call('PATCH', `/api/v1/admin-keys/${bootstrapId}`, { body: { enabled: false } })).status).toBe(200);
    expect((await t.call('PATCH', `/api/v1/admin-keys/${bootstrapId}`, { body: { enabled: true }, key: second.key })).status).toBe(200);
  });

  it('rotates signing keys and keeps the previous public key published', async () => {
    const before = await t.call('GET', '/.well-known/jwks.json', { key: null });
    expect(before.body.keys).toHaveLength(1);
    const rotated = await t.call('POST', '/api/v1/signing-keys/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.body.retiredKid).toBe(before.body.keys[0].kid);
    const after = await t.call('GET', '/.well-known/jwks.json', { key: null });
    expect(after.body.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([rotated.body.kid, rotated.body.retiredKid].sort());
    for (const key of after.body.keys) expect(key).not.toHaveProperty('d');
    const listed = await t.call('GET', '/api/v1/signing-keys');
    expect(listed.body.items.map((k: { status: string }) => k.status).sort()).toEqual(['active', 'retired']);
    expect(rotated.body.keys).toEqual([{ alg: 'ES256', kid: rotated.body.kid, retiredKid: rotated.body.retiredKid }]);
  });

  it('rotates the RS256 key too once it is in use, and lists each key with its algorithm', async () => {
    const rsKid = decodeProtectedHeader(
      await t.keyRing.sign({}, { issuer: 'https://tessera.test', audience: 'api://AzureADTokenExchange', subject: 'w', lifetimeSeconds: 60, algorithm: 'RS256' }),
    ).kid;
    const before = await t.call('GET', '/.well-known/jwks.json', { key: null });
    const esKid = await t.keyRing.ensureActiveKey(); // the active ES256 key (a retired one is published too)
    expect(before.body.keys.find((k: { alg: string }) => k.alg === 'RS256')).toMatchObject({ kid: rsKid, kty: 'RSA', use: 'sig' });

    const rotated = await t.call('POST', '/api/v1/signing-keys/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ retiredKid: esKid, keys: [{ alg: 'ES256', retiredKid: esKid }, { alg: 'RS256', retiredKid: rsKid }] });
    expect(rotated.body.kid).toBe(rotated.body.keys[0].kid);
    const newRsKid = rotated.body.keys[1].kid;

    const listed = await t.call('GET', '/api/v1/signing-keys');
    const byKid = new Map(listed.body.items.map((k: { kid: string }) => [k.kid, k]));
    expect(byKid.get(rsKid)).toMatchObject({ alg: 'RS256', status: 'retired' });
    expect(byKid.get(newRsKid)).toMatchObject({ alg: 'RS256', status: 'active', retiredAt: null, publishUntil: null });
    expect(byKid.get(rotated.body.kid)).toMatchObject({ alg: 'ES256', status: 'active' });
    const after = await t.call('GET', '/.well-known/jwks.json', { key: null });
    expect(after.body.keys.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining([rsKid, newRsKid, esKid, rotated.body.kid]));

    const audit = await t.call('GET', '/api/v1/audit-events?kind=signing-key.rotate');
    expect(audit.body.items[0].data).toMatchObject({ kid: rotated.body.kid, retiredKid: esKid, keys: rotated.body.keys });
  });

  it('serves the OIDC discovery document and OpenAPI', async () => {
    const discovery = await t.call('GET', '/.well-known/openid-configuration', { key: null });
    expect(discovery.body).toMatchObject({
      issuer: 'https://tessera.test',
      jwks_uri: 'https://tessera.test/.well-known/jwks.json',
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
    });
    const openapi = await t.call('GET', '/openapi.json', { key: null });
    expect(openapi.status).toBe(200);
    expect(openapi.body.openapi).toMatch(/^3\./);
    for (const plural of ['client-workloads', 'server-workloads', 'trust-providers', 'credential-providers', 'access-conditions', 'access-policies', 'resource-sets', 'admin-keys', 'log-streams']) {
      expect(openapi.body.paths[`/api/v1/${plural}`], plural).toHaveProperty('get');
      expect(openapi.body.paths[`/api/v1/${plural}/{id}`], plural).toHaveProperty('patch');
    }
    expect(openapi.body.paths['/api/v1/audit-events']).toHaveProperty('get');
  });

  it('answers health probes', async () => {
    expect((await t.call('GET', '/healthz', { key: null })).body).toEqual({ status: 'ok' });
    expect((await t.call('GET', '/readyz', { key: null })).body).toEqual({ status: 'ready' });
  });

  it('stores log streams with their type-checked config', async () => {
    const file = await create(t, 'log-streams', { name: 'jsonl', type: 'file', config: { fileName: 'audit.jsonl' } });
    expect(file).toMatchObject({ type: 'file', config: { fileName: 'audit.jsonl' }, secretFields: [] });
    const escape = await t.call('POST', '/api/v1/log-streams', {
      body: { name: 'escape', type: 'file', config: { fileName: '../../etc/passwd.jsonl' } },
    });
    expect(escape.status).toBe(400);
    // `audit.1.jsonl` is the name `audit.jsonl` takes when it rotates.
    const rotated = await t.call('POST', '/api/v1/log-streams', {
      body: { name: 'rotated', type: 'file', config: { fileName: 'audit.1.jsonl' } },
    });
    expect(rotated.status).toBe(400);
    expect(rotated.body).toMatchObject({ code: 'validation_failed', details: [{ path: '/config', message: expect.stringMatching(/rotated files/) }] });
    expect((await t.call('GET', '/api/v1/log-streams?name=rotated')).body.items).toEqual([]);
    const hook = await create(t, 'log-streams', {
      name: 'siem',
      type: 'webhook',
      config: { url: 'https://siem.example.com/ingest' },
      secrets: { authorization: 'Splunk token-value-secret' },
    });
    expect(hook.secretFields).toEqual(['authorization']);
    expect(JSON.stringify(hook)).not.toContain('token-value-secret');
  });
});
