import { randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationGuard } from '../egress/destination-guard.js';
import { loggerOptions } from '../logger-options.js';
import { KINDS } from '../objects/kinds.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp, type TestResponse } from '../../test/support/app-harness.js';
import { EdgeTestClient, injectSend } from '../../test/support/edge-client.js';
import { routeName, routesOf, type Route } from '../../test/support/route-table.js';

/**
 * Tenant isolation as a matrix. Sets A and B hold the same objects under the same names (same
 * issuer and JWKS, same hosts, same credential-provider configs; only the secrets differ). For
 * every route in the app's route table — a route this file does not classify fails the first
 * test — and every key scoped to B, whatever the role, every attempt on an object of A (read,
 * list, create into, update, delete, reference from B's own objects) is answered exactly as the
 * same attempt on an id that does not exist, and changes nothing. No answer, audit event or
 * error, for any key including global ones, carries a secret. At the edge, a workload that
 * attests into B gets B's directory, credentials and audit trail, and nothing of A's. Every
 * attack runs in both directions (B's keys against A, then A's against B).
 */

const ISSUER = 'https://tessera.test';
const IDP = 'https://idp.example.com';
const SETS = ['A', 'B'] as const;
type SetName = (typeof SETS)[number];
const ROLES = ['admin', 'editor', 'policy-editor', 'auditor'] as const;

/**
 * How each route is attacked. `item`: a route on one object (`/:id`); `list` and `create`: a
 * kind's collection; `set-filtered`: reads filtered by resource set; `global-only`: routes of
 * global admins; `edge`: the edge API (tested below, with edge tokens); `public`: unauthenticated
 * documents and probes that hold nothing of any set.
 */
type RouteClass = 'item' | 'list' | 'create' | 'set-filtered' | 'global-only' | 'edge' | 'public';

const OTHER_ROUTES: Record<string, RouteClass> = {
  'GET /api/v1/audit-events': 'set-filtered',
  'GET /api/v1/request-metrics': 'set-filtered',
  'GET /api/v1/signing-keys': 'global-only',
  'POST /api/v1/signing-keys/rotate': 'global-only',
  'POST /edge/v1/challenge': 'edge',
  'POST /edge/v1/attest': 'edge',
  'POST /edge/v1/credentials': 'edge',
  'POST /edge/v1/metrics': 'edge',
  'POST /edge/v1/events': 'edge',
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /.well-known/openid-configuration': 'public',
  'GET /.well-known/jwks.json': 'public',
  'GET /openapi.json': 'public',
};

/** The class of a route; HEAD is classified as its GET. Kinds' routes follow from the kinds table. */
function classify(route: Route): RouteClass | undefined {
  const method = route.method === 'HEAD' ? 'GET' : route.method;
  for (const def of KINDS) {
    const base = `/api/v1/${def.plural}`;
    if (route.url === base) return method === 'GET' ? 'list' : method === 'POST' ? 'create' : undefined;
    if (route.url === `${base}/:id` && ['GET', 'PATCH', 'DELETE'].includes(method)) return 'item';
  }
  return OTHER_ROUTES[`${method} ${route.url}`];
}

interface Twin {
  set: { id: string; name: string };
  /** By kind plural: the objects of this set that routes act on. */
  objects: Record<string, { id: string }>;
  secrets: string[];
  keys: Record<(typeof ROLES)[number], string>;
  keyIds: string[];
}

