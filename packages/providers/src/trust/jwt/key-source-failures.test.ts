import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { AUDIENCE, createTestKey, expectRefused, jwksOf, NOW, NOW_SECONDS, signToken } from '../../../test/support/jwt-fixtures.js';
import type { JwtTrustConfig } from './config.js';
import { createJwtKeySource, type JwtKeySourceOptions } from './key-source.js';
import { verifyJwt } from './verify-jwt.js';

/**
 * A key endpoint that fails is asked again only after a short pause: attestations meanwhile get
 * `trust_provider_error` at once, and no new connection is opened per attestation (a dead JWKS
 * must cost its own provider one connection per pause, not one per token).
 */

const ctx: VerifyContext = { audience: AUDIENCE, now: () => NOW, fetch: (input, init) => fetch(input, init) };
const servers: Server[] = [];
const sockets: Socket[] = [];

/** A loopback TCP server that counts connections and treats each one with `onSocket`. */
async function tcpServer(onSocket: (socket: Socket) => void) {
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections += 1;
    sockets.push(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

/** A loopback HTTP server that counts requests; `answer` says what each one gets. */
async function httpServer(answer: (response: ServerResponse) => void) {
  let requests = 0;
  const server = createHttpServer((_request, response) => {
    requests += 1;
    answer(response);
  });
  server.on('connection', (socket) => sockets.push(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    await new Promise((resolve) => server.close(resolve));
  }
});

async function tokenFor(issuer: string, kid = 'k1') {
  const key = await createTestKey(kid, 'ES256');
  return { key, token: await signToken({ iss: issuer, aud: AUDIENCE, sub: 'w-1', iat: NOW_SECONDS, exp: NOW_SECONDS + 300 }, key) };
}

async function refuseMany(times: number, config: JwtTrustConfig, token: string, options: JwtKeySourceOptions) {
  const keys = createJwtKeySource(options);
  const started = performance.now();
  for (let i = 0; i < times; i += 1) {
    // The configured issuer may appear in a message (discovery names its URL); nothing else of the token may.
    await expectRefused(verifyJwt(token, config, ctx, keys), { code: 'trust_provider_error', message: '', token, allowedValues: [config.issuer] });
  }
  return performance.now() - started;
}

describe('JWT key source: failed key fetches are remembered briefly', () => {
  it('opens one connection, not one per token, to a JWKS endpoint that accepts and never answers', async () => {
    const hanging = await tcpServer(() => {}); // holds every connection open, says nothing
    const { token } = await tokenFor('https://idp.example.com');
    const ms = await refuseMany(5, { issuer: 'https://idp.example.com', jwksUri: `${hanging.origin}/jwks` }, token, { timeoutMs: 1000 });
    expect(hanging.connections()).toBe(1);
    expect(ms).toBeLessThan(3000); // one timeout, then answered at once (was: five timeouts)
  });

  it('opens one connection to an endpoint that resets every connection, and sends one request to one that answers 503', async () => {
    const resetting = await tcpServer((socket) => socket.resetAndDestroy());
    const { token } = await tokenFor('https://idp.example.com');
    await refuseMany(5, { issuer: 'https://idp.example.com', jwksUri: `${resetting.origin}/jwks` }, token, {});
    expect(resetting.connections()).toBe(1);

    const unavailable = await httpServer((response) => response.writeHead(503).end());
    await refuseMany(5, { issuer: 'https://idp.example.com', jwksUri: `${unavailable.origin}/jwks` }, token, {});
    expect(unavailable.requests()).toBe(1);
  });

  it('remembers an answer that is not a key set as a failure too', async () => {
    const broken = await httpServer((response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": "none"}'));
    const { token } = await tokenFor('https://idp.example.com');
    await refuseMany(4, { issuer: 'https://idp.example.com', jwksUri: `${broken.origin}/jwks` }, token, {});
    expect(broken.requests()).toBe(1);
  });

  it('asks again once the pause is over, and serves the keys when the endpoint is back', async () => {
    let healthy = false;
    const { key, token } = await tokenFor('https://idp.example.com');
    const flaky = await httpServer((response) => {
      if (!healthy) return void response.writeHead(503).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf(key)));
    });
    const config = { issuer: 'https://idp.example.com', jwksUri: `${flaky.origin}/jwks` };
    const keys = createJwtKeySource({ failureCacheMs: 300 });
    await expectRefused(verifyJwt(token, config, ctx, keys), { code: 'trust_provider_error', message: 'HTTP 503', token });
    healthy = true;
    await expectRefused(verifyJwt(token, config, ctx, keys), { code: 'trust_provider_error', message: 'HTTP 503', token });
    expect(flaky.requests()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await expect(verifyJwt(token, config, ctx, keys)).resolves.toMatchObject({ payload: { sub: 'w-1' } });
    expect(flaky.requests()).toBe(2);
  });

  it('keeps verifying with keys it holds while a refresh for an unknown kid fails', async () => {
    let healthy = true;
    const { key, token } = await tokenFor('https://idp.example.com');
    const flaky = await httpServer((response) => {
      if (!healthy) return void response.writeHead(503).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf(key)));
    });
    const config = { issuer: 'https://idp.example.com', jwksUri: `${flaky.origin}/jwks` };
    const keys = createJwtKeySource({ cooldownMs: 0 });
    await verifyJwt(token, config, ctx, keys);
    healthy = false;
    // Made-up kids make the source refresh; the failed refresh is not retried per token ...
    for (const kid of ['made-up-1', 'made-up-2', 'made-up-3']) {
      const { token: unknown } = await tokenFor('https://idp.example.com', kid);
      await expectRefused(verifyJwt(unknown, config, ctx, keys), { code: 'trust_provider_error', message: 'HTTP 503', token: unknown });
    }
    expect(flaky.requests()).toBe(2);
    // ... and the keys already held still verify the workloads that use them.
    await expect(verifyJwt(token, config, ctx, keys)).resolves.toMatchObject({ payload: { sub: 'w-1' } });
    expect(flaky.requests()).toBe(2);
  });

  it('opens one connection to a discovery document that never comes', async () => {
    const hanging = await tcpServer(() => {});
    const issuer = `${hanging.origin}/idp`;
    const { token } = await tokenFor(issuer);
    await refuseMany(4, { issuer, discovery: true }, token, { timeoutMs: 500 });
    expect(hanging.connections()).toBe(1);
  });
});
