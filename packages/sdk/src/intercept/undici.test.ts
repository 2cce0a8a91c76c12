import { Agent, Client, Pool, ProxyAgent, fetch as undiciFetch, getGlobalDispatcher, interceptors, request, setGlobalDispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError, TesseraUnavailableError } from '../errors.js';
import { Tessera, type TesseraOptions } from '../runtime/tessera.js';
import { API_KEY, BASIC_PASSWORD, BASIC_USER, QUERY_KEY, captureLogs, createWorld, rejectionOf, headerValues, startTarget, type World } from '../../test/support/world.js';
import { startForwardProxy } from '../../test/support/forward-proxy.js';
import { installGlobalDispatcher } from './global.js';

/**
 * The undici interceptor against a real control plane and real loopback targets: Node's
 * built-in fetch and npm undici (fetch, request, Client, Pool, Agent) through the global
 * dispatcher, and explicit mode.
 */
let world: World;
const { logger, lines: logLines } = captureLogs();
const observed: string[] = [];
const cleanups: Array<() => unknown> = [];

function tessera(options: Partial<TesseraOptions> = {}): Tessera {
  const created = new Tessera({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, deadlineMs: 1500, events: { flushIntervalMs: 0 }, ...options });
  cleanups.push(() => created.close());
  return created;
}

function installed(options: Partial<TesseraOptions> = {}): Tessera {
  const created = tessera(options);
  const uninstall = installGlobalDispatcher(created);
  cleanups.unshift(uninstall);
  return created;
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, observed);

beforeAll(async () => {
  world = await createWorld();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  world.proxy.faults.length = 0;
  world.proxy.always = undefined;
});

afterAll(async () => {
  await world?.close();
  // No credential, edge token or evidence in anything printed or logged.
  const text = [...logLines, ...observed].join('\n');
  for (const secret of [API_KEY, BASIC_PASSWORD, QUERY_KEY, ...world.proxy.edgeTokens, ...world.idp.minted]) expect(text).not.toContain(secret);
});

