import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENTRA_CERT } from '../../packages/providers/test/support/fake-entra.js';
import { adminClient, auditEvents, eventually, startClient, startFakes, workloadSubject, type ClientProcess, type FakesProcess } from './support/cloud-e2e.js';
import { startCloud, type CloudProcess } from './support/cloud-process.js';

const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SUBSCRIPTION_ID = '8d2a9f0e-4b1c-4e3a-9f5d-1a2b3c4d5e6f';
const OTHER_SUBSCRIPTION_ID = '4b9e7c1d-2a3f-4e5d-8c7b-6a5f4e3d2c1b';
/** Tessera's resource (App ID URI): what the workloads request IMDS tokens for, the trust provider's audience. */
const RESOURCE = 'api://0a6c2d1e-5f7b-4c8d-9e0f-1a2b3c4d5e6f';
/** The app registration that holds the Storage role and the federated credential. */
const APP_CLIENT_ID = '5e8d1c2b-7a6f-4e3d-9c1b-0a9f8e7d6c5b';
const SCOPE = 'https://storage.azure.com/.default';
const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const VM_IDENTITY = {
  clientId: 'b7e4f1a0-2c3d-4e5f-8a9b-0c1d2e3f4a5b',
  objectId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  resourceId: `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/Payments-Prod/providers/Microsoft.Compute/virtualMachines/billing-vm-1`,
};
/** A VM of the same tenant, in a subscription the trust provider does not list. */
const FOREIGN_IDENTITY = {
  clientId: '9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a',
  objectId: '2d3e4f5a-6b7c-4d8e-9fa0-1b2c3d4e5f6a',
  resourceId: `/subscriptions/${OTHER_SUBSCRIPTION_ID}/resourcegroups/sandbox/providers/Microsoft.Compute/virtualMachines/dev-vm-7`,
};
const BLOB_PATH = '/reports/2026-11.csv';
const BLOB_TEXT = 'month,total\n2026-11,4200\n';

interface AzureFakes {
  imds: string;
  foreignImds: string;
  jwksUri: string;
  entra: string;
  blob: string;
  blobPort: number;
  control: string;
}

/**
 * Azure end to end, every party a real process on loopback: the Tessera cloud; Azure IMDS (two:
 * this VM's, and a VM's of another subscription), Entra ID's token endpoint over TLS, and a Blob
 * API fake (support/cloud-fakes.mjs azure); and a client workload on an "Azure VM" started with
 * `node --import @tessera/sdk/register`, whose environment holds no Azure credential and no
 * Tessera secret. It proves who it is with its managed identity's IMDS token; the cloud signs an
 * RS256 client assertion that Entra ID verifies against the cloud's JWKS (workload identity
 * federation) and exchanges for an access token; the SDK puts it on the client's plain fetch,
 * and the fake Blob API accepts exactly that token.
 */
