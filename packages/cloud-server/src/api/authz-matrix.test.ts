import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createGraph, createTestApp, type TestApp, type TestResponse } from '../../test/support/app-harness.js';

/**
 * The admin API's access matrix (auth/roles.ts, objects/access.ts): every role, global or scoped
 * to resource set A, against every route, on objects inside (A) and outside (B) its scope.
 * Each cell is checked for its status and error code, and a refused write for having no effect.
 *
 * Cells: a status; for lists, which resource sets' items must appear (`A`, `B`, `A+B`, `none`:
 * 200 with exactly those; nothing of another set may appear anywhere in the answer).
 */

type KeyName =
  | 'global admin'
  | 'global editor'
  | 'global policy-editor'
  | 'global auditor'
  | 'admin [A]'
  | 'editor [A]'
  | 'policy-editor [A]'
  | 'auditor [A]';
type SetName = 'A' | 'B';
type Visible = 'A' | 'B' | 'A+B' | 'none';
type Status = 200 | 201 | 204 | 403 | 404;
type Cell = Status | Visible;

const KEYS: Record<KeyName, { role: 'admin' | 'editor' | 'policy-editor' | 'auditor'; scope: 'all' | 'A' }> = {
  'global admin': { role: 'admin', scope: 'all' },
  'global editor': { role: 'editor', scope: 'all' },
  'global policy-editor': { role: 'policy-editor', scope: 'all' },
  'global auditor': { role: 'auditor', scope: 'all' },
  'admin [A]': { role: 'admin', scope: 'A' },
  'editor [A]': { role: 'editor', scope: 'A' },
  'policy-editor [A]': { role: 'policy-editor', scope: 'A' },
  'auditor [A]': { role: 'auditor', scope: 'A' },
};

/** Every kind that lives in a resource set follows the same row. */
const OBJECT_KINDS = [
  'client-workloads',
  'server-workloads',
  'trust-providers',
  'credential-providers',
  'access-conditions',
  'access-policies',
  'log-streams',
] as const;
type ObjectKind = (typeof OBJECT_KINDS)[number];
/** Kinds that decide who may attest or hold secrets: a policy editor reads them and writes none. */
const PROVIDER_KINDS: readonly ObjectKind[] = ['trust-providers', 'credential-providers', 'log-streams'];

const OBJECT_ROUTES = [
  'GET list',
  'GET list ?resourceSetId=B',
  'POST into A',
  'POST into B',
  'GET A',
  'GET B',
  'PATCH A',
  'PATCH B',
  'DELETE A',
  'DELETE B',
] as const;

// prettier-ignore
const OBJECT_MATRIX: Record<KeyName, Cell[]> = {
  //                 list   list?B  POST A POST B  GET A GET B  PATCH A PATCH B  DEL A DEL B
  'global admin':   ['A+B', 'B',    201,   201,    200,  200,   200,    200,     204,  204],
  'global editor':  ['A+B', 'B',    201,   201,    200,  200,   200,    200,     204,  204],
  'global policy-editor': ['A+B', 'B', 201, 201,    200,  200,   200,    200,     204,  204],
  'global auditor': ['A+B', 'B',    403,   403,    200,  200,   403,    403,     403,  403],
  'admin [A]':      ['A',   'none', 201,   403,    200,  404,   200,    404,     204,  404],
  'editor [A]':     ['A',   'none', 201,   403,    200,  404,   200,    404,     204,  404],
  'policy-editor [A]': ['A', 'none', 201,  403,    200,  404,   200,    404,     204,  404],
  // The role check comes before the object is loaded: an auditor's write is 403 wherever it aims.
  'auditor [A]':    ['A',   'none', 403,   403,    200,  404,   403,    403,     403,  403],
};