describe.each(BACKENDS)('isolation matrix ($name)', (backend) => {
  let t: TestApp;
  let routes: Route[];
  const twins = {} as Record<SetName, Twin>;
  const globalKeys: string[] = [];
  /** Every answer of this file, to be searched for secrets at the end. */
  const answers: Array<{ label: string; raw: string }> = [];
  let idp: { privateKey: CryptoKey; jwks: { keys: object[] } };
  const logLines: string[] = [];
  /**
   * In the attacks below, A is the set attacked and B the set whose keys attack it. They run in
   * both directions: A = tenant "default", B = "tenant-b", then the other way round.
   */
  let victim: SetName = 'A';
  let attacker: SetName = 'B';

  async function call(method: string, url: string, options: { key?: string | null; body?: unknown } = {}): Promise<TestResponse> {
    const response = await t.call(method, url, options);
    answers.push({ label: `${method} ${url}`, raw: response.raw });
    return response;
  }

  /** The same objects in every set, under the same names: only ids and secrets differ. */
  async function twin(name: SetName): Promise<Twin> {
    const set = name === 'A' ? (await t.call('GET', '/api/v1/resource-sets?name=default')).body.items[0] : await create(t, 'resource-sets', { name: 'tenant-b' });
    const inSet = { resourceSetId: set.id };
    const secret = (what: string) => `CANARY_${name}_${what}_${randomUUID().slice(0, 8)}`;
    const secrets = [secret('api_key'), secret('client_secret'), secret('webhook_auth')];
    const injection = { kind: 'header', name: 'authorization', format: 'Bearer {token}' };
    const trust = await create(t, 'trust-providers', { ...inSet, name: 'idp', type: 'oidc', config: { issuer: IDP, jwks: idp.jwks } });
    const client = await create(t, 'client-workloads', { ...inSet, name: 'app', identities: [{ claim: 'oidc.subject', value: 'repo:acme/app' }] });
    const server = await create(t, 'server-workloads', { ...inSet, name: 'api', host: 'api.example.com', port: 443, scheme: 'https', injection });
    const jwtServer = await create(t, 'server-workloads', { ...inSet, name: 'jwt-api', host: 'jwt.example.com', port: 443, scheme: 'https', injection });
    const apiKey = await create(t, 'credential-providers', { ...inSet, name: 'key', type: 'api-key', secrets: { apiKey: secrets[0] } });
    const minted = await create(t, 'credential-providers', { ...inSet, name: 'mint', type: 'workload-jwt', config: { audience: 'https://jwt.example.com' } });
    await create(t, 'credential-providers', {
      ...inSet,
      name: 'oauth',
      type: 'oauth2-client-credentials',
      config: { tokenEndpoint: 'https://idp.example.com/token', clientId: 'shared-client', authMethod: 'client_secret_basic' },
      secrets: { clientSecret: secrets[1] },
    });
    const condition = await create(t, 'access-conditions', { ...inSet, name: 'hours', type: 'time-window', config: { timeZone: 'UTC', start: '00:00', end: '23:59' } });
    const policy = await create(t, 'access-policies', {
      ...inSet,
      name: 'app-to-api',
      clientWorkloadIds: [client.id],
      serverWorkloadId: server.id,
      trustProviderIds: [trust.id],
      credentialProviderId: apiKey.id,
    });
    await create(t, 'access-policies', {
      ...inSet,
      name: 'app-to-jwt-api',
      clientWorkloadIds: [client.id],
      serverWorkloadId: jwtServer.id,
      trustProviderIds: [trust.id],
      credentialProviderId: minted.id,
    });
    const stream = await create(t, 'log-streams', {
      ...inSet,
      name: 'siem',
      type: 'webhook',
      config: { url: 'http://127.0.0.1:9/hook' },
      secrets: { authorization: secrets[2] },
    });
    const auditorKey = await create(t, 'admin-keys', { name: `target-${name}`, role: 'auditor', resourceSetIds: [set.id] });
    const keys = {} as Twin['keys'];
    const keyIds = [auditorKey.id as string];
    for (const role of ROLES) {
      const created = await create(t, 'admin-keys', { name: `${role}-${name}`, role, resourceSetIds: [set.id] });
      keys[role] = created.key;
      keyIds.push(created.id);
    }
    // One name only A uses: a filter on it must not tell B that it exists.
    await create(t, 'client-workloads', { ...inSet, name: `only-in-${name.toLowerCase()}`, identities: [{ claim: 'oidc.subject', value: 'nobody' }] });
    return {
      set,
      secrets,
      keys,
      keyIds,
      objects: {
        'resource-sets': set,
        'admin-keys': auditorKey,
        'client-workloads': client,
        'server-workloads': server,
        'trust-providers': trust,
        'credential-providers': apiKey,
        'access-conditions': condition,
        'access-policies': policy,
        'log-streams': stream,
      },
    };
  }

  beforeAll(async () => {
    t = await createTestApp(backend, {
      streamGuard: new DestinationGuard({ allow: ['127.0.0.1'] }),
      // The server log as `tessera-cloud start` writes it, at its most verbose.
      app: { logger: loggerOptions('debug', { write: (line: string) => void logLines.push(line) }) },
    });
    routes = routesOf(t.app);
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    idp = { privateKey, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' }] } };
    for (const name of SETS) twins[name] = await twin(name);
    for (const role of ROLES) globalKeys.push((await create(t, 'admin-keys', { name: `global-${role}`, role, resourceSetIds: ['*'] })).key);
    // A key of both sets, changed and deleted: its audit events name both sets.
    const both = await create(t, 'admin-keys', { name: 'both-sets', role: 'editor', resourceSetIds: [twins.A.set.id, twins.B.set.id] });
    await t.call('PATCH', `/api/v1/admin-keys/${both.id}`, { body: { description: 'spans A and B' } });
    await t.call('DELETE', `/api/v1/admin-keys/${both.id}`);
    await create(t, 'admin-keys', { name: 'both-sets-kept', role: 'auditor', resourceSetIds: [twins.A.set.id, twins.B.set.id] });
    // A minute of request metrics in each set.
    await t.store.transaction((tx) =>
      tx.addRequestMetrics(SETS.map((name) => ({
        time: '2030-01-01T00:00:00.000Z', resourceSetId: twins[name].set.id, clientWorkloadId: twins[name].objects['client-workloads']!.id,
        serverWorkloadId: twins[name].objects['server-workloads']!.id, target: 'https://api.example.com:443', outcome: 'allow' as const,
        statusClass: '2xx', reason: null, requests: 1, latencyMsSum: 1, latencyBuckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      }))),
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Everything of set A as the root key sees it: what B's keys must leave as it was. */
  async function stateOfA(): Promise<string> {
    const a = twins[victim].set.id;
    const objects = await Promise.all(KINDS.map((def) => t.store.listObjects({ kind: def.kind, limit: 100_000 })));
    const inA = objects.flat().filter((o) => o.resourceSetId === a || o.id === a || (o.kind === 'admin-key' && JSON.stringify(o.spec).includes(a)));
    return JSON.stringify(inA.map((o) => ({ ...o, secrets: undefined })).sort((x, y) => x.id.localeCompare(y.id)));
  }

  /** Every id of set A, the set's own included: none may appear in an answer to B's keys. */
  async function idsOfA(): Promise<string[]> {
    const a = twins[victim].set.id;
    const objects = await Promise.all(KINDS.map((def) => t.store.listObjects({ kind: def.kind, resourceSetIds: [a], limit: 100_000 })));
    return [a, ...twins[victim].keyIds, ...objects.flat().map((o) => o.id)];
  }

  const attackers = () => ROLES.map((role) => ({ role, key: twins[attacker].keys[role] }));

  /** Two answers that must be indistinguishable: same status, same body (HEAD: no body). */
  function expectSameAnswer(onA: TestResponse, ghost: TestResponse, label: string): void {
    expect({ status: onA.status, body: onA.body }, label).toEqual({ status: ghost.status, body: ghost.body });
    expect(onA.status, `${label}: ${onA.raw}`).toBeGreaterThanOrEqual(400);
  }

  it('classifies every route of the app', () => {
    const unclassified = routes.filter((route) => classify(route) === undefined).map(routeName);
    expect(unclassified, 'classify these routes in isolation-matrix.test.ts (see docs/testing.md)').toEqual([]);
    expect(routes.length).toBeGreaterThan(40);
  });

  for (const [attacked, attacking] of [['A', 'B'], ['B', 'A']] as const) {
    describe(`keys of ${attacking} against ${attacked}`, () => {
      beforeAll(() => {
        victim = attacked;
        attacker = attacking;
      });

      it('answers an attempt on any object of A, on every item route, as one on an id that does not exist, and changes nothing', async () => {
        const before = await stateOfA();
        for (const route of routes.filter((r) => classify(r) === 'item')) {
          const plural = route.url.split('/')[3]!;
          for (const { role, key } of attackers()) {
            const body = route.method === 'PATCH' ? { description: 'taken over' } : undefined;
            const onA = await call(route.method, route.url.replace(':id', twins[victim].objects[plural]!.id), { key, body });
            const ghost = await call(route.method, route.url.replace(':id', randomUUID()), { key, body });
            expectSameAnswer(onA, ghost, `${role} [B] ${routeName(route)}`);
          }
        }
        expect(await stateOfA()).toBe(before);
      });

      it('lists nothing of A, and answers a filter on A as a filter on a set that does not exist', async () => {
        const ids = await idsOfA();
        for (const route of routes.filter((r) => ['list', 'set-filtered'].includes(classify(r)!))) {
          const plural = route.url.split('/')[3]!;
          const global = plural === 'resource-sets' || plural === 'admin-keys';
          for (const { role, key } of attackers()) {
            const label = `${role} [B] ${routeName(route)}`;
            const all = await call(route.method, `${route.url}?limit=500`, { key });
            for (const id of ids) expect(all.raw, label).not.toContain(id);
            if (global) continue;
            const onA = await call(route.method, `${route.url}?limit=500&resourceSetId=${twins[victim].set.id}`, { key });
            const ghost = await call(route.method, `${route.url}?limit=500&resourceSetId=${randomUUID()}`, { key });
            expect({ status: onA.status, body: onA.body }, label).toEqual({ status: ghost.status, body: ghost.body });
          }
        }
      });

      it("answers every id filter of every list (read from the route's schema) naming an object of A as one naming nothing", async () => {
        const ids = await idsOfA();
        const document = t.app.swagger() as { paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string; schema: { pattern?: string } }> }>> };
        let filters = 0;
        for (const route of routes.filter((r) => r.method === 'GET' && ['list', 'set-filtered'].includes(classify(r)!))) {
          const parameters = document.paths[route.url]?.get?.parameters ?? [];
          // Parameters that take an id: a UUID pattern, or the acting key's id.
          const idParameters = parameters.filter((p) => p.in === 'query' && (p.schema.pattern?.includes('[0-9a-f]{8}') || p.name === 'actor')).map((p) => p.name);
          for (const parameter of idParameters) {
            filters += 1;
            for (const { role, key } of attackers()) {
              const ghost = await call('GET', `${route.url}?${parameter}=${randomUUID()}`, { key });
              for (const id of ids) {
                const onA = await call('GET', `${route.url}?${parameter}=${id}`, { key });
                expect({ status: onA.status, body: onA.body }, `${role} [B] ${route.url}?${parameter}=<A>`).toEqual({ status: ghost.status, body: ghost.body });
              }
            }
          }
          // Names are looked up too: one only A uses answers as one no set uses.
          if (parameters.some((p) => p.in === 'query' && p.name === 'name')) {
            for (const { role, key } of attackers()) {
              for (const name of [`only-in-${victim.toLowerCase()}`, twins[victim].set.name]) {
                const onA = await call('GET', `${route.url}?name=${name}`, { key });
                const ghost = await call('GET', `${route.url}?name=no-such-name`, { key });
                expect({ status: onA.status, body: onA.body }, `${role} [B] ${route.url}?name=${name}`).toEqual({ status: ghost.status, body: ghost.body });
              }
            }
          }
        }
        expect(filters).toBeGreaterThanOrEqual(9);
      });

      it("answers a change of B's own objects that names A (resourceSetId, a key's scope) as one that names a set that does not exist", async () => {
        const before = await stateOfA();
        for (const { role, key } of attackers()) {
          for (const def of KINDS.filter((d) => !d.global)) {
            const id = twins[attacker].objects[def.plural]!.id;
            const onA = await call('PATCH', `/api/v1/${def.plural}/${id}`, { key, body: { resourceSetId: twins[victim].set.id } });
            const ghost = await call('PATCH', `/api/v1/${def.plural}/${id}`, { key, body: { resourceSetId: randomUUID() } });
            expectSameAnswer(onA, ghost, `${role} [B] PATCH ${def.plural} resourceSetId → A`);
          }
          const keyB = twins[attacker].objects['admin-keys']!.id;
          for (const method of ['POST', 'PATCH'] as const) {
            const url = method === 'POST' ? '/api/v1/admin-keys' : `/api/v1/admin-keys/${keyB}`;
            const body = (other: string) => ({ ...(method === 'POST' ? { name: `mixed-${randomUUID().slice(0, 8)}`, role: 'auditor' } : {}), resourceSetIds: [twins[attacker].set.id, other] });
            expectSameAnswer(await call(method, url, { key, body: body(twins[victim].set.id) }), await call(method, url, { key, body: body(randomUUID()) }), `${role} [B] ${method} admin-keys [B, A]`);
          }
        }
        expect(await stateOfA()).toBe(before);
      });

      /** A valid create body of each kind in `set`, referring to that set's objects. */
      function createBody(plural: string, set: Twin): Record<string, unknown> {
        const name = `new-${randomUUID().slice(0, 8)}`;
        const base = { resourceSetId: set.set.id, name };
        const o = set.objects;
        switch (plural) {
          case 'resource-sets':
            return { name };
          case 'admin-keys':
            return { name, role: 'auditor', resourceSetIds: [set.set.id] };
          case 'client-workloads':
            return { ...base, identities: [{ claim: 'oidc.subject', value: name }] };
          case 'server-workloads':
            return { ...base, host: `${name}.example.com`, port: 443, scheme: 'https', injection: { kind: 'basic' } };
          case 'trust-providers':
            return { ...base, type: 'oidc', config: { issuer: IDP, jwks: idp.jwks } };
          case 'credential-providers':
            return { ...base, type: 'workload-jwt', config: { audience: 'https://x.example.com' } };
          case 'access-conditions':
            return { ...base, type: 'time-window', config: { timeZone: 'UTC', start: '08:00', end: '18:00' } };
          case 'access-policies':
            return {
              ...base,
              clientWorkloadIds: [o['client-workloads']!.id],
              serverWorkloadId: o['server-workloads']!.id,
              trustProviderIds: [o['trust-providers']!.id],
              accessConditionIds: [o['access-conditions']!.id],
              credentialProviderId: o['credential-providers']!.id,
            };
          case 'log-streams':
            return { ...base, type: 'file', config: { fileName: `${name}.jsonl` } };
        }
        throw new Error(`no create body for ${plural}: add one`);
      }

      it('answers a create into A as a create into a set that does not exist, and creates nothing', async () => {
        const before = await stateOfA();
        for (const route of routes.filter((r) => classify(r) === 'create')) {
          const plural = route.url.split('/')[3]!;
          for (const { role, key } of attackers()) {
            const label = `${role} [B] ${routeName(route)}`;
            const intoA = createBody(plural, twins[victim]);
            const ghostSet = randomUUID();
            const intoGhost = JSON.parse(JSON.stringify(intoA).replaceAll(twins[victim].set.id, ghostSet));
            if (plural === 'resource-sets') {
              // Not a write into a set: only global admins create sets.
              expect((await call('POST', route.url, { key, body: intoA })).status, label).toBe(403);
              continue;
            }
            expectSameAnswer(await call('POST', route.url, { key, body: intoA }), await call('POST', route.url, { key, body: intoGhost }), label);
          }
        }
        expect(await stateOfA()).toBe(before);
      });

      it("answers a reference to any object of A, from B's own objects, as a reference to an id that does not exist", async () => {
        const before = await stateOfA();
        const policyB = twins[attacker].objects['access-policies']!.id;
        const policyBefore = (await t.call('GET', `/api/v1/access-policies/${policyB}`)).body;
        for (const def of KINDS) {
          const plural = def.plural;
          const body = createBody(plural, twins[attacker]);
          const references = def.references(body as Record<string, unknown>);
          for (const ref of references) {
            const victim = SETS_OBJECT(ref.kind);
            const swap = (id: string) => JSON.parse(JSON.stringify(body).replaceAll(ref.id, id));
            for (const { role, key } of attackers()) {
              const label = `${role} [B] POST ${plural} ${ref.path} → A`;
              const onA = await call('POST', `/api/v1/${plural}`, { key, body: swap(victim) });
              const ghost = await call('POST', `/api/v1/${plural}`, { key, body: swap(randomUUID()) });
              expectSameAnswer(onA, ghost, label);
              if (plural === 'access-policies') {
                // The same through a change of B's own policy.
                const field = ref.path.slice(1);
                const patch = (id: string) => ({ [field]: Array.isArray(body[field]) ? [id] : id });
                const patchA = await call('PATCH', `/api/v1/access-policies/${policyB}`, { key, body: patch(victim) });
                const patchGhost = await call('PATCH', `/api/v1/access-policies/${policyB}`, { key, body: patch(randomUUID()) });
                expectSameAnswer(patchA, patchGhost, `${role} [B] PATCH access-policies ${ref.path} → A`);
              }
            }
          }
        }
        expect((await t.call('GET', `/api/v1/access-policies/${policyB}`)).body).toEqual(policyBefore);
        expect(await stateOfA()).toBe(before);

        function SETS_OBJECT(kind: string): string {
          if (kind === 'resource-set') return twins[victim].set.id;
          const def = KINDS.find((d) => d.kind === kind)!;
          return twins[victim].objects[def.plural]!.id;
        }
      });

      it("answers B's admin naming a key after one of A's keys as naming it after no key at all", async () => {
        const key = twins[attacker].keys.admin;
        const keys = await t.store.listObjects({ kind: 'admin-key', limit: 1000 });
        const namesIn = (set: SetName) => keys.filter((o) => JSON.stringify(o.spec.resourceSetIds) === JSON.stringify([twins[set].set.id])).map((o) => o.name);
        // Names A's keys carry and B's do not (a clash with one of B's own keys is B's to see).
        const namesOfA = namesIn(victim).filter((name) => !namesIn(attacker).includes(name));
        expect(namesOfA.length).toBeGreaterThan(3);
        const outcome = (response: TestResponse) => ({ status: response.status, code: response.body?.code });
        for (const name of namesOfA) {
          const unused = `unused-${randomUUID().slice(0, 8)}`;
          const body = (n: string) => ({ name: n, role: 'auditor', resourceSetIds: [twins[attacker].set.id] });
          const own = await create(t, 'admin-keys', body(`own-${randomUUID().slice(0, 8)}`), key);
          const renamed = await call('PATCH', `/api/v1/admin-keys/${own.id}`, { key, body: { name } });
          expect(outcome(renamed), `PATCH admin-keys name → ${name}`).toEqual(outcome(await call('PATCH', `/api/v1/admin-keys/${own.id}`, { key, body: { name: `${unused}-2` } })));
          expect(outcome(await call('POST', '/api/v1/admin-keys', { key, body: body(name) })), `POST admin-keys named ${name}`).toEqual(
            outcome(await call('POST', '/api/v1/admin-keys', { key, body: body(unused) })),
          );
        }
        // Within one scope a name is still taken once.
        const clash = await call('POST', '/api/v1/admin-keys', { key, body: { name: namesOfA[0], role: 'auditor', resourceSetIds: [twins[attacker].set.id] } });
        expect(clash.status).toBe(409);
        expect(clash.body).toEqual({ code: 'name_taken', message: 'An admin key with this name already exists for the same resource sets' });
      });

      it('keeps the global routes to global admins', async () => {
        const jwks = JSON.stringify(await t.keyRing.jwks());
        for (const route of routes.filter((r) => classify(r) === 'global-only')) {
          for (const { role, key } of attackers()) {
            const response = await call(route.method, route.url, { key });
            expect(response.status, `${role} [B] ${routeName(route)}`).toBe(403);
          }
        }
        expect(JSON.stringify(await t.keyRing.jwks())).toBe(jwks);
      });

      it('shows nothing of any set on the public routes', async () => {
        const ids = [...(await idsOfA()), twins[attacker].set.id];
        for (const route of routes.filter((r) => classify(r) === 'public')) {
          const response = await call(route.method, route.url, { key: null });
          expect(response.status, routeName(route)).toBe(200);
          for (const id of ids) expect(response.raw, routeName(route)).not.toContain(id);
        }
      });
    });
  }

  it('never returns a secret: on every read route, for every key, in errors, in the audit trail and in the server log', async () => {
    const keys = [t.rootKey, ...globalKeys, ...SETS.flatMap((name) => Object.values(twins[name].keys))];
    const reads = routes.filter((r) => r.method === 'GET' && ['item', 'list', 'set-filtered'].includes(classify(r)!));
    for (const key of keys) {
      for (const route of reads) {
        if (classify(route) !== 'item') {
          await call('GET', `${route.url}?limit=500`, { key });
          continue;
        }
        for (const name of SETS) await call('GET', route.url.replace(':id', twins[name].objects[route.url.split('/')[3]!]!.id), { key });
      }
    }
    // Refused writes that carry secrets: the error must not echo them.
    for (const name of SETS) {
      const { objects, secrets } = twins[name];
      const credential = objects['credential-providers']!.id;
      await call('PATCH', `/api/v1/credential-providers/${credential}`, { body: { secrets: { apiKey: secrets[0], unknown: secrets[0] } } });
      await call('PATCH', `/api/v1/credential-providers/${credential}`, { body: { secrets: { apiKey: { value: secrets[0] } } } });
      await call('POST', '/api/v1/credential-providers', { body: { resourceSetId: twins[name].set.id, name: 'key', type: 'api-key', secrets: { apiKey: secrets[0] } } });
      await call('POST', '/api/v1/credential-providers', { body: { resourceSetId: twins[name].set.id, name: 'x', type: 'api-key', secrets: { apiKey: `${secrets[0]}${'x'.repeat(70_000)}` } } });
      await call('PATCH', `/api/v1/log-streams/${objects['log-streams']!.id}`, { body: { config: { url: 'http://169.254.169.254/x' }, secrets: { authorization: secrets[2] } } });
      await call('PATCH', `/api/v1/credential-providers/${credential}`, { key: twins[name].keys['policy-editor'], body: { secrets: { apiKey: secrets[0] } } });
    }
    const allSecrets = SETS.flatMap((name) => twins[name].secrets);
    expect(answers.length).toBeGreaterThan(100);
    for (const { label, raw } of answers) for (const secret of allSecrets) expect(raw, label).not.toContain(secret);
    const events = await t.store.listAuditEvents({ limit: 100_000 });
    expect(events.length).toBeGreaterThan(0);
    const trail = JSON.stringify(events);
    for (const secret of allSecrets) expect(trail).not.toContain(secret);
    expect(logLines.length).toBeGreaterThan(100);
    const log = logLines.join('');
    for (const secret of [...allSecrets, t.rootKey, ...globalKeys, ...SETS.flatMap((name) => Object.values(twins[name].keys))]) expect(log).not.toContain(secret);
  });

  describe('at the edge', () => {
    const token = (sub: string) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: 'JWT' }).setIssuer(IDP).setSubject(sub).setAudience(ISSUER).setIssuedAt().setExpirationTime('10m').sign(idp.privateKey);

    async function attestInto(name: SetName) {
      const sdk = await EdgeTestClient.create(ISSUER, injectSend(t.app));
      const answer = await sdk.attest({ type: 'jwt', token: await token('repo:acme/app') }, { resourceSet: twins[name].set.name });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      return { sdk, answer };
    }

    const edgeEventsOf = async (name: SetName) =>
      (await t.store.listAuditEvents({ resourceSetIds: [twins[name].set.id], limit: 100_000 })).filter((event) => event.kind.startsWith('edge.'));

    for (const [attacked, attacking] of [['A', 'B'], ['B', 'A']] as const) {
      describe(`a workload of ${attacking}, twin of one in ${attacked}`, () => {
        beforeAll(() => {
          victim = attacked;
          attacker = attacking;
        });

        it('gives a workload of B, twin of one in A, only B: its workload, directory, credentials and audit trail', async () => {
          const auditOfA = JSON.stringify(await edgeEventsOf(victim));
          const { sdk, answer } = await attestInto(attacker);
          const b = twins[attacker];
          expect(answer.body.clientWorkload).toEqual({ id: b.objects['client-workloads']!.id, name: 'app' });
          const directory = answer.body.directory.map((entry: { serverWorkloadId: string }) => entry.serverWorkloadId).sort();
          // The set's servers that a policy links the workload to.
          const servers = await t.store.listObjects({ kind: 'server-workload', resourceSetIds: [b.set.id], limit: 100 });
          expect(directory).toEqual(servers.filter((o) => ['api', 'jwt-api'].includes(o.name)).map((o) => o.id).sort());
          for (const id of await idsOfA()) expect(JSON.stringify(answer.body)).not.toContain(id);

          const key = await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443, path: '/' });
          expect(key.body.credential).toEqual({ kind: 'token', token: b.secrets[0] });
          const minted = await sdk.credentials({ scheme: 'https', host: 'jwt.example.com', port: 443, path: '/' });
          expect(minted.status, JSON.stringify(minted.body)).toBe(200);
          const claims = decodeJwt(minted.body.credential.token);
          expect(claims.resource_set).toEqual({ id: b.set.id, name: b.set.name });
          expect(claims.sub).toBe(`resource-set:${b.set.id}:client-workload:${b.objects['client-workloads']!.id}`);
          const events = await sdk.events([{ time: new Date().toISOString(), target: { scheme: 'https', host: 'api.example.com', port: 443, path: '/' }, outcome: 'allow', statusClass: '2xx', latencyMs: 1 }]);
          expect(events.status, JSON.stringify(events.body)).toBeLessThan(300);
          expect(JSON.stringify(await edgeEventsOf(victim)), "A's audit trail").toBe(auditOfA);
          expect((await edgeEventsOf(attacker)).length).toBeGreaterThan(0);
        });

        it("answers B's workload naming A's server workload, on every edge route, as one naming none", async () => {
          const { sdk } = await attestInto(attacker);
          const serverA = twins[victim].objects['server-workloads']!.id;
          const report = (serverWorkloadId: string) => ({
            reportId: randomUUID(),
            series: [{ serverWorkloadId, target: { scheme: 'https', host: 'api.example.com', port: 443 }, outcome: 'allow', statusClass: '2xx', requests: 1, latencyMsSum: 1, latencyBuckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }],
          });
          const onA = await sdk.metrics(report(serverA));
          const ghost = await sdk.metrics(report(randomUUID()));
          expect(onA.body).toEqual(ghost.body);
          expect(onA.status).toBe(400);
          // A host that only A serves is, for B's workload, a host no one serves.
          await create(t, 'server-workloads', { resourceSetId: twins[victim].set.id, name: `only-${victim}`, host: `only-${victim}.example.com`, port: 443, scheme: 'https', injection: { kind: 'basic' } });
          const onlyA = await sdk.credentials({ scheme: 'https', host: `only-${victim}.example.com`, port: 443 });
          const nowhere = await sdk.credentials({ scheme: 'https', host: 'nowhere.example.com', port: 443 });
          expect({ status: onlyA.status, body: onlyA.body }).toEqual({ status: nowhere.status, body: nowhere.body });
          expect(onlyA.body.code).toBe('no_server_workload');
        });

        it('gives the twin in A its own, untouched by B', async () => {
          const { sdk, answer } = await attestInto(victim);
          expect(answer.body.clientWorkload.id).toBe(twins[victim].objects['client-workloads']!.id);
          const key = await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443, path: '/' });
          expect(key.body.credential).toEqual({ kind: 'token', token: twins[victim].secrets[0] });
        });
      });
    }

    it('covers every edge route', () => {
      const covered = ['challenge', 'attest', 'credentials', 'metrics', 'events'].map((name) => `POST /edge/v1/${name}`);
      expect(routes.filter((r) => classify(r) === 'edge').map(routeName).sort()).toEqual(covered.sort());
    });
  });
});
