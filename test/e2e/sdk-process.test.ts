import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, requestMetrics, requestsIn } from './support/cloud-e2e.js';
import { API_KEY, CountingProxy, startWorld, type World } from './support/failsafe-world.js';

/**
 * The SDK in the application's process, with real processes: its own calls to the control plane
 * go through the proxy the environment names, as the application's do; a stop signal sends the
 * last request metrics when the application does not handle it, and changes nothing when it does.
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

describe('a stop signal: the register hook sends the last request metrics when the application has no handler of its own', () => {
  /** Successful requests counted in the request metrics so far (every app of this world is one client workload). */
  const reported = async () => requestsIn((await requestMetrics(world.cloud.url, world.adminKey, 'outcome=allow')).filter((row) => row.statusClass === '2xx'));
  /** Waits until one more request than `before` has been counted. */
  const oneMore = (before: number) => eventually(async () => ((await reported()) > before ? reported() : undefined));
  // Reports go every 10 minutes here: only the stop can send them in time.
  const serving = (path: string, extra: Record<string, string> = {}) => ({ ...world.env, TESSERA_METRICS_FLUSH_INTERVAL_MS: '600000', APP_SERVE: '1', APP_REQUESTS: request(path), ...extra });
  const stopWith = (signal: NodeJS.Signals) => ({ onLine: (line: Record<string, any>, child: { kill(signal: NodeJS.Signals): boolean }) => void (line.line === 'started' && child.kill(signal)) });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}, no handler: the request metrics arrive and the process ends by the signal, as without Tessera`, async () => {
      const path = `/v1/stop-${signal}`;
      const before = await reported();
      const run = await world.runApp(serving(path), stopWith(signal));
      expect(run.lines.find((line) => line.line === 'request'), run.stderr).toMatchObject({ ok: true, status: 200 });
      expect(run.signal).toBe(signal);
      expect(run.code).toBeNull();
      expect(await oneMore(before)).toBe(before + 1);
    });
  }

  it('an exit hook through signal-exit is not a handler: the request metrics arrive, the hook runs, the process ends by the signal', async () => {
    const before = await reported();
    const run = await world.runApp(serving('/v1/signal-exit', { APP_SIGNAL_HANDLER: 'signal-exit' }), { ...stopWith('SIGTERM'), timeoutMs: 15_000 });
    expect(run.signal, run.stderr).toBe('SIGTERM');
    expect(run.lines.filter((line) => line.line === 'exit-hook')).toEqual([{ line: 'exit-hook', signal: 'SIGTERM' }]);
    expect(await oneMore(before)).toBe(before + 1);
  });

  it('the application’s own handler decides: its exit code, its output, nothing of ours', async () => {
    const run = await world.runApp(serving('/v1/own-handler', { APP_SIGNAL_HANDLER: 'exit-42' }), stopWith('SIGTERM'));
    expect(run.lines.filter((line) => line.line === 'own-handler')).toEqual([{ line: 'own-handler', signal: 'SIGTERM' }]);
    expect(run.code).toBe(42);
    expect(run.signal).toBeNull();
  });
});