/** Trust providers, credential providers and log streams: the rows that differ from OBJECT_MATRIX. */
// prettier-ignore
const PROVIDER_MATRIX: Record<KeyName, Cell[]> = {
  ...OBJECT_MATRIX,
  //                       list   list?B  POST A POST B  GET A GET B  PATCH A PATCH B  DEL A DEL B
  'global policy-editor': ['A+B', 'B',    403,   403,    200,  200,   403,    403,     403,  403],
  'policy-editor [A]':    ['A',   'none', 403,   403,    200,  404,   403,    403,     403,  403],
};

/** Admin keys, by the scope of the target key: [A], [B], [A,B] or ["*"]. */
const KEY_ROUTES = [
  'GET list',
  'POST [A]',
  'POST [B]',
  'POST [A,B]',
  'POST ["*"]',
  'GET [A]',
  'GET [B]',
  'GET ["*"]',
  'PATCH [A]',
  'PATCH [B]',
  'PATCH ["*"]',
  'PATCH [A] to ["*"]',
  'DELETE [A]',
  'DELETE [B]',
  'DELETE ["*"]',
] as const;

// prettier-ignore
const KEY_MATRIX: Record<KeyName, Cell[]> = {
  //                 list   POST [A]  [B]  [A,B] [*]   GET [A]  [B]  [*]   PATCH [A] [B]  [*]  [A]→[*]  DEL [A] [B]  [*]
  'global admin':   ['A+B', 201,      201, 201,  201,  200,     200, 200,  200,      200, 200, 200,     204,    204, 204],
  'global editor':  [403,   403,      403, 403,  403,  403,     403, 403,  403,      403, 403, 403,     403,    403, 403],
  'global policy-editor': [403, 403,  403, 403,  403,  403,     403, 403,  403,      403, 403, 403,     403,    403, 403],
  'global auditor': [403,   403,      403, 403,  403,  403,     403, 403,  403,      403, 403, 403,     403,    403, 403],
  // A scoped admin manages keys whose scope is within its own, and cannot hand out more.
  'admin [A]':      ['A',   201,      403, 403,  403,  200,     404, 404,  200,      404, 404, 403,     204,    404, 404],
  'editor [A]':     [403,   403,      403, 403,  403,  403,     403, 403,  403,      403, 403, 403,     403,    403, 403],
  'policy-editor [A]': [403, 403,     403, 403,  403,  403,     403, 403,  403,      403, 403, 403,     403,    403, 403],
  'auditor [A]':    [403,   403,      403, 403,  403,  403,     403, 403,  403,      403, 403, 403,     403,    403, 403],
};

const SET_ROUTES = ['GET list', 'POST', 'GET A', 'GET B', 'PATCH A', 'PATCH B', 'DELETE (empty set)'] as const;

// prettier-ignore
const SET_MATRIX: Record<KeyName, Cell[]> = {
  //                 list   POST  GET A GET B  PATCH A PATCH B  DELETE
  'global admin':   ['A+B', 201,  200,  200,   200,    200,     204],
  'global editor':  ['A+B', 403,  200,  200,   403,    403,     403],
  'global policy-editor': ['A+B', 403, 200, 200, 403,    403,     403],
  'global auditor': ['A+B', 403,  200,  200,   403,    403,     403],
  'admin [A]':      ['A',   403,  200,  404,   403,    403,     403],
  'editor [A]':     ['A',   403,  200,  404,   403,    403,     403],
  'policy-editor [A]': ['A', 403, 200,  404,   403,    403,     403],
  'auditor [A]':    ['A',   403,  200,  404,   403,    403,     403],
};

const GLOBAL_ROUTES = [
  'GET audit-events',
  'GET audit-events ?resourceSetId=A',
  'GET audit-events ?resourceSetId=B',
  'GET request-metrics',
  'GET request-metrics ?resourceSetId=A',
  'GET request-metrics ?resourceSetId=B',
  'GET signing-keys',
  'POST signing-keys/rotate',
] as const;

