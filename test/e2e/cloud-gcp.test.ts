import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_SERVICE_ACCOUNT_EMAIL, startFakeMetadata, type FakeMetadata } from '../../packages/providers/test/support/fake-gcp-metadata.js';
import { adminClient, auditEvents, eventually, startClient, startFakes, workloadSubject, type ClientProcess, type FakesProcess } from './support/cloud-e2e.js';
import { startCloud, type CloudProcess } from './support/cloud-process.js';

const PROJECT_ID = 'acme-prod'; // the fake metadata server's VM project
const STORAGE_READER = 'storage-reader@acme-prod.iam.gserviceaccount.com';
const READ_ONLY = 'https://www.googleapis.com/auth/devstorage.read_only';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const OBJECT_PATH = '/storage/v1/b/acme-reports/o/2025%2F06.csv?alt=media';
const OBJECT_TEXT = 'month,total\n2025-06,4200\n';

interface GcpFakes {
  google: string;
  tokenUrl: string;
  poolProviderAudience: string;
  gcs: string;
  gcsPort: number;
  control: string;
}

/**
 * Google Cloud end to end, every party a real process on loopback except the metadata server
 * (its fake cannot be loaded by a plain Node process, so it runs in the test's): the Tessera
 * cloud; Google STS, IAM Credentials and a Cloud Storage fake (support/cloud-fakes.mjs); and a
 * client workload on a "Compute Engine VM" started with `node --import @tessera/sdk/register`,
 * whose environment holds no Google credential and no Tessera secret. It proves who it is with
 * the VM's identity token; the cloud signs a JWT that Google STS exchanges (workload identity
 * federation) and IAM Credentials turns into a token of a service account; the SDK puts it on
 * the client's plain fetch, and the fake GCS accepts exactly that token.
 */
