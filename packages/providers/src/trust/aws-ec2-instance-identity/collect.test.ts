import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AUDIENCE, expectRefused } from '../../../test/support/jwt-fixtures.js';
import { closedPortUrl } from '../../../test/support/loopback-server.js';
import { startFakeImds, type FakeImds } from '../../../test/support/fake-ec2-imds.js';
import {
  AWS_EC2_METADATA_DISABLED_ENV,
  AWS_IMDS_ENDPOINT_ENV,
  createAwsEc2InstanceIdentityCollector,
  DEFAULT_AWS_IMDS_ENDPOINT,
} from './index.js';

const TYPE = 'aws-ec2-instance-identity';
const ctx = { audience: AUDIENCE };

/** A TCP server that accepts connections and never answers: IMDS's address off EC2, at worst. */
async function startBlackhole(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('aws-ec2-instance-identity collector', () => {
  let imds: FakeImds;
  beforeAll(async () => {
    imds = await startFakeImds();
  });
  afterAll(() => imds.close());
  beforeEach(() => {
    imds.requests.length = 0;
    imds.refuseTokens = false;
    imds.delayMs = 0;
  });

  it('gets a session token, then the document and its RSA-2048 signature with it', async () => {
    const collector = createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint });
    expect(collector).toMatchObject({ type: TYPE, evidenceType: TYPE });
    const evidence = await collector.collect(ctx);
    expect(evidence).toEqual({ type: TYPE, document: imds.document, pkcs7: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/) });
    expect(evidence.pkcs7).toBe(imds.signer.sign(imds.document, { signingTime: imds.signingTime }).replace(/\s+/g, ''));

    const [put, ...gets] = imds.requests;
    expect(put).toMatchObject({ method: 'PUT', url: '/latest/api/token', status: 200 });
    expect(put!.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('60');
    expect(gets.map((r) => `${r.method} ${r.url} ${r.status}`).sort()).toEqual([
      'GET /latest/dynamic/instance-identity/document 200',
      'GET /latest/dynamic/instance-identity/rsa2048 200',
    ]);
    for (const get of gets) expect(get.headers['x-aws-ec2-metadata-token']).toMatch(/^AQAEA/);
  });

  it('takes the endpoint from the option, then TESSERA_AWS_IMDS_ENDPOINT, then the link-local default', async () => {
    expect(DEFAULT_AWS_IMDS_ENDPOINT).toBe('http://169.254.169.254');
    const fromEnv = createAwsEc2InstanceIdentityCollector({ env: { [AWS_IMDS_ENDPOINT_ENV]: `${imds.endpoint}/` } });
    expect(await fromEnv.detect()).toBe(true);
    await expect(fromEnv.collect(ctx)).resolves.toMatchObject({ document: imds.document });
    const closed = await closedPortUrl();
    const optionWins = createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint, env: { [AWS_IMDS_ENDPOINT_ENV]: closed } });
    await expect(optionWins.collect(ctx)).resolves.toMatchObject({ document: imds.document });
  });

  it('never falls back to IMDSv1: a refused token request fails the collection before any GET', async () => {
    imds.refuseTokens = true;
    const collector = createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint });
    expect(await collector.detect()).toBe(false);
    await expectRefused(collector.collect(ctx), {
      code: 'trust_provider_error',
      message: `IMDSv2 token request to ${imds.endpoint}/latest/api/token failed: HTTP 403`,
      provider: TYPE,
    });
    expect(imds.requests.filter((r) => r.method === 'GET')).toEqual([]);
  });

  it('uses an IMDS that refuses IMDSv1 requests (the fake enforces what real IMDSv2 does)', async () => {
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`${imds.endpoint}${path}`, { method, headers });
    expect((await get('/latest/dynamic/instance-identity/document')).status).toBe(401);
    expect((await get('/latest/dynamic/instance-identity/rsa2048', { 'x-aws-ec2-metadata-token': 'AQAEAforged' })).status).toBe(401);
    expect((await get('/latest/api/token')).status).toBe(405);
    expect((await get('/latest/api/token', {}, 'PUT')).status).toBe(400);
    expect((await get('/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '21601' }, 'PUT')).status).toBe(400);
    expect((await get('/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '10.0.0.1' }, 'PUT')).status).toBe(403);
    const token = await (await get('/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60' }, 'PUT')).text();
    expect((await get('/latest/dynamic/instance-identity/document', { 'x-aws-ec2-metadata-token': token })).status).toBe(200);
    expect((await get('/latest/meta-data/iam/security-credentials/', { 'x-aws-ec2-metadata-token': token })).status).toBe(404);
  });

  it('is off, without a request, when AWS_EC2_METADATA_DISABLED=true', async () => {
    const collector = createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint, env: { [AWS_EC2_METADATA_DISABLED_ENV]: ' TRUE ' } });
    expect(await collector.detect()).toBe(false);
    await expectRefused(collector.collect(ctx), { code: 'invalid_config', message: 'AWS_EC2_METADATA_DISABLED is true', provider: TYPE });
    expect(imds.requests).toEqual([]);
    const enabled = createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint, env: { [AWS_EC2_METADATA_DISABLED_ENV]: 'false' } });
    expect(await enabled.detect()).toBe(true);
  });

  it('detects quickly and quietly that it is not on EC2', async () => {
    const blackhole = await startBlackhole();
    try {
      for (const endpoint of [blackhole.url, await closedPortUrl()]) {
        const started = performance.now();
        expect(await createAwsEc2InstanceIdentityCollector({ endpoint }).detect()).toBe(false);
        expect(performance.now() - started).toBeLessThan(1000);
      }
      // Another cloud's metadata server at the same address answers, but not with a token.
      imds.refuseTokens = true;
      expect(await createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint }).detect()).toBe(false);
      // An endpoint that is not an origin is not a place to look.
      expect(await createAwsEc2InstanceIdentityCollector({ env: { [AWS_IMDS_ENDPOINT_ENV]: 'ftp://imds' } }).detect()).toBe(false);
    } finally {
      await blackhole.close();
    }
  });

  it('gives up on a slow IMDS after timeoutMs', async () => {
    imds.delayMs = 400;
    const collector = createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint, timeoutMs: 150, detectTimeoutMs: 100 });
    expect(await collector.detect()).toBe(false);
    await expectRefused(collector.collect(ctx), { code: 'trust_provider_error', message: 'timed out', provider: TYPE });
  });

  it('refuses an endpoint that is not an http(s) origin', async () => {
    for (const [endpoint, message] of [
      ['ftp://169.254.169.254', 'endpoint must be an absolute http(s) URL'],
      ['169.254.169.254', 'endpoint must be an absolute http(s) URL'],
      ['http://169.254.169.254/latest', 'endpoint must be an origin, without a path or query'],
      ['http://user:pw@169.254.169.254', 'endpoint must not contain credentials'],
    ] as const) {
      await expectRefused(createAwsEc2InstanceIdentityCollector({ endpoint }).collect(ctx), { code: 'invalid_config', message, provider: TYPE });
    }
    await expectRefused(createAwsEc2InstanceIdentityCollector({ env: { [AWS_IMDS_ENDPOINT_ENV]: 'http://[fd00:ec2::254]/x' } }).collect(ctx), {
      code: 'invalid_config',
      message: `${AWS_IMDS_ENDPOINT_ENV} must be an origin`,
      provider: TYPE,
    });
  });

  it('reports an unreachable IMDS without the session token', async () => {
    const endpoint = await closedPortUrl();
    await expectRefused(createAwsEc2InstanceIdentityCollector({ endpoint: endpoint.replace(/\/$/, '') }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'failed: network error',
      provider: TYPE,
    });
  });
});