// prettier-ignore
const GLOBAL_MATRIX: Record<KeyName, Cell[]> = {
  //                 audit  audit?A audit?B  metrics metrics?A metrics?B  signing-keys rotate
  'global admin':   ['A+B', 'A',    'B',     'A+B',  'A',      'B',       200,         200],
  'global editor':  [403,   403,    403,     403,    403,      403,       403,         403],
  'global policy-editor': [403, 403, 403,    403,    403,      403,       403,         403],
  'global auditor': ['A+B', 'A',    'B',     'A+B',  'A',      'B',       403,         403],
  'admin [A]':      ['A',   'A',    'none',  'A',    'A',      'none',    403,         403],
  'editor [A]':     [403,   403,    403,     403,    403,      403,       403,         403],
  'policy-editor [A]': [403, 403,   403,     403,    403,      403,       403,         403],
  'auditor [A]':    ['A',   'A',    'none',  'A',    'A',      'none',    403,         403],
};

interface Case {
  key: KeyName;
  /** `client-workloads`, `admin-keys`, `resource-sets`, or `-` for the global routes. */
  kind: string;
  route: string;
  expected: Cell;
}

function flatten(kinds: readonly string[], routes: readonly string[], matrix: Record<KeyName, Cell[]>): Case[] {
  return kinds.flatMap((kind) =>
    (Object.keys(matrix) as KeyName[]).flatMap((key) =>
      routes.map((route, column) => ({ key, kind, route, expected: matrix[key][column]! })),
    ),
  );
}

const CASES: Case[] = [
  ...flatten(
    OBJECT_KINDS.filter((kind) => !PROVIDER_KINDS.includes(kind)),
    OBJECT_ROUTES,
    OBJECT_MATRIX,
  ),
  ...flatten(PROVIDER_KINDS, OBJECT_ROUTES, PROVIDER_MATRIX),
  ...flatten(['admin-keys'], KEY_ROUTES, KEY_MATRIX),
  ...flatten(['resource-sets'], SET_ROUTES, SET_MATRIX),
  ...flatten(['-'], GLOBAL_ROUTES, GLOBAL_MATRIX),
];

const ERROR_CODES: Partial<Record<Status, string>> = { 403: 'forbidden', 404: 'not_found' };

const TITLES: Record<string, string> = {
  'client-workloads': 'Client workload',
  'server-workloads': 'Server workload',
  'trust-providers': 'Trust provider',
  'credential-providers': 'Credential provider',
  'access-conditions': 'Access condition',
  'access-policies': 'Access policy',
  'log-streams': 'Log stream',
  'admin-keys': 'Admin key',
  'resource-sets': 'Resource set',
};

