import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationRefusedError, providerDestinationGuard } from './destination-guard.js';
import { createOutboundFetch } from './outbound-fetch.js';

/** The fetch providers get: the egress guard first, within the call's deadline. */
describe('createOutboundFetch', () => {
  let server: Server;
  let base: string;
  let requests = 0;

  beforeAll(async () => {
    server = createServer((_request, response) => {
      requests += 1;
      response.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses before connecting, and says so once to the operator hook', async () => {
    const refused: string[] = [];
    const outbound = createOutboundFetch({ guard: providerDestinationGuard(), onRefused: (host) => void refused.push(host) });
    const before = requests;
    await expect(outbound(`${base}/jwks`)).rejects.toBeInstanceOf(DestinationRefusedError);
    await expect(outbound(new URL(`${base}/jwks`))).rejects.toBeInstanceOf(DestinationRefusedError);
    await expect(outbound(new Request(`${base}/jwks`))).rejects.toBeInstanceOf(DestinationRefusedError);
    expect(requests).toBe(before);
    expect(refused).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });

  it('calls an allowed address', async () => {
    const outbound = createOutboundFetch({ guard: providerDestinationGuard(['127.0.0.1']) });
    const response = await outbound(`${base}/jwks`);
    expect(await response.json()).toEqual({});
  });

  it('gives a name that does not resolve no more than the call’s deadline', async () => {
    const never = providerDestinationGuard([], { resolve: () => new Promise(() => {}) });
    const outbound = createOutboundFetch({ guard: never, timeoutMs: 200 });
    const started = performance.now();
    await expect(outbound('https://idp.example.com/jwks')).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
