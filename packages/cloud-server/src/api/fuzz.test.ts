import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../objects/kinds.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createGraph, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { routeName, routesOf, type Route } from '../../test/support/route-table.js';
import { LEAK_PATTERNS, documentedErrorCodes } from '../../test/support/error-answers.js';

/**
 * Property-based fuzzing of every route the app answers (read from its route table): random and
 * hostile JSON documents, bytes that are not UTF-8, wrong media types, huge numbers, deep
 * nesting, unknown fields, odd path parameters. Whatever comes in, the answer is never a 5xx,
 * is `{code, message, details?}` with a code the documentation lists, carries no stack, path or
 * secret, a refused write stores nothing, and the server keeps answering. Runs are bounded (a
 * fixed seed per property, a few hundred requests in all) so the suite stays fast.
 */

const SECRET = 'FUZZ_S3CR3T_value';
const WRITES = new Set(['POST', 'PATCH', 'DELETE']);

/** JSON text for any value, including ones JSON.stringify cannot write as such. */
const hostileJson = fc.oneof(
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.string(),
  fc.constantFrom(
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '{"port": 1e400}',
    '{"port": -1e400, "limit": 99999999999999999999999}',
    '{"port": 123456789012345678901234567890}',
    '{"name": "a", "name": "b"}',
    `${'['.repeat(65)}${']'.repeat(65)}`,
    `${'{"a":'.repeat(70)}1${'}'.repeat(70)}`,
    '"\\ud800"',
    '{"name": "\\u0000"}',
    '',
    'null',
    'true',
    '[]',
    '0',
  ),
);

