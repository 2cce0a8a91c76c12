import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectRefused } from '../../../test/support/jwt-fixtures.js';
import { closedPortUrl, type LoopbackServer, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { type FakeMetadata, startFakeMetadata } from '../../../test/support/fake-gcp-metadata.js';
import { createGcpIdentityTokenCollector, DEFAULT_GCP_METADATA_ENDPOINT, GCP_DETECT_TIMEOUT_MS } from './index.js';

const TYPE = 'gcp-identity-token';
const ctx = { audience: 'https://tessera.test' };

describe('gcp-identity-token collector', () => {
  let fake: FakeMetadata;
  let hanging: LoopbackServer;
  let plainWeb: LoopbackServer;

  beforeAll(async () => {
    fake = await startFakeMetadata();
    hanging = await startLoopbackServer(() => undefined); // accepts, never answers
    plainWeb = await startLoopbackServer((_request, response) => void response.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>'));
  });
  afterAll(async () => {
    await Promise.all([fake.close(), hanging.close(), plainWeb.close()]);
  });
  beforeEach(() => {
    fake.reset();
    hanging.requests.length = 0;
  });

  it('requests the identity token with the cloud audience, format=full and the Metadata-Flavor header', async () => {
    const collector = createGcpIdentityTokenCollector({ metadataEndpoint: `${fake.origin}/` });
    expect(collector).toMatchObject({ type: TYPE, evidenceType: TYPE });
    const evidence = await collector.collect(ctx);
    expect(evidence).toEqual({ type: TYPE, token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
    expect(fake.server.requests).toHaveLength(1);
    const [request] = fake.server.requests;
    expect(request?.url).toBe('/computeMetadata/v1/instance/service-accounts/default/identity?audience=https%3A%2F%2Ftessera.test&format=full&licenses=FALSE');
    expect(request?.headers['metadata-flavor']).toBe('Google');
  });

  it('is refused by the metadata server without the Metadata-Flavor header', async () => {
    const response = await fetch(`${fake.origin}/computeMetadata/v1/instance/service-accounts/default/identity?audience=x&format=full`);
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('Metadata-Flavor');
    expect(fake.identityQueries).toEqual([]);
  });

  it('takes the endpoint from the option, then TESSERA_GCP_METADATA_ENDPOINT, then GCE_METADATA_HOST', async () => {
    const elsewhere = await closedPortUrl();
    const host = new URL(fake.origin).host; // 127.0.0.1:<port>, as Google's libraries take it
    await expect(createGcpIdentityTokenCollector({ env: { GCE_METADATA_HOST: host } }).collect(ctx)).resolves.toMatchObject({ type: TYPE });
    await expect(createGcpIdentityTokenCollector({ env: { TESSERA_GCP_METADATA_ENDPOINT: fake.origin, GCE_METADATA_HOST: new URL(elsewhere).host } }).collect(ctx)).resolves.toMatchObject({ type: TYPE });
    await expect(createGcpIdentityTokenCollector({ metadataEndpoint: fake.origin, env: { TESSERA_GCP_METADATA_ENDPOINT: elsewhere } }).collect(ctx)).resolves.toMatchObject({ type: TYPE });
    expect(fake.identityQueries).toHaveLength(3);
    expect(DEFAULT_GCP_METADATA_ENDPOINT).toBe('http://metadata.google.internal');
  });

  it('refuses an answer without Metadata-Flavor: Google, and reports HTTP errors without the audience query', async () => {
    fake.state.flavorHeader = false;
    await expectRefused(createGcpIdentityTokenCollector({ metadataEndpoint: fake.origin }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'not a GCP metadata server',
      provider: TYPE,
    });
    const error = await expectRefused(createGcpIdentityTokenCollector({ metadataEndpoint: `${fake.origin}/nowhere` }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'failed: HTTP 404',
      provider: TYPE,
    });
    expect(error.message).not.toContain('tessera.test');
    await expectRefused(createGcpIdentityTokenCollector({ metadataEndpoint: plainWeb.origin }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'not a GCP metadata server',
      provider: TYPE,
    });
  });

  it('times out a metadata server that does not answer', async () => {
    await expectRefused(createGcpIdentityTokenCollector({ metadataEndpoint: hanging.origin, timeoutMs: 200 }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'timed out',
      provider: TYPE,
    });
  });

  it('refuses endpoints that are not plain URLs', async () => {
    for (const [metadataEndpoint, message] of [
      ['ftp://metadata.internal', 'metadataEndpoint must use http or https'],
      ['http://user:pw@metadata.internal', 'must not contain credentials'],
      ['http://metadata.internal/?x=1', 'must not contain credentials, a query or a fragment'],
    ] as const) {
      const collector = createGcpIdentityTokenCollector({ metadataEndpoint });
      await expectRefused(collector.collect(ctx), { code: 'invalid_config', message, provider: TYPE });
      expect(await collector.detect()).toBe(false);
    }
  });

  describe('detect()', () => {
    const timed = async (detect: () => Promise<boolean>) => {
      const started = performance.now();
      const result = await detect();
      return { result, ms: performance.now() - started };
    };

    it('is false, quickly and quietly, off GCP: nothing listening, no answer, or a server that is not a metadata server', async () => {
      for (const host of [new URL(await closedPortUrl()).host, new URL(hanging.origin).host, new URL(plainWeb.origin).host]) {
        const collector = createGcpIdentityTokenCollector({ env: { GCE_METADATA_HOST: host } });
        const { result, ms } = await timed(() => collector.detect());
        expect(result).toBe(false);
        expect(ms).toBeLessThan(GCP_DETECT_TIMEOUT_MS + 250);
      }
      expect(hanging.requests.map((r) => r.url)).toEqual(['/computeMetadata/v1/']);
    });

    it('probes /computeMetadata/v1/ with the header and keeps a positive answer', async () => {
      const collector = createGcpIdentityTokenCollector({ env: { GCE_METADATA_HOST: new URL(fake.origin).host } });
      expect(await collector.detect()).toBe(true);
      expect(await collector.detect()).toBe(true);
      expect(fake.server.requests.map((r) => [r.url, r.headers['metadata-flavor']])).toEqual([['/computeMetadata/v1/', 'Google']]);
    });

    it('keeps a negative answer for a while, so attestations off GCP do not wait again', async () => {
      const collector = createGcpIdentityTokenCollector({ env: { GCE_METADATA_HOST: new URL(hanging.origin).host } });
      expect(await collector.detect()).toBe(false);
      const { result, ms } = await timed(() => collector.detect());
      expect({ result, fast: ms < 50 }).toEqual({ result: false, fast: true });
      expect(hanging.requests).toHaveLength(1);
    });

    it('is true without probing when the endpoint is set explicitly', async () => {
      const unreachable = await closedPortUrl();
      expect(await createGcpIdentityTokenCollector({ env: { TESSERA_GCP_METADATA_ENDPOINT: unreachable } }).detect()).toBe(true);
      expect(await createGcpIdentityTokenCollector({ metadataEndpoint: unreachable }).detect()).toBe(true);
    });
  });
});