describe('Azure: a VM workload with no secret downloads a blob through the SDK', () => {
  let workDir: string;
  let cloud: CloudProcess;
  let key: string;
  let fakes: FakesProcess<AzureFakes>;
  let client: ClientProcess;
  let intruder: ClientProcess | undefined;
  const ids: Record<'client' | 'subject' | 'trust' | 'blob' | 'wif' | 'policy', string> = { client: '', subject: '', trust: '', blob: '', wif: '', policy: '' };
  const clientEnv = (imds: string): Record<string, string> => ({
    PATH: process.env.PATH!,
    TESSERA_CLOUD_URL: cloud.url,
    TESSERA_COLLECTORS: 'azure-managed-identity',
    TESSERA_AZURE_RESOURCE: RESOURCE,
    TESSERA_AZURE_IMDS_ENDPOINT: imds,
    STORAGE_URL: fakes.info.blob,
  });

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-azure-'));
    const dataDir = join(workDir, 'data');
    mkdirSync(dataDir);
    // The fake Entra ID speaks TLS with a self-signed certificate: the cloud trusts it as an extra CA.
    const entraCa = join(workDir, 'fake-entra-ca.pem');
    writeFileSync(entraCa, FAKE_ENTRA_CERT);
    cloud = await startCloud(['--data', dataDir], { NODE_EXTRA_CA_CERTS: entraCa });
    key = cloud.bootstrapKey!;
    const admin = adminClient(cloud.url, key);

    // Matched on the identity's object id and its subscription; the federated credential names the workload's id.
    const workload = await admin('client-workloads', {
      name: 'billing',
      identities: [
        { claim: 'azure.objectId', value: VM_IDENTITY.objectId },
        { claim: 'azure.subscriptionId', value: SUBSCRIPTION_ID },
      ],
    });
    ids.client = workload.id;
    ids.subject = workloadSubject(workload);
    fakes = await startFakes<AzureFakes>('azure', {
      CLOUD_URL: cloud.url,
      TENANT_ID,
      APP_CLIENT_ID,
      WORKLOAD_SUBJECT: ids.subject,
      IDENTITY: JSON.stringify(VM_IDENTITY),
      FOREIGN_IDENTITY: JSON.stringify(FOREIGN_IDENTITY),
      BLOBS: JSON.stringify({ 'reports/2026-11.csv': BLOB_TEXT }),
    });

    // The default issuers (v1 https://sts.windows.net/<tenant>/, what IMDS issues) fit the fake's tokens.
    ids.trust = (await admin('trust-providers', {
      name: 'azure-prod',
      type: 'azure-managed-identity',
      config: { tenantId: TENANT_ID, audience: RESOURCE, jwksUri: fakes.info.jwksUri, subscriptionIds: [SUBSCRIPTION_ID] },
    })).id;
    ids.blob = (await admin('server-workloads', {
      name: 'acmedata-blob',
      scheme: 'http',
      host: '127.0.0.1',
      port: fakes.info.blobPort,
      injection: { kind: 'header', name: 'Authorization', format: 'Bearer {token}' },
    })).id;
    ids.wif = (await admin('credential-providers', {
      name: 'blob-reader',
      type: 'azure-workload-identity-federation',
      config: { tenantId: TENANT_ID, clientId: APP_CLIENT_ID, scope: SCOPE, authorityHost: fakes.info.entra },
    })).id;
    ids.policy = (await admin('access-policies', {
      name: 'billing-reads-acmedata',
      clientWorkloadIds: [ids.client],
      serverWorkloadId: ids.blob,
      trustProviderIds: [ids.trust],
      credentialProviderId: ids.wif,
    })).id;

    client = await startClient(clientEnv(fakes.info.imds), './azure-blob-client.mjs');
  });

  afterAll(async () => {
    const state = fakes ? await fakes.state().catch(() => undefined) : undefined;
    await client?.stop();
    await intruder?.stop();
    await fakes?.stop();
    await cloud?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    // Nothing either client (or the cloud) printed holds an Entra access token or a client assertion the cloud signed.
    const printed = `${client?.output() ?? ''}${intruder?.output() ?? ''}${cloud?.output() ?? ''}`;
    for (const token of state?.accessTokens ?? []) expect(printed).not.toContain(token);
    for (const request of state?.tokenRequests ?? []) expect(printed).not.toContain(request.form.client_assertion);
  });

  it('a plain fetch downloads the blob with the access token Entra ID issued for the cloud-signed RS256 assertion', async () => {
    const first = await client.call('download', { path: BLOB_PATH });
    expect(first).toMatchObject({ ok: true, status: 200, body: BLOB_TEXT });
    const second = await client.call('download', { path: BLOB_PATH });
    expect(second).toMatchObject({ ok: true, status: 200, body: BLOB_TEXT });

    const state = await fakes.state();
    // The collector (named, so used without detection) asked IMDS, with `Metadata: true`, for a
    // token of the VM's identity for Tessera's resource; the cloud read the tenant's signing keys.
    const tokenQueries = state.imdsRequests.filter((r: { url: string }) => r.url.startsWith('/metadata/'));
    expect(tokenQueries.length).toBeGreaterThanOrEqual(1);
    for (const query of tokenQueries) {
      const url = new URL(query.url, 'http://imds');
      expect(query.metadata).toBe('true');
      expect(url.pathname).toBe('/metadata/identity/oauth2/token');
      expect(Object.fromEntries(url.searchParams)).toEqual({ 'api-version': '2018-02-01', resource: RESOURCE });
    }
    expect(state.imdsRequests.map((r: { url: string }) => r.url)).toContain(new URL(fakes.info.jwksUri).pathname);

    // One exchange at Entra ID (the openid-configuration read, then one token request) ...
    expect(state.entraRequests.map((r: { method: string; url: string }) => `${r.method} ${r.url.split('?')[0]}`)).toEqual([
      `GET /${TENANT_ID}/v2.0/.well-known/openid-configuration`,
      `POST /${TENANT_ID}/oauth2/v2.0/token`,
    ]);
    expect(state.tokenRequests).toHaveLength(1);
    expect(state.tokenRequests[0].form).toMatchObject({
      grant_type: 'client_credentials',
      client_id: APP_CLIENT_ID,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    });
    expect(state.tokenRequests[0].form.scope.split(' ')).toContain(SCOPE);
    // ... whose assertion Entra verified against the cloud's JWKS: RS256, for the federated credential.
    expect(state.verified).toHaveLength(1);
    const [verified] = state.verified;
    expect(verified).toMatchObject({ clientId: APP_CLIENT_ID });
    expect(verified.header).toMatchObject({ alg: 'RS256' });
    expect(verified.claims).toMatchObject({ iss: cloud.url, sub: ids.subject, aud: TOKEN_EXCHANGE_AUDIENCE, resource_set: { name: 'default' } });
    expect(verified.claims.exp - verified.claims.iat).toBe(300);
    // The key that signed it: the cloud's RS256 key, published in its JWKS and listed in its discovery document.
    const jwks = (await (await fetch(`${cloud.url}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys.find((jwk) => jwk.kid === verified.header.kid)).toMatchObject({ kty: 'RSA', alg: 'RS256' });
    const discovery = (await (await fetch(`${cloud.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.id_token_signing_alg_values_supported).toContain('RS256');

    // Both downloads carried exactly that token, once, and a service version (the second from the SDK's cache).
    expect(state.accessTokens).toHaveLength(1);
    expect(state.blob).toHaveLength(2);
    for (const request of state.blob) {
      expect(request).toMatchObject({
        method: 'GET',
        url: BLOB_PATH,
        status: 200,
        authorized: true,
        bearer: state.accessTokens[0],
        xMsVersion: '2023-11-03',
        authorizationHeaders: 1,
      });
    }
  });

  it('the fake Blob API refuses a caller without that token: none, the managed identity token, or the token without x-ms-version', async () => {
    const { accessTokens } = await fakes.state();
    const version = { 'x-ms-version': '2023-11-03' };
    // The VM's own managed-identity token (for Tessera's resource) is no Storage token.
    const imds = await fetch(`${fakes.info.imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(RESOURCE)}`, {
      headers: { Metadata: 'true' },
    });
    const { access_token: managedIdentityToken } = (await imds.json()) as { access_token: string };
    const attempt = async (headers: Record<string, string>) => {
      const response = await fetch(`${fakes.info.blob}${BLOB_PATH}`, { headers });
      return `${response.status} ${response.headers.get('x-ms-error-code')}`;
    };
    expect(await attempt(version)).toBe('401 NoAuthenticationInformation');
    expect(await attempt({ ...version, authorization: `Bearer ${managedIdentityToken}` })).toBe('401 InvalidAuthenticationInfo');
    expect(await attempt({ authorization: `Bearer ${accessTokens[0]}` })).toBe('403 AuthenticationFailed');
    const refused = (await fakes.state()).blob.slice(-3);
    expect(refused.map((request: { status: number }) => request.status)).toEqual([401, 401, 403]);
  });

  it('the audit trail shows the attestation and the credential, without the tokens', async () => {
    const attests = await auditEvents(cloud.url, key, 'edge.attest');
    const allowed = attests.filter((event) => event.outcome === 'allow' && event.clientWorkloadId === ids.client);
    expect(allowed.length).toBeGreaterThanOrEqual(1);
    expect(allowed[0]!.reason).toBeNull();
    expect(allowed[0]!.data).toMatchObject({ evidenceType: 'azure-managed-identity', trustProviderIds: [ids.trust] });

    const credentials = await auditEvents(cloud.url, key, 'edge.credential');
    const issuedFor = credentials.filter((event) => event.outcome === 'allow' && event.clientWorkloadId === ids.client);
    expect(issuedFor).toHaveLength(1); // the second download reused the cached token
    expect(issuedFor[0]).toMatchObject({ serverWorkloadId: ids.blob, objectId: ids.policy });
    expect(issuedFor[0]!.data).toMatchObject({
      credentialKind: 'token',
      policyId: ids.policy,
      trustProviderId: ids.trust,
      credentialProviderId: ids.wif,
      target: { scheme: 'http', host: '127.0.0.1', port: fakes.info.blobPort },
    });

    const state = await fakes.state();
    const everything = JSON.stringify([...attests, ...credentials]);
    for (const secret of [...state.accessTokens, state.tokenRequests[0].form.client_assertion]) expect(everything).not.toContain(secret);
  });

  it('a managed identity of another subscription is refused at attestation; nothing reaches Entra ID or the Blob API', async () => {
    const before = await fakes.state();
    intruder = await startClient(clientEnv(fakes.info.foreignImds), './azure-blob-client.mjs');
    const reply = await intruder.call('download', { path: BLOB_PATH });
    expect(reply.ok).toBe(false);
    // fetch's TypeError, caused by the refusal itself: the request never left the process.
    expect(reply.errors!.map((error) => error.name)).toEqual(['TypeError', 'TesseraAccessDeniedError']);
    expect(reply.errors![1]).toMatchObject({ code: 'evidence_invalid' });
    expect(reply.errors![1]!.message).toContain("the identity's subscription is not in subscriptionIds");

    const after = await fakes.state();
    // It did present its own identity's token (from its IMDS) ...
    expect(after.foreignImdsRequests.some((r: { metadata?: string }) => r.metadata === 'true')).toBe(true);
    // ... and Entra ID and the Blob API saw nothing more.
    expect(after.entraRequests).toEqual(before.entraRequests);
    expect(after.blob).toHaveLength(before.blob.length);

    const denied = await eventually(async () =>
      (await auditEvents(cloud.url, key, 'edge.attest')).find((event) => event.outcome === 'deny' && event.data.evidenceType === 'azure-managed-identity'),
    );
    expect(denied).toMatchObject({ reason: 'evidence_invalid', clientWorkloadId: null });
    expect(denied.data.message).toContain("the identity's subscription is not in subscriptionIds");
  });
});