/** A create body of each kind, valid but for what the property changes. */
function validBodies(graph: Awaited<ReturnType<typeof createGraph>>): Record<string, Record<string, unknown>> {
  return {
    'client-workloads': { name: 'fz', description: 'free text', identities: [{ claim: 'kubernetes.namespace', value: 'fz' }] },
    'server-workloads': { name: 'fz', host: 'fz.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } },
    'trust-providers': { name: 'fz', type: 'fixture-static', config: { subjects: ['fz'] } },
    'credential-providers': { name: 'fz', type: 'api-key', secrets: { apiKey: `${SECRET}_fz` } },
    'access-conditions': { name: 'fz', type: 'time-window', config: { timeZone: 'UTC', start: '08:00', end: '18:00' } },
    'access-policies': {
      name: 'fz',
      clientWorkloadIds: [graph.client.id],
      serverWorkloadId: graph.server.id,
      trustProviderIds: [graph.trust.id],
      credentialProviderId: graph.credential.id,
    },
    'log-streams': { name: 'fz', type: 'file', config: { fileName: 'fz.jsonl' } },
    'resource-sets': { name: 'fz', description: 'free text' },
    'admin-keys': { name: 'fz', role: 'auditor', resourceSetIds: ['*'] },
  };
}

/** Replaces one field of `body` (a dotted path) with `value`. */
function withField(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  const parts = path.split('.');
  let node: any = copy;
  for (const part of parts.slice(0, -1)) node = node[part];
  node[parts.at(-1)!] = value;
  return copy;
}

/** Every string field of a body, as dotted paths. */
function stringFields(body: unknown, prefix = ''): string[] {
  if (typeof body !== 'object' || body === null) return [];
  return Object.entries(body).flatMap(([key, value]) => {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    return typeof value === 'string' ? [path] : stringFields(value, path);
  });
}

// One backend is enough: parsing and validation come before the store.
describe.each(BACKENDS.slice(0, 1))('fuzzing the admin and edge APIs ($name)', (backend) => {
  let t: TestApp;
  let routes: Route[];
  let graph: Awaited<ReturnType<typeof createGraph>>;
  let bodies: Record<string, Record<string, unknown>>;
  const codes = documentedErrorCodes();

  beforeAll(async () => {
    t = await createTestApp(backend);
    routes = routesOf(t.app);
    graph = await createGraph(t);
    await create(t, 'credential-providers', { name: 'fz-secret', type: 'api-key', secrets: { apiKey: SECRET } });
    bodies = validBodies(graph);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Every object's id and updatedAt: what a refused write must leave as it was. */
  async function snapshot(): Promise<string> {
    const all = await Promise.all(KINDS.map((def) => t.store.listObjects({ kind: def.kind, limit: 100_000 })));
    return JSON.stringify(all.flat().map((o) => [o.id, o.updatedAt, o.name]).sort());
  }

  function urlFor(route: Route, param: string): string {
    return route.url.replace(/:[a-zA-Z]+/g, param);
  }

  async function send(route: Route, options: { url?: string; payload?: string | Buffer; contentType?: string; key?: string | null }) {
    const key = options.key === undefined ? t.rootKey : options.key;
    const response = await t.app.inject({
      method: route.method as 'GET',
      url: options.url ?? urlFor(route, graph.client.id),
      headers: {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...(options.contentType === undefined ? {} : { 'content-type': options.contentType }),
      },
      ...(options.payload === undefined ? {} : { payload: options.payload }),
    });
    return { status: response.statusCode, raw: response.body, headers: response.headers };
  }

  /** The invariants of every answer; `label` says which request it was. */
  function expectSane(response: { status: number; raw: string; headers: Record<string, unknown> }, label: string): void {
    expect(response.status, `${label}: ${response.raw.slice(0, 300)}`).toBeLessThan(500);
    for (const leak of LEAK_PATTERNS) expect(response.raw, label).not.toMatch(leak);
    expect(response.raw, label).not.toContain(SECRET);
    expect(response.raw, label).not.toContain(t.rootKey);
    if (response.status >= 400 && response.raw !== '') {
      const body = JSON.parse(response.raw);
      expect(Object.keys(body).filter((field) => !['code', 'message', 'details'].includes(field)), label).toEqual([]);
      expect(codes, `${label}: undocumented code ${body.code}`).toContain(body.code);
      expect(typeof body.message, label).toBe('string');
    }
  }

  async function expectServing(): Promise<void> {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(Object.prototype).not.toHaveProperty('polluted');
  }

  const writeRoutes = () => routes.filter((route) => WRITES.has(route.method));

  it('finds the routes to fuzz in the route table', () => {
    const names = routes.map(routeName);
    expect(names).toContain('POST /api/v1/client-workloads');
    expect(names).toContain('PATCH /api/v1/access-policies/:id');
    expect(names).toContain('POST /edge/v1/attest');
    expect(names).toContain('POST /api/v1/signing-keys/rotate');
    // A new kind needs a valid body below, or its fields are never fuzzed.
    expect(Object.keys(bodies).sort()).toEqual(KINDS.map((def) => def.plural).sort());
  });

  it('answers any JSON text on any route with a documented 4xx or success, and stores nothing when it refuses', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), hostileJson, async (route, payload) => {
        const before = await snapshot();
        const response = await send(route, { payload, contentType: 'application/json' });
        expectSane(response, `${routeName(route)} ${JSON.stringify(payload).slice(0, 200)}`);
        if (response.status >= 400 && WRITES.has(route.method)) expect(await snapshot()).toBe(before);
      }),
      { numRuns: 150, seed: 7 },
    );
    await expectServing();
  });

  it('refuses bytes that are not UTF-8 inside a string, on every route that takes a body, and stores nothing', async () => {
    // Invalid sequences: a lone continuation byte, an overlong '/', a surrogate half, a cut-off sequence.
    const BAD = [Buffer.from([0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82])];
    for (const [plural, body] of Object.entries(bodies)) {
      for (const path of stringFields(body)) {
        for (const bad of BAD) {
          const [head, tail] = JSON.stringify(withField(body, path, 'MARK')).split('MARK') as [string, string];
          const payload = Buffer.concat([Buffer.from(`${head}fz`), bad, Buffer.from(`fz${tail}`)]);
          const before = await snapshot();
          const response = await send({ method: 'POST', url: `/api/v1/${plural}` }, { payload, contentType: 'application/json' });
          const label = `POST ${plural} ${path} ${bad.toString('hex')}`;
          expectSane(response, label);
          expect(response.status, `${label}: ${response.raw}`).toBe(400);
          expect(JSON.parse(response.raw).code, label).toBe('invalid_json');
          expect(await snapshot(), label).toBe(before);
        }
      }
    }
    for (const route of routes.filter((r) => r.method === 'POST' || r.method === 'PATCH')) {
      const payload = Buffer.concat([Buffer.from('{"name":"fz'), Buffer.from([0xff]), Buffer.from('"}')]);
      const response = await send(route, { payload, contentType: 'application/json' });
      expectSane(response, routeName(route));
      // The body is refused before anything reads it: no key is not 401 first on the admin API.
      expect([400, 401], `${routeName(route)}: ${response.raw}`).toContain(response.status);
    }
    await expectServing();
  });

  it('answers every media type but JSON with 415 on every route that takes a body', async () => {
    const types = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json-patch+json', 'application/octet-stream'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...writeRoutes().filter((r) => r.method !== 'DELETE')), fc.constantFrom(...types), fc.string(), async (route, contentType, text) => {
        const before = await snapshot();
        const response = await send(route, { payload: text === '' ? 'x' : text, contentType });
        expectSane(response, `${routeName(route)} ${contentType}`);
        expect(response.status, `${routeName(route)} ${contentType}: ${response.raw}`).toBe(415);
        expect(await snapshot()).toBe(before);
      }),
      { numRuns: 60, seed: 11 },
    );
  });

  it('answers odd path parameters with invalid_id or not_found, never a 5xx', async () => {
    const param = fc.oneof(
      fc.string({ minLength: 1, maxLength: 300 }).map(encodeURIComponent),
      fc.constantFrom('..', '%2e%2e', '%00', '%ff', '%c0%af', 'a%2Fb', '00000000-0000-0000-0000-000000000000', '0'.repeat(36), '%E2%80%AE', ' '),
    );
    const withParam = routes.filter((route) => route.url.includes(':'));
    expect(withParam.length).toBeGreaterThan(0);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...withParam), param, async (route, value) => {
        const response = await send(route, {
          url: urlFor(route, value),
          ...(route.method === 'PATCH' ? { payload: '{"description":"x"}', contentType: 'application/json' } : {}),
        });
        expectSane(response, `${routeName(route)} ${value}`);
        expect([400, 404], `${routeName(route)} ${value}: ${response.raw}`).toContain(response.status);
      }),
      { numRuns: 120, seed: 13 },
    );
    await expectServing();
  });

  it('answers any query string on any read route with a list or a documented 400', async () => {
    const known = ['limit', 'cursor', 'name', 'resourceSetId', 'since', 'until', 'kind', 'outcome', 'actor', 'clientWorkloadId', 'serverWorkloadId', 'objectId'];
    const pair = fc.tuple(
      fc.oneof(fc.constantFrom(...known), fc.constantFrom('limit[]', '__proto__', 'constructor', ''), fc.string()),
      fc.oneof(fc.string(), fc.constantFrom('99999999999999999999', '-1', '0', '1e3', 'NaN', graph.client.id, '%', '%zz', '%00', '2030-13-45T99:99:99Z')),
    );
    const query = fc.oneof(
      fc.array(pair, { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
      fc.array(pair, { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
      fc.constantFrom('limit=1&limit=2', '&&&', '=', '==', 'a', '%', 'limit', 'name[]=x', 'name[a]=x'),
    );
    const reads = routes.filter((route) => route.method === 'GET' && !route.url.includes(':'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...reads), query, async (route, search) => {
        const response = await send(route, { url: `${route.url}?${search}` });
        expectSane(response, `${routeName(route)}?${search}`);
        expect([200, 400], `${routeName(route)}?${search}: ${response.raw.slice(0, 200)}`).toContain(response.status);
      }),
      { numRuns: 200, seed: 19 },
    );
    expect(Object.prototype).not.toHaveProperty('polluted');
    await expectServing();
  });

  it('refuses unknown fields, huge numbers and wrong types in every field of every create body', async () => {
    const odd = fc.oneof(
      fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 0.5, '', ' ', 'x'.repeat(10_000), null, true, [], {}, [null], { '': 1 }),
      fc.jsonValue(),
    );
    const fields = Object.entries(bodies).flatMap(([plural, body]) => leafPaths(body).map((path) => ({ plural, path })));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), odd, fc.boolean(), async ({ plural, path }, value, extra) => {
        const body = withField(bodies[plural]!, path, value);
        if (extra) body.unexpected = value;
        // A unique name, so that a body this leaves valid is not refused only as a duplicate.
        if (path !== 'name') body.name = `fz-${Math.random().toString(36).slice(2, 10)}`;
        const before = await snapshot();
        const response = await send({ method: 'POST', url: `/api/v1/${plural}` }, { payload: JSON.stringify(body), contentType: 'application/json' });
        expectSane(response, `POST ${plural} ${path}=${JSON.stringify(value).slice(0, 80)}`);
        if (extra) expect(response.status).toBe(400);
        if (response.status >= 400) expect(await snapshot()).toBe(before);
      }),
      { numRuns: 150, seed: 17 },
    );
    await expectServing();
  });

  it('refuses a JSON body on the routes that take none, and takes them without one', async () => {
    const bodiless = routes.filter((route) => (route.method === 'POST' || route.method === 'DELETE') && isBodiless(route));
    expect(bodiless.map(routeName)).toContain('POST /api/v1/signing-keys/rotate');
    for (const route of bodiless) {
      const before = await snapshot();
      const response = await send(route, { url: urlFor(route, graph.condition.id), payload: '{"unexpected":true}', contentType: 'application/json' });
      expectSane(response, routeName(route));
      expect(response.status, `${routeName(route)}: ${response.raw}`).toBe(400);
      expect(JSON.parse(response.raw).code).toBe('validation_failed');
      expect(await snapshot()).toBe(before);
    }
    const rotated = await send({ method: 'POST', url: '/api/v1/signing-keys/rotate' }, {});
    expect(rotated.status, rotated.raw).toBe(200);
  });
});

/** Routes without a body: deletes and the signing-key rotation. */
function isBodiless(route: Route): boolean {
  return route.method === 'DELETE' || route.url === '/api/v1/signing-keys/rotate';
}

/** Every leaf of a body (not the elements of arrays of objects), as dotted paths. */
function leafPaths(body: unknown, prefix = ''): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return prefix === '' ? [] : [prefix];
  return Object.entries(body).flatMap(([key, value]) => leafPaths(value, prefix === '' ? key : `${prefix}.${key}`));
}