describe('built-in fetch through the global dispatcher', () => {
  it('places the credential, replacing an Authorization header the application set', async () => {
    const t = installed();
    await t.ready();
    const before = world.api.received.length;
    const response = await fetch(`${world.api.url}/v1/charges?limit=2`, { headers: { Authorization: 'Bearer app-set-value', 'x-trace': 'abc' } });
    expect(response.status).toBe(200);
    const got = world.api.received[before]!;
    expect(headerValues(got, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    expect(headerValues(got, 'x-trace')).toEqual(['abc']);
    expect(got.url).toBe('/v1/charges?limit=2');
  });

  it('basic and query injection', async () => {
    installed();
    await fetch(`${world.basic.url}/x`);
    expect(headerValues(world.basic.received.at(-1)!, 'authorization')).toEqual([`Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64')}`]);
    await fetch(`${world.query.url}/search?q=a%20b&api_key=app&x=1`);
    expect(world.query.received.at(-1)!.url).toBe(`/search?q=a%20b&api_key=${QUERY_KEY}&x=1`);
  });

  it('passes an unmanaged request untouched, with no call to the cloud once the directory is known', async () => {
    const t = installed();
    await t.ready();
    const cloudCalls = [...world.proxy.counts.values()].reduce((a, b) => a + b, 0);
    const body = Buffer.from('exact bytes \u00e9\r\n');
    await fetch(`${world.unmanaged.url}/p?q=1`, { method: 'PUT', body, headers: { 'X-Case': 'Kept', authorization: 'mine' } });
    const got = world.unmanaged.received.at(-1)!;
    expect(got.method).toBe('PUT');
    expect(got.body.equals(body)).toBe(true);
    expect(headerValues(got, 'authorization')).toEqual(['mine']);
    expect(headerValues(got, 'x-case')).toEqual(['Kept']);
    expect([...world.proxy.counts.values()].reduce((a, b) => a + b, 0)).toBe(cloudCalls);
  });

  it('never sends a denied request: fetch rejects with the access-denied error as its cause', async () => {
    installed();
    const connections = world.denied.connections;
    const error = await rejection(fetch(`${world.denied.url}/x`));
    expect(error).toBeInstanceOf(TypeError); // fetch wraps every network-layer failure
    expect(error.cause).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error.cause.code).toBe('condition_failed');
    expect(world.denied.connections).toBe(connections);
  });

  it('a 401 from the target drops the credential and retries once with a fresh one', async () => {
    installed();
    await fetch(`${world.api.url}/warm`);
    const credentialCalls = world.proxy.count('/edge/v1/credentials');
    world.api.answers.push({ status: 401, body: '{"error":"expired"}' });
    const response = await fetch(`${world.api.url}/after-401`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(world.proxy.count('/edge/v1/credentials')).toBe(credentialCalls + 1);
    expect(world.api.received.filter((r) => r.url === '/after-401')).toHaveLength(2);
  });

  it('a second 401 reaches the caller (one retry only)', async () => {
    installed();
    world.api.answers.push({ status: 401 }, { status: 401 });
    const response = await fetch(`${world.api.url}/twice-401`);
    expect(response.status).toBe(401);
    expect(world.api.received.filter((r) => r.url === '/twice-401')).toHaveLength(2);
  });
});

describe('npm undici', () => {
  it('request, fetch, and Client/Pool composed with tessera.interceptor', async () => {
    const t = installed();
    const { statusCode, body } = await request(`${world.api.url}/via-request`, { headers: ['Authorization', 'x', 'x-a', '1'] });
    expect(statusCode).toBe(200);
    await body.text();
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);

    expect((await undiciFetch(`${world.api.url}/via-undici-fetch`)).status).toBe(200);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);

    const client = new Client(world.api.url).compose(t.interceptor);
    const viaClient = await client.request({ path: '/via-client', method: 'GET' });
    await viaClient.body.text();
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    await client.close();

    const pool = new Pool(world.basic.url).compose(t.interceptor);
    const viaPool = await pool.request({ path: '/via-pool', method: 'POST', body: 'x' });
    await viaPool.body.text();
    expect(headerValues(world.basic.received.at(-1)!, 'authorization')[0]).toMatch(/^Basic /);
    await pool.close();
  });

  it('a denied undici.request rejects with TesseraAccessDeniedError itself', async () => {
    installed();
    const error = await rejection(request(`${world.denied.url}/x`));
    expect(error).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error.code).toBe('condition_failed');
  });

  it('an Agent of the application that bypasses the global dispatcher: cached credentials are placed, a miss fails clearly', async () => {
    installed();
    const own = new Agent();
    cleanups.push(() => own.close());
    // Nothing cached for the query API yet: refused with a message saying how to wire Tessera in.
    const error = await rejection(request(`${world.query.url}/own-agent`, { dispatcher: own }));
    expect(error).toBeInstanceOf(TesseraUnavailableError);
    expect(error.message).toContain('compose');
    expect(world.query.received.some((r) => r.url.startsWith('/own-agent'))).toBe(false);
    // The refusal warmed the cache: the next attempt carries the credential.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ok = await request(`${world.query.url}/own-agent`, { dispatcher: own });
    await ok.body.text();
    expect(world.query.received.at(-1)!.url).toBe(`/own-agent?api_key=${QUERY_KEY}`);
  });
});

describe('the dispatcher that was installed before', () => {
  it('keeps a ProxyAgent working underneath, and puts it back on uninstall', async () => {
    const proxyServer = await startForwardProxy();
    const proxyAgent = new ProxyAgent(proxyServer.url);
    const original = getGlobalDispatcher();
    setGlobalDispatcher(proxyAgent);
    try {
      const t = tessera();
      const uninstall = installGlobalDispatcher(t);
      await fetch(`${world.api.url}/through-proxy`);
      expect(proxyServer.seen).toContain(`GET ${world.api.url}/through-proxy`);
      expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
      uninstall();
      expect(getGlobalDispatcher()).toBe(proxyAgent);
    } finally {
      setGlobalDispatcher(original);
      await proxyAgent.close();
      await proxyServer.close();
    }
  });
});

