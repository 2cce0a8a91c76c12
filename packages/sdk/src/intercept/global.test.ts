import { Agent, Dispatcher1Wrapper, EnvHttpProxyAgent, ProxyAgent, fetch as undiciFetch, getGlobalDispatcher, interceptors, request, setGlobalDispatcher, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError, TesseraUnavailableError } from '../errors.js';
import { Tessera } from '../runtime/tessera.js';
import { startForwardProxy, type ForwardProxy } from '../../test/support/forward-proxy.js';
import { TEST_CERT } from '../../test/support/tls.js';
import { API_KEY, BASIC_PASSWORD, QUERY_KEY, captureLogs, createWorld, rejectionOf, headerValues, startTarget, type TargetServer, type World } from '../../test/support/world.js';
import { installGlobalDispatcher } from './global.js';

/**
 * Dispatchers the application sets after Tessera is installed, and proxies: through a real
 * forward proxy on loopback (absolute-form requests for http, CONNECT tunnels for https), a
 * managed target gets its credential, a refused one is never reached — neither the target nor
 * the proxy sees it — and fails with the refusal, and an unmanaged one is left as it was.
 */
const SLOT = Symbol.for('undici.globalDispatcher.2');
const LEGACY_SLOT = Symbol.for('undici.globalDispatcher.1');
const slots = globalThis as unknown as Record<symbol, Dispatcher>;

let world: World;
let proxy: ForwardProxy;
/** HTTPS targets behind the proxy: one the workload may call, one refused by a closed time window. */
let secure: TargetServer;
let secureDenied: TargetServer;
const { logger, lines: logLines } = captureLogs();
const observed: string[] = [];
const cleanups: Array<() => unknown> = [];
const original = { slot: slots[SLOT]!, legacy: slots[LEGACY_SLOT]! };

function installed(): Tessera {
  const created = new Tessera({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, deadlineMs: 1500, events: { flushIntervalMs: 0 } });
  const uninstall = installGlobalDispatcher(created);
  cleanups.push(uninstall, () => created.close());
  return created;
}

/** The application's own dispatcher, closed after the test. */
function own<T extends Dispatcher>(dispatcher: T): T {
  cleanups.push(() => dispatcher.close());
  return dispatcher;
}

const proxies = {
  ProxyAgent: () => own(new ProxyAgent({ uri: proxy.url, requestTls: { ca: TEST_CERT } })),
  EnvHttpProxyAgent: () => own(new EnvHttpProxyAgent({ httpProxy: proxy.url, httpsProxy: proxy.url, noProxy: '', requestTls: { ca: TEST_CERT } })),
};

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, observed);

async function text(promise: ReturnType<typeof request>): Promise<{ status: number; body: string }> {
  const { statusCode, body } = await promise;
  return { status: statusCode, body: await body.text() };
}

const reached = (target: TargetServer, path: string) => target.received.filter((r) => r.url.startsWith(path)).length;
const proxied = (path: string) => proxy.seen.filter((line) => line.includes(path)).length;

beforeAll(async () => {
  world = await createWorld();
  proxy = await startForwardProxy();
  [secure, secureDenied] = await Promise.all([startTarget({ tls: true }), startTarget({ tls: true })]);
  const post = (plural: string, body: object) => world.cloud.admin('POST', `/api/v1/${plural}`, body);
  const [trust] = (await world.cloud.admin('GET', '/api/v1/trust-providers')).items;
  const [client] = (await world.cloud.admin('GET', '/api/v1/client-workloads')).items;
  const key = (await world.cloud.admin('GET', '/api/v1/credential-providers')).items.find((p: { name: string }) => p.name === 'key');
  const deniedPolicy = (await world.cloud.admin('GET', '/api/v1/access-policies')).items.find((p: { name: string }) => p.name === 'denied');
  const bearer = { kind: 'header', name: 'authorization' };
  const server = (name: string, target: TargetServer) => post('server-workloads', { name, scheme: 'https', host: '127.0.0.1', port: target.port, injection: bearer });
  const allowed = await server('secure-api', secure);
  const refused = await server('secure-denied', secureDenied);
  const policy = { clientWorkloadIds: [client.id], trustProviderIds: [trust.id], credentialProviderId: key.id };
  await post('access-policies', { name: 'secure', serverWorkloadId: allowed.id, ...policy });
  await post('access-policies', { name: 'secure-denied', serverWorkloadId: refused.id, ...policy, accessConditionIds: deniedPolicy.accessConditionIds });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // Whatever a test left behind, the next one starts from the dispatchers of the process.
  setGlobalDispatcher(original.slot);
  slots[LEGACY_SLOT] = original.legacy;
});

