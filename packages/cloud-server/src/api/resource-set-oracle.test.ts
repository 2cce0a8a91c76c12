import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp, type TestResponse } from '../../test/support/app-harness.js';

/**
 * A key scoped to resource set A must not learn whether a resource set it cannot see exists:
 * every route that takes a resource set id — in the body, a query filter or the path — answers
 * an existing set B exactly as it answers an id that names nothing (status, code and message).
 */

type Route = [name: string, call: (t: TestApp, key: string, setId: string, own: { clientId: string; keyId: string }) => Promise<TestResponse>];

const identities = [{ claim: 'a', value: 'b' }];
const unique = () => randomUUID().slice(0, 8);

const OBJECT_BODIES: Record<string, () => Record<string, unknown>> = {
  'client-workloads': () => ({ name: `c-${unique()}`, identities }),
  'server-workloads': () => ({ name: `s-${unique()}`, host: 'x.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } }),
  'trust-providers': () => ({ name: `t-${unique()}`, type: 'fixture-static', config: { subjects: ['a'] } }),
  'credential-providers': () => ({ name: `k-${unique()}`, type: 'api-key', secrets: { apiKey: 'sk_oracle' } }),
  'access-conditions': () => ({ name: `w-${unique()}`, type: 'time-window', config: { timeZone: 'UTC', start: '09:00', end: '17:00' } }),
  'log-streams': () => ({ name: `l-${unique()}`, type: 'file', config: { path: `oracle-${unique()}.jsonl` } }),
};

const ROUTES: Route[] = [
  ...Object.entries(OBJECT_BODIES).map(([plural, body]): Route => [
    `POST /api/v1/${plural} {resourceSetId}`,
    (t, key, setId) => t.call('POST', `/api/v1/${plural}`, { key, body: { ...body(), resourceSetId: setId } }),
  ]),
  ['POST /api/v1/access-policies {resourceSetId}', (t, key, setId) =>
    t.call('POST', '/api/v1/access-policies', { key, body: { name: `p-${unique()}`, resourceSetId: setId, clientWorkloadIds: [randomUUID()], serverWorkloadId: randomUUID(), trustProviderIds: [randomUUID()], credentialProviderId: randomUUID() } })],
  ['PATCH /api/v1/client-workloads/:id {resourceSetId}', (t, key, setId, own) => t.call('PATCH', `/api/v1/client-workloads/${own.clientId}`, { key, body: { resourceSetId: setId } })],
  ['GET /api/v1/client-workloads?resourceSetId=', (t, key, setId) => t.call('GET', `/api/v1/client-workloads?resourceSetId=${setId}`, { key })],
  ['GET /api/v1/audit-events?resourceSetId=', (t, key, setId) => t.call('GET', `/api/v1/audit-events?resourceSetId=${setId}`, { key })],
  ['GET /api/v1/request-metrics?resourceSetId=', (t, key, setId) => t.call('GET', `/api/v1/request-metrics?resourceSetId=${setId}`, { key })],
  ['GET /api/v1/resource-sets/:id', (t, key, setId) => t.call('GET', `/api/v1/resource-sets/${setId}`, { key })],
  ['PATCH /api/v1/resource-sets/:id', (t, key, setId) => t.call('PATCH', `/api/v1/resource-sets/${setId}`, { key, body: { description: 'x' } })],
  ['DELETE /api/v1/resource-sets/:id', (t, key, setId) => t.call('DELETE', `/api/v1/resource-sets/${setId}`, { key })],
  ['POST /api/v1/admin-keys {resourceSetIds}', (t, key, setId) => t.call('POST', '/api/v1/admin-keys', { key, body: { name: `k-${unique()}`, role: 'auditor', resourceSetIds: [setId] } })],
  ['PATCH /api/v1/admin-keys/:id {resourceSetIds}', (t, key, setId, own) => t.call('PATCH', `/api/v1/admin-keys/${own.keyId}`, { key, body: { resourceSetIds: [setId] } })],
];

const ROLES = ['admin', 'editor', 'auditor'] as const;

describe.each(BACKENDS)('resource set existence oracle ($name)', (backend) => {
  let t: TestApp;
  let setB: string;
  const keys: Record<string, string> = {};
  let own: { clientId: string; keyId: string };

  beforeAll(async () => {
    t = await createTestApp(backend);
    const setA = (await create(t, 'resource-sets', { name: 'a' })).id as string;
    setB = (await create(t, 'resource-sets', { name: 'b' })).id as string;
    for (const role of ROLES) keys[role] = (await create(t, 'admin-keys', { name: `${role}-a`, role, resourceSetIds: [setA] })).key;
    const client = await create(t, 'client-workloads', { name: 'own', resourceSetId: setA, identities });
    const auditorKey = await create(t, 'admin-keys', { name: 'target-a', role: 'auditor', resourceSetIds: [setA] });
    own = { clientId: client.id, keyId: auditorKey.id };
  });
  afterAll(async () => {
    await t.close();
  });

  for (const role of ROLES) {
    it.each(ROUTES)(`${role} [A]: %s answers set B as it answers a set that does not exist`, async (_name, call) => {
      const existing = await call(t, keys[role]!, setB, own);
      const missing = await call(t, keys[role]!, randomUUID(), own);
      expect(existing.status, existing.raw).toBeGreaterThanOrEqual(200);
      expect({ status: existing.status, body: existing.body }).toEqual({ status: missing.status, body: missing.body });
      expect(existing.raw).not.toContain(setB);
    });
  }
});