describe.each(BACKENDS)('authorization matrix ($name)', (backend) => {
  let t: TestApp;
  const sets = {} as Record<SetName, { id: string; name: string }>;
  /** The object of each kind that GET/PATCH act on, per resource set. */
  const objects = {} as Record<SetName, Record<ObjectKind, { id: string }>>;
  const graphs = {} as Record<SetName, Awaited<ReturnType<typeof createGraph>>>;
  const minted = {} as Record<SetName, { id: string }>;
  const keys = {} as Record<KeyName, string>;
  /** Admin keys that the admin-key routes act on, by their scope. */
  const targetKeys = {} as Record<'[A]' | '[B]' | '["*"]', { id: string }>;
  let serial = 0;
  const unique = (prefix: string) => `${prefix}-${++serial}`;

  const scopeIds = (scope: string): string[] =>
    scope === '[A]' ? [sets.A.id] : scope === '[B]' ? [sets.B.id] : scope === '[A,B]' ? [sets.A.id, sets.B.id] : ['*'];

  /** A valid create body for each kind, in resource set `set`. */
  function objectBody(kind: ObjectKind, set: SetName): Record<string, unknown> {
    const name = unique(kind);
    const base = { resourceSetId: sets[set].id, name };
    const graph = graphs[set];
    switch (kind) {
      case 'client-workloads':
        return { ...base, identities: [{ claim: 'kubernetes.namespace', value: name }] };
      case 'server-workloads':
        return { ...base, host: `${name}.example.com`, port: 443, scheme: 'https', injection: { kind: 'basic' } };
      case 'trust-providers':
        return { ...base, type: 'fixture-static', config: { subjects: [name] } };
      case 'credential-providers':
        return { ...base, type: 'api-key', secrets: { apiKey: `sk_${name}` } };
      case 'access-conditions':
        return { ...base, type: 'time-window', config: { timeZone: 'UTC', start: '08:00', end: '18:00' } };
      case 'access-policies':
        return {
          ...base,
          clientWorkloadIds: [graph.client.id],
          serverWorkloadId: graph.server.id,
          trustProviderIds: [graph.trust.id],
          // A credential provider that stores no secret: who may write policies may use it.
          credentialProviderId: minted[set].id,
        };
      case 'log-streams':
        return { ...base, type: 'file', config: { fileName: `${name}.jsonl` } };
    }
  }

  beforeAll(async () => {
    t = await createTestApp(backend);
    for (const set of ['A', 'B'] as const) {
      sets[set] = await create(t, 'resource-sets', { name: `set-${set.toLowerCase()}` });
      const graph = await createGraph(t, sets[set].id);
      graphs[set] = graph;
      minted[set] = await create(t, 'credential-providers', { resourceSetId: sets[set].id, name: `mint-${set}`, type: 'workload-jwt', config: { audience: 'https://api.example.com' } });
      objects[set] = {
        'client-workloads': graph.client,
        'server-workloads': graph.server,
        'trust-providers': graph.trust,
        'credential-providers': graph.credential,
        'access-conditions': graph.condition,
        'access-policies': graph.policy,
        'log-streams': await create(t, 'log-streams', objectBody('log-streams', set)),
      };
    }
    for (const [name, { role, scope }] of Object.entries(KEYS) as Array<[KeyName, (typeof KEYS)[KeyName]]>) {
      const resourceSetIds = scope === 'all' ? ['*'] : [sets.A.id];
      keys[name] = (await create(t, 'admin-keys', { name: name.replace(/\W+/g, '-').replace(/-$/, ''), role, resourceSetIds })).key;
    }
    // A minute of request metrics in each set, for the request-metrics routes.
    await t.store.transaction((tx) =>
      tx.addRequestMetrics((['A', 'B'] as const).map((set) => ({
        time: '2030-01-01T00:00:00.000Z', resourceSetId: sets[set].id, clientWorkloadId: graphs[set].client.id, serverWorkloadId: graphs[set].server.id,
        target: 'https://api.example.com:443', outcome: 'allow' as const, statusClass: '2xx', reason: null, requests: 1, latencyMsSum: 1, latencyBuckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      }))),
    );
    for (const scope of ['[A]', '[B]', '["*"]'] as const) {
      targetKeys[scope] = await create(t, 'admin-keys', { name: unique('target-key'), role: 'auditor', resourceSetIds: scopeIds(scope) });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The root (bootstrap) key's view, to check what a call did or did not change. */
  const rootGet = (path: string) => t.call('GET', `/api/v1/${path}`);

  function expectStatus(response: TestResponse, expected: Status, label: string): void {
    expect(response.status, `${label}: ${response.raw}`).toBe(expected);
    const code = ERROR_CODES[expected];
    if (code) expect(response.body, label).toEqual({ code, message: expect.any(String) });
  }

  /** A 404 for an object outside the scope must be the 404 of an id that does not exist at all. */
  async function expectInvisible(response: TestResponse, method: string, plural: string, key: string): Promise<void> {
    const ghost = await t.call(method, `/api/v1/${plural}/${randomUUID()}`, {
      key,
      ...(method === 'PATCH' ? { body: { description: 'x' } } : {}),
    });
    expect(response.body).toEqual(ghost.body);
    expect(response.body).toEqual({ code: 'not_found', message: `${TITLES[plural]} not found` });
  }

  /** A list answer holds exactly the items of the visible sets, and nothing of another set anywhere. */
  function expectVisible(response: TestResponse, visible: Visible, setOf: (item: any) => string[], mustInclude: Record<SetName, string[]>) {
    expect(response.status, response.raw).toBe(200);
    const allowed = visible === 'A+B' ? null : visible === 'none' ? [] : [sets[visible].id];
    const items: any[] = response.body.items;
    if (allowed !== null) {
      for (const item of items) expect(setOf(item).every((id) => allowed.includes(id)), JSON.stringify(item)).toBe(true);
      for (const hidden of (['A', 'B'] as const).filter((set) => !allowed.includes(sets[set].id))) {
        expect(response.raw).not.toContain(sets[hidden].id);
        for (const id of mustInclude[hidden]) expect(response.raw).not.toContain(id);
      }
    }
    const shown = visible === 'A+B' ? (['A', 'B'] as const) : visible === 'none' ? [] : [visible];
    for (const set of shown) {
      for (const id of mustInclude[set]) expect(items.map((item) => item.id)).toContain(id);
    }
    if (visible === 'none') expect(items).toEqual([]);
  }

  async function objectCase({ key: keyName, kind, route, expected }: Case): Promise<void> {
    const plural = kind as ObjectKind;
    const key = keys[keyName];
    const [method, target] = route.split(' ') as [string, string];
    const set = route.endsWith('B') ? 'B' : 'A';
    if (route.startsWith('GET list')) {
      const query = route.includes('?') ? `&resourceSetId=${sets.B.id}` : '';
      const response = await t.call('GET', `/api/v1/${plural}?limit=500${query}`, { key });
      const mustInclude = { A: [objects.A[plural].id], B: [objects.B[plural].id] };
      return expectVisible(response, expected as Visible, (item) => [item.resourceSetId], mustInclude);
    }
    if (method === 'POST') {
      const body = objectBody(plural, set);
      const response = await t.call('POST', `/api/v1/${plural}`, { key, body });
      expectStatus(response, expected as Status, route);
      const stored = await rootGet(`${plural}?name=${body.name as string}&resourceSetId=${sets[set].id}`);
      expect(stored.body.items.length, 'created exactly when allowed').toBe(expected === 201 ? 1 : 0);
      if (expected === 201) expect(response.body).toMatchObject({ resourceSetId: sets[set].id, name: body.name });
      return;
    }
    // DELETE acts on a fresh object, so each case starts from the same state.
    const id = method === 'DELETE' ? (await create(t, plural, objectBody(plural, set))).id : objects[set][plural].id;
    const description = unique(`patched by ${keyName}`);
    const response = await t.call(method, `/api/v1/${plural}/${id}`, {
      key,
      ...(method === 'PATCH' ? { body: { description } } : {}),
    });
    expectStatus(response, expected as Status, `${method} ${target}`);
    if (expected === 404) await expectInvisible(response, method, plural, key);
    const after = await rootGet(`${plural}/${id}`);
    if (method === 'GET' && expected === 200) expect(response.body).toEqual(after.body);
    if (method === 'PATCH') expect(after.body.description === description, 'patched exactly when allowed').toBe(expected === 200);
    if (method === 'DELETE') expect(after.status, 'deleted exactly when allowed').toBe(expected === 204 ? 404 : 200);
  }

  async function adminKeyCase({ key: keyName, route, expected }: Case): Promise<void> {
    const key = keys[keyName];
    const [method, scope] = route.split(' ') as [string, string];
    if (route === 'GET list') {
      const response = await t.call('GET', '/api/v1/admin-keys?limit=500', { key });
      if (typeof expected === 'number') return expectStatus(response, expected, route);
      const mustInclude = { A: [targetKeys['[A]'].id], B: [targetKeys['[B]'].id] };
      expectVisible(response, expected, (item) => item.resourceSetIds, mustInclude);
      // Keys holding every set are outside any scoped key's scope.
      if (expected !== 'A+B') expect(response.raw).not.toContain(targetKeys['["*"]'].id);
      else expect(response.body.items.map((item: any) => item.id)).toContain(targetKeys['["*"]'].id);
      return;
    }
    if (method === 'POST') {
      const body = { name: unique('new-key'), role: 'editor', resourceSetIds: scopeIds(scope) };
      const response = await t.call('POST', '/api/v1/admin-keys', { key, body });
      expectStatus(response, expected as Status, route);
      const stored = await rootGet(`admin-keys?name=${body.name}`);
      expect(stored.body.items.length, 'created exactly when allowed').toBe(expected === 201 ? 1 : 0);
      if (expected === 201) expect(response.body).toMatchObject({ resourceSetIds: body.resourceSetIds, key: expect.stringMatching(/^tsk_/) });
      return;
    }
    const widen = route === 'PATCH [A] to ["*"]';
    const fresh = method === 'DELETE' || widen;
    const id = fresh
      ? (await create(t, 'admin-keys', { name: unique('fresh-key'), role: 'auditor', resourceSetIds: scopeIds(scope) })).id
      : targetKeys[scope as keyof typeof targetKeys].id;
    const description = unique(`patched by ${keyName}`);
    const patch = widen ? { resourceSetIds: ['*'] } : { description };
    const response = await t.call(method, `/api/v1/admin-keys/${id}`, { key, ...(method === 'PATCH' ? { body: patch } : {}) });
    expectStatus(response, expected as Status, route);
    if (expected === 404) await expectInvisible(response, method, 'admin-keys', key);
    const after = await rootGet(`admin-keys/${id}`);
    if (method === 'GET' && expected === 200) expect(response.body).toEqual(after.body);
    if (widen) expect(after.body.resourceSetIds, 'widened exactly when allowed').toEqual(expected === 200 ? ['*'] : scopeIds(scope));
    else if (method === 'PATCH') expect(after.body.description === description, 'patched exactly when allowed').toBe(expected === 200);
    if (method === 'DELETE') expect(after.status, 'deleted exactly when allowed').toBe(expected === 204 ? 404 : 200);
  }

  async function resourceSetCase({ key: keyName, route, expected }: Case): Promise<void> {
    const key = keys[keyName];
    const [method] = route.split(' ') as [string];
    if (route === 'GET list') {
      const response = await t.call('GET', '/api/v1/resource-sets?limit=500', { key });
      return expectVisible(response, expected as Visible, (item) => [item.id], { A: [sets.A.id], B: [sets.B.id] });
    }
    if (method === 'POST') {
      const name = unique('new-set');
      const response = await t.call('POST', '/api/v1/resource-sets', { key, body: { name } });
      expectStatus(response, expected as Status, route);
      expect((await rootGet(`resource-sets?name=${name}`)).body.items.length, 'created exactly when allowed').toBe(expected === 201 ? 1 : 0);
      return;
    }
    const id = method === 'DELETE' ? (await create(t, 'resource-sets', { name: unique('empty-set') })).id : sets[route.endsWith('B') ? 'B' : 'A'].id;
    const description = unique(`patched by ${keyName}`);
    const response = await t.call(method, `/api/v1/resource-sets/${id}`, { key, ...(method === 'PATCH' ? { body: { description } } : {}) });
    expectStatus(response, expected as Status, route);
    if (expected === 404) await expectInvisible(response, method, 'resource-sets', key);
    const after = await rootGet(`resource-sets/${id}`);
    if (method === 'GET' && expected === 200) expect(response.body).toEqual(after.body);
    if (method === 'PATCH') expect(after.body.description === description, 'patched exactly when allowed').toBe(expected === 200);
    if (method === 'DELETE') expect(after.status, 'deleted exactly when allowed').toBe(expected === 204 ? 404 : 200);
  }

  async function globalCase({ key: keyName, route, expected }: Case): Promise<void> {
    const key = keys[keyName];
    if (route.startsWith('GET audit-events') || route.startsWith('GET request-metrics')) {
      const filter = route.match(/resourceSetId=([AB])$/)?.[1] as SetName | undefined;
      const response = await t.call('GET', `/api/v1/${route.split(' ')[1]}?limit=500${filter ? `&resourceSetId=${sets[filter].id}` : ''}`, { key });
      if (typeof expected === 'number') return expectStatus(response, expected, route);
      // Every object of a graph was created through the API, so each set has admin.change events;
      // and each set has a row of request metrics.
      const mustInclude = { A: [] as string[], B: [] as string[] };
      expectVisible(response, expected, (event) => [event.resourceSetId], mustInclude);
      for (const set of expected === 'A+B' || expected === 'none' ? [] : [expected]) {
        expect(response.body.items.some((event: any) => event.resourceSetId === sets[set].id)).toBe(true);
      }
      return;
    }
    const before = await t.keyRing.jwks();
    const response = await t.call(route.startsWith('POST') ? 'POST' : 'GET', `/api/v1/${route.split(' ')[1]}`, { key });
    expectStatus(response, expected as Status, route);
    if (route.startsWith('POST')) {
      const rotated = (await t.keyRing.jwks()).keys.some((jwk) => !before.keys.some((old) => old.kid === jwk.kid));
      expect(rotated, 'rotated exactly when allowed').toBe(expected === 200);
    } else if (expected === 200) {
      expect(response.body.items.length).toBeGreaterThan(0);
    }
  }

  it.each(CASES)('$key · $kind · $route → $expected', async (c) => {
    if (c.kind === 'admin-keys') await adminKeyCase(c);
    else if (c.kind === 'resource-sets') await resourceSetCase(c);
    else if (c.kind === '-') await globalCase(c);
    else await objectCase(c);
  });

  it('gives a scoped key no existence oracle through references to another set', async () => {
    // A policy in A naming B's server workload fails exactly like one naming an id that does not exist.
    const body = (serverWorkloadId: string) => ({ ...objectBody('access-policies', 'A'), serverWorkloadId });
    const viaB = await t.call('POST', '/api/v1/access-policies', { key: keys['editor [A]'], body: body(graphs.B.server.id) });
    const ghost = await t.call('POST', '/api/v1/access-policies', { key: keys['editor [A]'], body: body(randomUUID()) });
    expect(viaB.status).toBe(400);
    expect(viaB.body.code).toBe('invalid_reference');
    expect(viaB.body).toEqual(ghost.body);
  });

  it('keeps a scoped key inside its set through resourceSetId on patch', async () => {
    const response = await t.call('PATCH', `/api/v1/client-workloads/${objects.A['client-workloads'].id}`, {
      key: keys['admin [A]'],
      body: { resourceSetId: sets.B.id },
    });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('immutable_field');
    expect((await rootGet(`client-workloads/${objects.A['client-workloads'].id}`)).body.resourceSetId).toBe(sets.A.id);
  });

  it('lets a scoped admin neither widen its own key nor see the keys that hold every set', async () => {
    const own = (await t.call('GET', '/api/v1/admin-keys?name=admin-A', { key: keys['admin [A]'] })).body.items[0];
    expect(own.resourceSetIds).toEqual([sets.A.id]);
    for (const resourceSetIds of [['*'], [sets.A.id, sets.B.id]]) {
      const response = await t.call('PATCH', `/api/v1/admin-keys/${own.id}`, { key: keys['admin [A]'], body: { resourceSetIds } });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('forbidden');
    }
    expect((await rootGet(`admin-keys/${own.id}`)).body.resourceSetIds).toEqual([sets.A.id]);
    const bootstrap = (await rootGet('admin-keys?name=bootstrap')).body.items[0];
    expect((await t.call('GET', `/api/v1/admin-keys/${bootstrap.id}`, { key: keys['admin [A]'] })).status).toBe(404);
  });
});
