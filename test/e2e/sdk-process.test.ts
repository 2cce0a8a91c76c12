import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, CountingProxy, startWorld, type World } from './support/failsafe-world.js';

/**
 * The SDK in the application's process, with real processes: its own calls to the control plane
 * go through the proxy the environment names, as the application's do.
 */
let world: World;
let proxy: CountingProxy;

beforeAll(async () => {
  world = await startWorld();
  proxy = new CountingProxy();
  await proxy.listen();
});

afterAll(async () => {
  await proxy?.close();
  await world?.close();
});

const gateHost = () => new URL(world.gate.url).host;
const request = (path: string) => JSON.stringify([{ client: 'fetch', url: `${world.api.url}${path}` }]);

describe('the SDK’s own calls honour HTTPS_PROXY / NO_PROXY', () => {
  it('HTTPS_PROXY: attestation and credentials go through the proxy (CONNECT); the application’s own call does not, as without Tessera', async () => {
    const tunnels = proxy.tunnels.length;
    const run = await world.runApp({ ...world.env, HTTPS_PROXY: proxy.url, APP_REQUESTS: request('/v1/via-proxy') });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines.find((line) => line.line === 'request')).toMatchObject({ ok: true, status: 200 });
    expect(world.api.received.at(-1)).toEqual({ url: '/v1/via-proxy', authorization: [`Bearer ${API_KEY}`] });
    expect(proxy.tunnels.slice(tunnels)).toContain(gateHost());
    expect(proxy.forwarded.filter((line) => line.includes('/v1/via-proxy'))).toEqual([]);
  });

  it('NO_PROXY naming the control plane: its calls go direct', async () => {
    const tunnels = proxy.tunnels.length;
    const run = await world.runApp({ ...world.env, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1', APP_REQUESTS: request('/v1/no-proxy') });
    expect(run.lines.find((line) => line.line === 'request'), run.stderr).toMatchObject({ ok: true, status: 200 });
    expect(proxy.tunnels.length).toBe(tunnels);
  });

  it('NODE_USE_ENV_PROXY=1: the application’s fetch and the SDK both go through the proxy, and the credential arrives', async () => {
    const tunnels = proxy.tunnels.length;
    const run = await world.runApp({ ...world.env, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, APP_REQUESTS: request('/v1/env-proxy') });
    expect(run.lines.find((line) => line.line === 'request'), run.stderr).toMatchObject({ ok: true, status: 200 });
    expect(world.api.received.at(-1)).toEqual({ url: '/v1/env-proxy', authorization: [`Bearer ${API_KEY}`] });
    expect(proxy.tunnels.slice(tunnels)).toContain(gateHost());
    // Node's own proxy support forwards or tunnels plain HTTP: either way, through the proxy.
    const apiHost = new URL(world.api.url).host;
    expect([...proxy.forwarded.filter((line) => line === `GET ${world.api.url}/v1/env-proxy`), ...proxy.tunnels.slice(tunnels).filter((host) => host === apiHost)]).not.toEqual([]);
  });
});
