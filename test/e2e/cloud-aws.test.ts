import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, auditEvents, eventually, startClient, startFakes, workloadSubject, type ClientProcess, type FakesProcess } from './support/cloud-e2e.js';
import { startCloud, type CloudProcess } from './support/cloud-process.js';

const ACCOUNT_ID = '123456789012';
const INSTANCE_ID = 'i-0e2e0c10d0a0b0c0d'; // the document cloud-fakes.mjs serves
const ROLE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/tessera-receipts-writer`;
const MAX_AGE_SECONDS = 600;

interface AwsFakes {
  imds: string;
  staleImds: string;
  staleSignedAt: string;
  certificatePem: string;
  sts: string;
  s3: string;
  s3Port: number;
  control: string;
}

/**
 * AWS end to end, every party a real process on loopback: the Tessera cloud; IMDS, STS and S3
 * fakes (support/cloud-fakes.mjs); and a client workload on an "EC2 instance" started with
 * `node --import @tessera/sdk/register`, whose environment holds no AWS credential and no
 * Tessera secret: it proves who it is with the instance identity document IMDS serves, the cloud
 * exchanges a JWT it signs for temporary keys at STS, and the SDK signs the AWS S3 client's
 * requests with them, which the fake S3 verifies (SigV4, for real).
 */
describe('AWS: an EC2 workload with no secret writes and reads S3 through the SDK', () => {
  let dataDir: string;
  let cloud: CloudProcess;
  let key: string;
  let fakes: FakesProcess<AwsFakes>;
  let client: ClientProcess;
  let staleClient: ClientProcess | undefined;
  const ids: Record<'client' | 'subject' | 'trust' | 's3' | 'sts' | 'policy', string> = { client: '', subject: '', trust: '', s3: '', sts: '', policy: '' };
  const clientEnv = (imds: string): Record<string, string> => ({
    PATH: process.env.PATH!,
    TESSERA_CLOUD_URL: cloud.url,
    TESSERA_COLLECTORS: 'aws-ec2-instance-identity',
    TESSERA_AWS_IMDS_ENDPOINT: imds,
    STORAGE_URL: fakes.info.s3,
  });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-aws-'));
    cloud = await startCloud(['--data', dataDir]);
    key = cloud.bootstrapKey!;
    const admin = adminClient(cloud.url, key);

    // Matched on the account and this instance; the role's trust policy names the workload's id.
    const workload = await admin('client-workloads', {
      name: 'receipts-vm',
      identities: [
        { claim: 'aws.accountId', value: ACCOUNT_ID },
        { claim: 'aws.instanceId', value: INSTANCE_ID },
      ],
    });
    ids.client = workload.id;
    ids.subject = workloadSubject(workload);
    fakes = await startFakes<AwsFakes>('aws', { CLOUD_URL: cloud.url, WORKLOAD_SUBJECT: ids.subject, ROLE_ARN });

    ids.trust = (await admin('trust-providers', {
      name: 'ec2-e2e',
      type: 'aws-ec2-instance-identity',
      config: { certificates: [fakes.info.certificatePem], accountIds: [ACCOUNT_ID], regions: ['eu-west-1'], maxAgeSeconds: MAX_AGE_SECONDS },
    })).id;
    ids.s3 = (await admin('server-workloads', {
      name: 's3',
      scheme: 'http',
      host: '127.0.0.1',
      port: fakes.info.s3Port,
      injection: { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' },
    })).id;
    ids.sts = (await admin('credential-providers', {
      name: 'receipts-writer',
      type: 'aws-sts',
      config: { roleArn: ROLE_ARN, region: 'us-east-1', stsEndpoint: fakes.info.sts, durationSeconds: 900 },
    })).id;
    ids.policy = (await admin('access-policies', {
      name: 'receipts-vm-to-s3',
      clientWorkloadIds: [ids.client],
      serverWorkloadId: ids.s3,
      trustProviderIds: [ids.trust],
      credentialProviderId: ids.sts,
    })).id;

    client = await startClient(clientEnv(fakes.info.imds));
  });

  afterAll(async () => {
    const issued = fakes ? (await fakes.state().catch(() => ({ issued: [], sts: [] }))) : { issued: [], sts: [] };
    await client?.stop();
    await staleClient?.stop();
    await fakes?.stop();
    await cloud?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // Nothing either client printed holds a temporary key or the JWT the cloud signed for STS.
    const printed = `${client?.output() ?? ''}${staleClient?.output() ?? ''}`;
    for (const credential of issued.issued) {
      for (const secret of [credential.accessKeyId, credential.secretAccessKey, credential.sessionToken]) expect(printed).not.toContain(secret);
    }
    for (const request of issued.sts) if (request.webIdentityToken) expect(printed).not.toContain(request.webIdentityToken);
  });

  it('Put and Get with the AWS S3 client: signed with the keys STS issued for the cloud-signed JWT', async () => {
    const put = await client.call('s3Put', { bucket: 'receipts', key: '2025/06/r-1.json', text: '{"total":42}' });
    expect(put).toMatchObject({ ok: true, status: 200 });
    const get = await client.call('s3Get', { bucket: 'receipts', key: '2025/06/r-1.json' });
    expect(get).toMatchObject({ ok: true, status: 200, body: '{"total":42}' });

    const state = await fakes.state();
    // The SDK read IMDS with IMDSv2 only (a GET without a live session token gets 401 here):
    // a session token, then the document and its signature. A collector named explicitly runs
    // without detection, so there is no probe before them.
    const imds = state.imdsRequests.map((r: { method: string; url: string; status: number }) => `${r.method} ${r.url} ${r.status}`);
    expect(imds.slice(-3)).toEqual([
      'PUT /latest/api/token 200',
      'GET /latest/dynamic/instance-identity/document 200',
      'GET /latest/dynamic/instance-identity/rsa2048 200',
    ]);
    expect(imds.slice(0, -3).every((line: string) => line === 'PUT /latest/api/token 200')).toBe(true);
    // One exchange at STS, of a JWT STS verified against the cloud's JWKS.
    expect(state.sts).toHaveLength(1);
    expect(state.sts[0]).toMatchObject({ action: 'AssumeRoleWithWebIdentity', status: 200, roleArn: ROLE_ARN, roleSessionName: 'tessera-receipts-vm', durationSeconds: '900' });
    expect(state.sts[0].claims).toMatchObject({ iss: cloud.url, aud: 'sts.amazonaws.com', sub: ids.subject, resource_set: { id: expect.any(String), name: 'default' } });
    expect(state.issued).toHaveLength(1);
    const [issued] = state.issued;
    // Both S3 calls arrived signed with those keys (and their session token), and verified.
    expect(state.s3.map((r: { method: string; path: string }) => `${r.method} ${r.path.split('?')[0]}`)).toEqual(['PUT /receipts/2025/06/r-1.json', 'GET /receipts/2025/06/r-1.json']);
    for (const request of state.s3) expect(request).toMatchObject({ verified: true, accessKeyId: issued.accessKeyId, sessionToken: issued.sessionToken });
    expect(state.s3Objects).toEqual({ 'receipts/2025/06/r-1.json': '{"total":42}' });
  });

  it('the fake S3 refuses the same S3 client without Tessera: placeholder keys, or the issued key id with a wrong secret', async () => {
    const { issued } = await fakes.state();
    expect(issued).toHaveLength(1);
    const attempt = async (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => {
      const s3 = new S3Client({ region: 'us-east-1', endpoint: fakes.info.s3, forcePathStyle: true, credentials, maxAttempts: 1 });
      try {
        await s3.send(new GetObjectCommand({ Bucket: 'receipts', Key: '2025/06/r-1.json' }));
        return 'sent';
      } catch (error) {
        return `${(error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode} ${(error as Error).name}`;
      } finally {
        s3.destroy();
      }
    };
    expect(await attempt({ accessKeyId: 'placeholder', secretAccessKey: 'placeholder' })).toBe('403 InvalidAccessKeyId');
    expect(await attempt({ accessKeyId: issued[0].accessKeyId, secretAccessKey: 'not-the-issued-secret', sessionToken: issued[0].sessionToken })).toBe('403 SignatureDoesNotMatch');
    const refused = (await fakes.state()).s3.slice(-2);
    for (const request of refused) expect(request.verified).toBe(false);
  });

  it('the audit trail shows the attestation and the credential, without the keys', async () => {
    const attests = await auditEvents(cloud.url, key, 'edge.attest');
    const allowed = attests.filter((event) => event.outcome === 'allow' && event.clientWorkloadId === ids.client);
    expect(allowed.length).toBeGreaterThanOrEqual(1);
    expect(allowed[0]!.reason).toBeNull();
    expect(allowed[0]!.data).toMatchObject({ evidenceType: 'aws-ec2-instance-identity', trustProviderIds: [ids.trust] });

    const credentials = await auditEvents(cloud.url, key, 'edge.credential');
    const issuedFor = credentials.filter((event) => event.outcome === 'allow' && event.clientWorkloadId === ids.client);
    expect(issuedFor).toHaveLength(1); // the Get reused the cached keys
    expect(issuedFor[0]).toMatchObject({ serverWorkloadId: ids.s3, objectId: ids.policy });
    expect(issuedFor[0]!.data).toMatchObject({
      credentialKind: 'aws',
      policyId: ids.policy,
      trustProviderId: ids.trust,
      credentialProviderId: ids.sts,
      target: { scheme: 'http', host: '127.0.0.1', port: fakes.info.s3Port },
    });

    const { issued } = await fakes.state();
    const everything = JSON.stringify([...attests, ...credentials]);
    for (const secret of [issued[0].secretAccessKey, issued[0].sessionToken]) expect(everything).not.toContain(secret);
  });

  it('an identity document signed long ago (a replay) is refused at attestation; nothing reaches STS or S3', async () => {
    const before = await fakes.state();
    staleClient = await startClient(clientEnv(fakes.info.staleImds));
    const reply = await staleClient.call('s3Get', { bucket: 'receipts', key: '2025/06/r-1.json' });
    expect(reply.ok).toBe(false);
    // The refusal itself reaches the caller (not an outage): the S3 call never left the process.
    expect(reply.errors![0]).toMatchObject({ name: 'TesseraAccessDeniedError', code: 'evidence_expired' });

    const after = await fakes.state();
    expect(after.staleImdsRequests.some((r: { url: string; status: number }) => r.url.endsWith('/rsa2048') && r.status === 200)).toBe(true);
    expect(after.sts).toHaveLength(before.sts.length);
    expect(after.s3).toHaveLength(before.s3.length);

    const denied = await eventually(async () => {
      const events = await auditEvents(cloud.url, key, 'edge.attest');
      const found = events.filter((event) => event.outcome === 'deny');
      return found.length > 0 ? found : undefined;
    });
    for (const event of denied) {
      expect(event).toMatchObject({ reason: 'evidence_expired', clientWorkloadId: null });
      expect(event.data).toMatchObject({ evidenceType: 'aws-ec2-instance-identity' });
      // docs/cloud-aws.md promises the provider's reason here ("document was signed more than
      // maxAgeSeconds (600) ago"); the cloud records edge-api.md's generic message instead.
      expect(event.data.message).toMatch(/expired/i);
    }
  });
});