afterAll(async () => {
  await Promise.all([secure?.close(), secureDenied?.close(), proxy?.close()]);
  await world?.close();
  const printed = [...logLines, ...observed].join('\n');
  for (const secret of [API_KEY, BASIC_PASSWORD, QUERY_KEY, ...world.proxy.edgeTokens]) expect(printed).not.toContain(secret);
});

describe.each(Object.keys(proxies) as Array<keyof typeof proxies>)('%s set with setGlobalDispatcher after Tessera', (kind) => {
  it('http through the proxy (absolute form): managed gets its credential, refused never leaves, unmanaged untouched', async () => {
    const t = installed();
    await t.ready();
    setGlobalDispatcher(proxies[kind]());

    const managed = await fetch(`${world.api.url}/abs-managed-${kind}`);
    expect(managed.status).toBe(200);
    expect(proxy.seen).toContain(`GET ${world.api.url}/abs-managed-${kind}`);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);

    // A target whose credential is not cached yet: it is fetched first, then the request goes.
    expect((await text(request(`${world.query.url}/abs-query-${kind}?x=1`))).status).toBe(200);
    expect(world.query.received.at(-1)!.url).toBe(`/abs-query-${kind}?x=1&api_key=${QUERY_KEY}`);

    const connections = world.denied.connections;
    const error = await rejection(fetch(`${world.denied.url}/abs-denied-${kind}`));
    expect(error.cause).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error.cause.code).toBe('condition_failed');
    const viaUndici = await rejection(request(`${world.denied.url}/abs-denied-${kind}`));
    expect(viaUndici).toBeInstanceOf(TesseraAccessDeniedError);
    expect(reached(world.denied, '/abs-denied')).toBe(0);
    expect(world.denied.connections).toBe(connections);
    expect(proxied('/abs-denied')).toBe(0);

    const response = await fetch(`${world.unmanaged.url}/abs-unmanaged-${kind}`, { headers: { Authorization: 'mine', 'X-Case': 'Kept' } });
    expect(response.status).toBe(200);
    expect(proxy.seen).toContain(`GET ${world.unmanaged.url}/abs-unmanaged-${kind}`);
    const got = world.unmanaged.received.at(-1)!;
    expect(headerValues(got, 'authorization')).toEqual(['mine']);
    expect(headerValues(got, 'x-case')).toEqual(['Kept']);
  });

  it('https through a CONNECT tunnel: managed gets its credential; refused fails with the refusal, before any tunnel', async () => {
    const t = installed();
    await t.ready();
    setGlobalDispatcher(proxies[kind]());
    const authority = (target: TargetServer) => `CONNECT 127.0.0.1:${target.port}`;

    const ok = await text(request(`${secure.url}/tunnel-managed-${kind}`));
    expect(ok.status).toBe(200);
    expect(proxy.seen).toContain(authority(secure));
    expect(headerValues(secure.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    // Node's built-in fetch reads the legacy slot: the same proxy, with Tessera on top.
    expect((await fetch(`${secure.url}/tunnel-builtin-${kind}`)).status).toBe(200);
    expect(headerValues(secure.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);

    const connections = secureDenied.connections;
    const error = await rejection(request(`${secureDenied.url}/tunnel-denied-${kind}`));
    expect(error).toBeInstanceOf(TesseraAccessDeniedError); // the refusal, not "cloud unavailable"
    expect(error.code).toBe('condition_failed');
    const viaFetch = await rejection(undiciFetch(`${secureDenied.url}/tunnel-denied-${kind}`));
    expect(viaFetch.cause).toBeInstanceOf(TesseraAccessDeniedError);
    expect(secureDenied.received).toHaveLength(0);
    expect(secureDenied.connections).toBe(connections);
    expect(proxy.seen).not.toContain(authority(secureDenied));
  });
});

describe('the slots of the global dispatcher', () => {
  it('getGlobalDispatcher() returns the dispatcher set, which carries Tessera; uninstall takes it out, in both slots', async () => {
    const t = installed();
    await t.ready();
    const first = own(new Agent());
    const latest = proxies.ProxyAgent();
    setGlobalDispatcher(first);
    setGlobalDispatcher(latest);
    expect(getGlobalDispatcher()).toBe(latest);
    expect(Object.hasOwn(latest, 'dispatch')).toBe(true);
    // The same dispatcher passed per request carries Tessera too: no need for the safety net.
    expect((await text(request(`${world.basic.url}/carried-per-request`, { dispatcher: latest }))).status).toBe(200);
    expect(headerValues(world.basic.received.at(-1)!, 'authorization')[0]).toMatch(/^Basic /);
    cleanups.shift()!(); // uninstall
    expect(getGlobalDispatcher()).toBe(latest);
    expect(Object.hasOwn(latest, 'dispatch') || Object.hasOwn(first, 'dispatch')).toBe(false);
    expect(slots[LEGACY_SLOT]).toBeInstanceOf(Dispatcher1Wrapper);
    await fetch(`${world.api.url}/after-uninstall`);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([]);
    expect(proxy.seen).toContain(`GET ${world.api.url}/after-uninstall`);
  });

  it('a composed dispatcher (a Proxy, which cannot carry Tessera) is composed onto; uninstall puts it back', async () => {
    const t = installed();
    await t.ready();
    const composed = proxies.ProxyAgent().compose(interceptors.retry({ maxRetries: 1 }));
    setGlobalDispatcher(composed);
    const ours = getGlobalDispatcher();
    expect(ours).not.toBe(composed);
    expect((await fetch(`${world.api.url}/onto-composed`)).status).toBe(200);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    expect(proxy.seen).toContain(`GET ${world.api.url}/onto-composed`);
    cleanups.shift()!(); // uninstall
    expect(getGlobalDispatcher()).toBe(composed);
    // The composition the application may have kept no longer touches anything.
    await text(request(`${world.api.url}/kept-after-uninstall`, { dispatcher: ours }));
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([]);
  });

  it('Object.defineProperty keeps its behaviour for everything else, and is the original again after uninstall', () => {
    const before = Object.defineProperty;
    const app = slots[SLOT];
    installed();
    const object = {};
    expect(Object.defineProperty(object, 'x', { value: 1, enumerable: true })).toBe(object);
    expect(Object.getOwnPropertyDescriptor(object, 'x')).toEqual({ value: 1, writable: false, enumerable: true, configurable: false });
    // What undici's slots refuse, they still refuse: the slot keeps its dispatcher.
    const current = slots[SLOT];
    expect(() => Object.defineProperty(globalThis, SLOT, { value: new Agent(), configurable: true })).toThrow(TypeError);
    expect(slots[SLOT]).toBe(current);
    cleanups.shift()!(); // uninstall
    expect(Object.defineProperty).toBe(before);
    expect(slots[SLOT]).toBe(app); // the refused definition was not taken for the application's choice
  });

  it('a dispatcher assigned to the slot directly is wrapped from the first request that escapes it', async () => {
    const t = installed();
    await t.ready();
    await fetch(`${world.api.url}/warm`); // a cached credential: the escaped request can carry it
    const agent = proxies.ProxyAgent();
    slots[LEGACY_SLOT] = new Dispatcher1Wrapper(agent);

    expect((await fetch(`${world.api.url}/direct-escaped`)).status).toBe(200);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    expect(proxy.seen).toContain(`GET ${world.api.url}/direct-escaped`);
    // From now on Tessera sits on top again: a credential it must fetch first, a refusal.
    expect((await fetch(`${world.basic.url}/direct-wrapped`)).status).toBe(200);
    expect(headerValues(world.basic.received.at(-1)!, 'authorization')[0]).toMatch(/^Basic /);
    const error = await rejection(fetch(`${world.denied.url}/direct-denied`));
    expect(error.cause).toBeInstanceOf(TesseraAccessDeniedError);
    expect(proxied('/direct-denied')).toBe(0);
  });

  it('a dispatcher already composed with Tessera is not wrapped twice: one credential, one outcome', async () => {
    const t = installed();
    setGlobalDispatcher(t.dispatcher(proxies.ProxyAgent()));
    const before = world.api.received.length;
    expect((await fetch(`${world.api.url}/composed-once`)).status).toBe(200);
    expect(world.api.received.length).toBe(before + 1);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    const requestsCounted = async () => {
      const listed = await world.cloud.admin('GET', '/api/v1/request-metrics?limit=500');
      return (listed.items as Array<{ outcome: string; requests: number }>).filter((row) => row.outcome === 'allow').reduce((sum, row) => sum + row.requests, 0);
    };
    const counted = await requestsCounted();
    const reports = world.proxy.count('/edge/v1/metrics');
    await t.flush();
    expect(world.proxy.count('/edge/v1/metrics')).toBe(reports + 1);
    expect(await requestsCounted()).toBe(counted + 1);
  });
});

describe('a dispatcher of the application passed per request, through the proxy (the safety net)', () => {
  it('http in absolute form: a cached credential is placed (header and query); a miss fails closed and reaches nothing', async () => {
    const t = installed();
    await t.ready();
    await fetch(`${world.api.url}/warm`);
    await fetch(`${world.query.url}/warm`);
    const dispatcher = proxies.ProxyAgent();

    expect((await text(request(`${world.api.url}/net-header`, { dispatcher }))).status).toBe(200);
    expect(proxy.seen).toContain(`GET ${world.api.url}/net-header`);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    expect((await text(request(`${world.query.url}/net-query?api_key=app&b=2`, { dispatcher }))).status).toBe(200);
    expect(world.query.received.at(-1)!.url).toBe(`/net-query?api_key=${QUERY_KEY}&b=2`);

    const miss = await rejection(request(`${world.basic.url}/net-miss`, { dispatcher }));
    expect(miss).toBeInstanceOf(TesseraUnavailableError);
    expect(miss.message).toContain('compose');
    expect(reached(world.basic, '/net-miss')).toBe(0);
    expect(proxied('/net-miss')).toBe(0);

    const unmanaged = await text(request(`${world.unmanaged.url}/net-unmanaged`, { dispatcher, headers: { authorization: 'mine' } }));
    expect(unmanaged.status).toBe(200);
    expect(headerValues(world.unmanaged.received.at(-1)!, 'authorization')).toEqual(['mine']);
  });

  it('refused targets, http and https: nothing reaches the proxy or the target; once the refusal is known it is the error', async () => {
    const t = installed();
    await t.ready();
    const dispatcher = proxies.ProxyAgent();
    for (const target of [world.denied, secureDenied]) {
      const connections = target.connections;
      const first = await rejection(request(`${target.url}/net-denied`, { dispatcher }));
      expect(first).toBeInstanceOf(TesseraUnavailableError); // nothing known yet: fail closed
      // The credential call the safety net started meanwhile was refused; the next attempt says so.
      await expect.poll(async () => (await rejection(request(`${target.url}/net-denied`, { dispatcher }))).code, { timeout: 5000 }).toBe('condition_failed');
      expect(reached(target, '/net-denied')).toBe(0);
      expect(target.connections).toBe(connections);
    }
    expect(proxied('/net-denied')).toBe(0);
    expect(proxy.seen).not.toContain(`CONNECT 127.0.0.1:${secureDenied.port}`);
  });

  it('https through CONNECT: the request in the tunnel is announced with its real origin and gets the cached credential', async () => {
    const t = installed();
    await t.ready();
    await request(`${secure.url}/warm`, { dispatcher: t.dispatcher(proxies.ProxyAgent()) }).then((r) => r.body.text());
    const dispatcher = proxies.EnvHttpProxyAgent();
    expect((await text(request(`${secure.url}/net-tunnel`, { dispatcher }))).status).toBe(200);
    expect(proxy.seen).toContain(`CONNECT 127.0.0.1:${secure.port}`);
    expect(headerValues(secure.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
  });
});