describe('GCP: a Compute Engine workload with no secret downloads from Cloud Storage through the SDK', () => {
  let dataDir: string;
  let cloud: CloudProcess;
  let key: string;
  let metadata: FakeMetadata;
  let fakes: FakesProcess<GcpFakes>;
  let client: ClientProcess;
  let intruder: ClientProcess | undefined;
  const ids: Record<'client' | 'subject' | 'trust' | 'gcs' | 'wif' | 'policy', string> = { client: '', subject: '', trust: '', gcs: '', wif: '', policy: '' };
  const clientEnv = (): Record<string, string> => ({
    PATH: process.env.PATH!,
    TESSERA_CLOUD_URL: cloud.url,
    TESSERA_COLLECTORS: 'gcp-identity-token',
    TESSERA_GCP_METADATA_ENDPOINT: metadata.origin,
    STORAGE_URL: fakes.info.gcs,
  });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-gcp-'));
    cloud = await startCloud(['--data', dataDir]);
    key = cloud.bootstrapKey!;
    const admin = adminClient(cloud.url, key);
    metadata = await startFakeMetadata();
    fakes = await startFakes<GcpFakes>('gcp', {
      CLOUD_URL: cloud.url,
      IMPERSONABLE: JSON.stringify([STORAGE_READER]),
      GCS_OBJECTS: JSON.stringify({ 'acme-reports/2025/06.csv': OBJECT_TEXT }),
    });

    // The audience is left to its default: the cloud's public URL, which the collector asks for.
    ids.trust = (await admin('trust-providers', {
      name: 'gcp-acme-prod',
      type: 'gcp-identity-token',
      config: { jwksUri: metadata.jwksUri, projectIds: [PROJECT_ID], serviceAccountEmails: [FAKE_SERVICE_ACCOUNT_EMAIL] },
    })).id;
    const workload = await admin('client-workloads', {
      name: 'billing-vm',
      identities: [
        { claim: 'gcp.serviceAccountEmail', value: FAKE_SERVICE_ACCOUNT_EMAIL },
        { claim: 'gcp.projectId', value: PROJECT_ID },
      ],
    });
    ids.client = workload.id;
    ids.subject = workloadSubject(workload);
    ids.gcs = (await admin('server-workloads', {
      name: 'gcs',
      scheme: 'http',
      host: '127.0.0.1',
      port: fakes.info.gcsPort,
      injection: { kind: 'header', name: 'authorization' },
    })).id;
    ids.wif = (await admin('credential-providers', {
      name: 'gcs-reader',
      type: 'gcp-workload-identity-federation',
      config: {
        audience: fakes.info.poolProviderAudience,
        serviceAccountEmail: STORAGE_READER,
        scopes: [READ_ONLY],
        tokenUrl: fakes.info.tokenUrl,
        iamCredentialsEndpoint: fakes.info.google,
      },
    })).id;
    ids.policy = (await admin('access-policies', {
      name: 'billing-vm-to-gcs',
      clientWorkloadIds: [ids.client],
      serverWorkloadId: ids.gcs,
      trustProviderIds: [ids.trust],
      credentialProviderId: ids.wif,
    })).id;

    client = await startClient(clientEnv());
  });

  afterAll(async () => {
    const state = fakes ? await fakes.state().catch(() => undefined) : undefined;
    await client?.stop();
    await intruder?.stop();
    await fakes?.stop();
    await metadata?.close();
    await cloud?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // Nothing either client printed holds a Google access token or a JWT the cloud signed.
    const printed = `${client?.output() ?? ''}${intruder?.output() ?? ''}`;
    for (const token of [...(state?.serviceAccountTokens ?? []), ...(state?.federatedTokens ?? [])]) expect(printed).not.toContain(token);
    for (const exchange of state?.sts ?? []) expect(printed).not.toContain(exchange.form.subject_token);
  });

  it('a plain fetch downloads the object with the token IAM Credentials issued for the cloud-signed JWT', async () => {
    const first = await client.call('fetch', { path: OBJECT_PATH });
    expect(first).toMatchObject({ ok: true, status: 200, body: OBJECT_TEXT });
    const second = await client.call('fetch', { path: OBJECT_PATH });
    expect(second).toMatchObject({ ok: true, status: 200, body: OBJECT_TEXT });

    // The collector asked the metadata server for a full ID token for the cloud's URL.
    expect(metadata.identityQueries.length).toBeGreaterThanOrEqual(1);
    for (const query of metadata.identityQueries) expect(Object.fromEntries(query)).toMatchObject({ audience: cloud.url, format: 'full' });

    const state = await fakes.state();
    // One exchange: STS verified the cloud's JWT (against the cloud's JWKS) for the pool provider ...
    expect(state.sts).toHaveLength(1);
    expect(state.sts[0].form).toMatchObject({ audience: fakes.info.poolProviderAudience, scope: CLOUD_PLATFORM });
    expect(state.sts[0].header).toMatchObject({ alg: 'ES256' });
    expect(state.sts[0].claims).toMatchObject({ iss: cloud.url, aud: fakes.info.poolProviderAudience, sub: ids.subject, resource_set: { name: 'default' }, client_workload: 'billing-vm' });
    // ... and IAM Credentials turned the federated token into the service account's.
    expect(state.iam).toHaveLength(1);
    expect(state.iam[0]).toMatchObject({ email: STORAGE_READER, bearer: state.federatedTokens[0], body: { scope: [READ_ONLY] } });
    expect(state.serviceAccountTokens).toHaveLength(1);
    // Both downloads carried exactly that token, once (the second from the SDK's cache).
    expect(state.gcs).toHaveLength(2);
    for (const request of state.gcs) {
      expect(request).toMatchObject({ method: 'GET', url: OBJECT_PATH, authorized: true, bearer: state.serviceAccountTokens[0], authorizationHeaders: 1 });
    }
  });

  it('the fake GCS refuses a caller without that token: none, or the federated token', async () => {
    const { federatedTokens } = await fakes.state();
    expect((await fetch(`${fakes.info.gcs}${OBJECT_PATH}`)).status).toBe(401);
    expect((await fetch(`${fakes.info.gcs}${OBJECT_PATH}`, { headers: { authorization: `Bearer ${federatedTokens[0]}` } })).status).toBe(401);
    const refused = (await fakes.state()).gcs.slice(-2);
    for (const request of refused) expect(request.authorized).toBe(false);
  });

  it('the audit trail shows the attestation and the credential, without the tokens', async () => {
    const attests = await auditEvents(cloud.url, key, 'edge.attest');
    const allowed = attests.filter((event) => event.outcome === 'allow' && event.clientWorkloadId === ids.client);
    expect(allowed.length).toBeGreaterThanOrEqual(1);
    expect(allowed[0]!.reason).toBeNull();
    expect(allowed[0]!.data).toMatchObject({ evidenceType: 'gcp-identity-token', trustProviderIds: [ids.trust] });

    const credentials = await auditEvents(cloud.url, key, 'edge.credential');
    const issuedFor = credentials.filter((event) => event.outcome === 'allow' && event.clientWorkloadId === ids.client);
    expect(issuedFor).toHaveLength(1);
    expect(issuedFor[0]).toMatchObject({ serverWorkloadId: ids.gcs, objectId: ids.policy });
    expect(issuedFor[0]!.data).toMatchObject({
      credentialKind: 'token',
      policyId: ids.policy,
      trustProviderId: ids.trust,
      credentialProviderId: ids.wif,
      target: { scheme: 'http', host: '127.0.0.1', port: fakes.info.gcsPort },
    });

    const state = await fakes.state();
    const everything = JSON.stringify([...attests, ...credentials]);
    for (const token of [...state.serviceAccountTokens, ...state.federatedTokens, state.sts[0].form.subject_token]) expect(everything).not.toContain(token);
  });

  it('an identity token of a service account the trust provider does not list is refused; nothing reaches Google or GCS', async () => {
    const before = await fakes.state();
    metadata.state.email = 'intruder@acme-prod.iam.gserviceaccount.com';
    try {
      intruder = await startClient(clientEnv());
      const reply = await intruder.call('fetch', { path: OBJECT_PATH });
      expect(reply.ok).toBe(false);
      // fetch's TypeError, caused by the refusal itself: the request never left the process.
      expect(reply.errors!.map((error) => error.name)).toEqual(['TypeError', 'TesseraAccessDeniedError']);
      expect(reply.errors![1]).toMatchObject({ code: 'evidence_invalid' });
      expect(reply.errors![1]!.message).toContain("the token's service account is not in serviceAccountEmails");
    } finally {
      metadata.state.email = FAKE_SERVICE_ACCOUNT_EMAIL;
    }
    const after = await fakes.state();
    expect(after.googleRequests).toEqual(before.googleRequests);
    expect(after.gcs).toHaveLength(before.gcs.length);

    const denied = await eventually(async () =>
      (await auditEvents(cloud.url, key, 'edge.attest')).find((event) => event.outcome === 'deny' && event.data.evidenceType === 'gcp-identity-token'),
    );
    expect(denied).toMatchObject({ reason: 'evidence_invalid', clientWorkloadId: null });
    expect(denied.data.message).toContain("the token's service account is not in serviceAccountEmails");
  });
});