describe('redirects followed below the interceptor', () => {
  it('a redirect to another origin never carries the credential along', async () => {
    // A target whose credential travels in a custom header, which undici itself would not strip.
    const vendor = await startTarget();
    cleanups.push(() => vendor.close());
    const post = (plural: string, body: object) => world.cloud.admin('POST', `/api/v1/${plural}`, body);
    const [trust] = (await world.cloud.admin('GET', '/api/v1/trust-providers')).items;
    const [client] = (await world.cloud.admin('GET', '/api/v1/client-workloads')).items;
    const server = await post('server-workloads', { name: 'vendor', scheme: 'http', host: '127.0.0.1', port: vendor.port, injection: { kind: 'header', name: 'x-api-key', format: '{token}' } });
    const key = await post('credential-providers', { name: 'vendor-key', type: 'api-key', secrets: { apiKey: 'vendor-key-value-never-redirected' } });
    await post('access-policies', { name: 'vendor', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: key.id });

    const original = getGlobalDispatcher();
    setGlobalDispatcher(new Agent().compose(interceptors.redirect({ maxRedirections: 3 })));
    try {
      installed();
      vendor.answers.push({ status: 302, location: `${world.unmanaged.url}/landed-elsewhere` }, { status: 302, location: '/same-origin' });
      const { statusCode, body } = await request(`${vendor.url}/moved`);
      await body.text();
      expect(statusCode).toBe(200);
      expect(headerValues(vendor.received.at(-1)!, 'x-api-key')).toEqual(['vendor-key-value-never-redirected']);
      const elsewhere = world.unmanaged.received.find((r) => r.url === '/landed-elsewhere')!;
      expect(headerValues(elsewhere, 'x-api-key')).toEqual([]);
      // A same-origin redirect keeps it.
      const again = await request(`${vendor.url}/moved-here`);
      await again.body.text();
      const same = vendor.received.find((r) => r.url === '/same-origin')!;
      expect(headerValues(same, 'x-api-key')).toEqual(['vendor-key-value-never-redirected']);
    } finally {
      cleanups.push(() => setGlobalDispatcher(original));
    }
  });
});

describe('when the cloud is unreachable', () => {
  it('cached credentials keep working; a target without one fails closed and is not contacted', async () => {
    const t = installed();
    await fetch(`${world.api.url}/cache-me`);
    world.proxy.always = { status: 503 };
    expect((await fetch(`${world.api.url}/still-cached`)).status).toBe(200);
    const connections = world.basic.connections;
    const received = world.basic.received.length;
    const error = await rejection(fetch(`${world.basic.url}/not-cached`));
    expect(error.cause).toBeInstanceOf(TesseraUnavailableError);
    expect(world.basic.received.length).toBe(received);
    expect(world.basic.connections).toBe(connections);
    expect(t.failMode).toBe('closed');
  });

  it("failMode 'open' sends without a credential and says so loudly", async () => {
    installed({ failMode: 'open' });
    await fetch(`${world.api.url}/prime`); // the directory is known
    world.proxy.always = { status: 503 };
    const response = await fetch(`${world.basic.url}/open-mode`);
    expect(response.status).toBe(200);
    expect(headerValues(world.basic.received.at(-1)!, 'authorization')).toEqual([]);
    expect(logLines.some((line) => line.includes('FAIL-OPEN'))).toBe(true);
  });

  it('before any attestation, a managed-or-not request fails closed (the directory is unknown)', async () => {
    world.proxy.always = { status: 503 };
    installed();
    const error = await rejection(fetch(`${world.unmanaged.url}/unknown-directory`));
    expect(error.cause).toBeInstanceOf(TesseraUnavailableError);
  });
});

describe('request metrics', () => {
  it('reports the outcomes of managed requests to the cloud, never a path or query string', async () => {
    const t = installed();
    await fetch(`${world.query.url}/evented?secret=1`);
    await rejection(fetch(`${world.denied.url}/evented-deny`));
    const before = world.proxy.count('/edge/v1/metrics');
    await t.flush();
    expect(world.proxy.count('/edge/v1/metrics')).toBe(before + 1);
    const metrics = await world.cloud.admin('GET', '/api/v1/request-metrics?limit=500');
    expect(metrics.items).toEqual(expect.arrayContaining([expect.objectContaining({ outcome: 'deny', reason: 'condition_failed' })]));
    const text = JSON.stringify(metrics);
    expect(text).not.toContain('/evented');
    expect(text).not.toContain(QUERY_KEY);
    expect(text).not.toContain('secret=1');
  });
});
