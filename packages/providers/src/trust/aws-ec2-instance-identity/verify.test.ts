import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { ProviderRegistry } from '../../registry.js';
import { validateProviderConfig } from '../../validate-config.js';
import { AUDIENCE, expectRefused, NOW } from '../../../test/support/jwt-fixtures.js';
import {
  createIidSigner,
  formatIdentityDocument,
  type IidSigner,
  type IidSignOptions,
  sampleIdentityDocument,
  startFakeImds,
  type FakeImds,
} from '../../../test/support/fake-ec2-imds.js';
import {
  type AwsEc2InstanceIdentityConfig,
  awsEc2InstanceIdentityTrustProvider as provider,
  createAwsEc2InstanceIdentityCollector,
} from './index.js';

const TYPE = 'aws-ec2-instance-identity';
const ctx: VerifyContext = { audience: AUDIENCE, now: () => NOW, fetch: () => Promise.reject(new Error('no network')) };
const SIGNED_AT = new Date(NOW.getTime() - 10_000);

let aws: IidSigner;
let otherRegion: IidSigner;
let forger: IidSigner;
let config: AwsEc2InstanceIdentityConfig;

beforeAll(() => {
  aws = createIidSigner();
  otherRegion = createIidSigner();
  forger = createIidSigner({ organization: 'Not Amazon' });
  config = { certificates: [aws.certificatePem], accountIds: ['123456789012'] };
});

const documentOf = (overrides: Record<string, unknown> = {}) => formatIdentityDocument(sampleIdentityDocument(overrides));

function evidenceFor(document: string, signer = aws, options: Partial<IidSignOptions> = {}) {
  return { type: TYPE, document, pkcs7: signer.sign(document, { signingTime: SIGNED_AT, ...options }) };
}

const verify = (evidence: unknown, withConfig: AwsEc2InstanceIdentityConfig = config, at: VerifyContext = ctx) =>
  provider.verify(evidence as never, withConfig, at);

const expected = {
  claims: {
    'aws.accountId': '123456789012',
    'aws.instanceId': 'i-0123456789abcdef0',
    'aws.region': 'eu-west-1',
    'aws.imageId': 'ami-0abcdef1234567890',
    'aws.availabilityZone': 'eu-west-1b',
    'aws.instanceType': 'm5.large',
  },
  expiresAt: new Date(SIGNED_AT.getTime() + 300_000),
  subject: 'i-0123456789abcdef0',
};

describe('aws-ec2-instance-identity trust provider', () => {
  let imds: FakeImds;
  beforeAll(async () => {
    imds = await startFakeImds({ signer: aws, signingTime: SIGNED_AT });
  });
  afterAll(() => imds.close());

  it('vouches for the account, instance, region, image, zone and type of a document collected from IMDS', async () => {
    const evidence = await createAwsEc2InstanceIdentityCollector({ endpoint: imds.endpoint }).collect({ audience: AUDIENCE });
    await expect(verify(evidence)).resolves.toEqual(expected);
  });

  it('accepts the DER form, the base64 in one line or in PEM armor, and several region certificates', async () => {
    const document = documentOf();
    const der = evidenceFor(document, aws, { encoding: 'der' });
    await expect(verify(der)).resolves.toEqual(expected);
    await expect(verify({ ...der, pkcs7: der.pkcs7.replace(/\s+/g, '') })).resolves.toEqual(expected);
    await expect(verify({ ...der, pkcs7: `-----BEGIN PKCS7-----\n${der.pkcs7}\n-----END PKCS7-----\n` })).resolves.toEqual(expected);
    const both = { certificates: [otherRegion.certificatePem, aws.certificatePem] };
    await expect(verify(evidenceFor(document), both)).resolves.toEqual(expected);
    await expect(verify(evidenceFor(document, otherRegion), both)).resolves.toMatchObject({ subject: 'i-0123456789abcdef0' });
  });

  it('leaves out the zone and type when the document has none', async () => {
    const result = await verify(evidenceFor(documentOf({ availabilityZone: undefined, instanceType: null })));
    expect(Object.keys(result.claims).sort()).toEqual(['aws.accountId', 'aws.imageId', 'aws.instanceId', 'aws.region']);
  });

  describe('refuses a signature by a key that is not configured', () => {
    it('another certificate, even one the message carries itself', async () => {
      for (const evidence of [evidenceFor(documentOf(), forger), evidenceFor(documentOf(), forger, { includeCertificate: true })]) {
        await expectRefused(verify(evidence), { code: 'evidence_invalid', message: 'not signed by any of the configured certificates', provider: TYPE });
      }
      await expectRefused(verify(evidenceFor(documentOf()), { certificates: [otherRegion.certificatePem] }), {
        code: 'evidence_invalid',
        message: 'not signed by any of the configured certificates',
        provider: TYPE,
      });
    });

    it("a forger's key behind AWS's issuer name and serial number", async () => {
      const spoof = createIidSigner({ serialNumber: Buffer.from(new X509Certificate(aws.certificatePem).serialNumber, 'hex') });
      for (const includeCertificate of [false, true]) {
        await expectRefused(verify(evidenceFor(documentOf(), spoof, { includeCertificate })), {
          code: 'evidence_invalid',
          message: 'pkcs7 signature verification failed',
          provider: TYPE,
        });
      }
    });
  });

  describe('refuses a tampered document or signature', () => {
    it('a document that is not the signed content', async () => {
      const evidence = evidenceFor(documentOf());
      for (const document of [documentOf({ accountId: '999999999999' }), `${evidence.document}\n`, evidence.document.replace('m5.large', 'm5.xlarge')]) {
        const error = await expectRefused(verify({ ...evidence, document }), { code: 'evidence_invalid', message: 'document does not match the signed content', provider: TYPE });
        expect(error.message).not.toContain('999999999999');
      }
    });

    it('a signature over other bytes than the attached content', async () => {
      const evidence = evidenceFor(documentOf(), aws, { signedContent: documentOf({ accountId: '999999999999' }) });
      await expectRefused(verify(evidence), { code: 'evidence_invalid', message: 'pkcs7 signature verification failed', provider: TYPE });
    });

    it('a flipped bit in the signature', async () => {
      const evidence = evidenceFor(documentOf(), aws, { encoding: 'der' });
      const der = Buffer.from(evidence.pkcs7.replace(/\s+/g, ''), 'base64');
      der[der.length - 10]! ^= 0x01; // inside the RSA signature, the last field
      await expectRefused(verify({ ...evidence, pkcs7: der.toString('base64') }), { code: 'evidence_invalid', message: 'pkcs7 signature verification failed', provider: TYPE });
    });
  });

  describe('age, from the signingTime signed attribute', () => {
    const signedSecondsAgo = (seconds: number) => evidenceFor(documentOf(), aws, { signingTime: new Date(NOW.getTime() - seconds * 1000) });

    it('accepts up to maxAgeSeconds plus the clock tolerance, and refuses older', async () => {
      await expect(verify(signedSecondsAgo(300 + 30))).resolves.toMatchObject({ subject: 'i-0123456789abcdef0' });
      await expectRefused(verify(signedSecondsAgo(300 + 31)), { code: 'evidence_expired', message: 'document was signed more than maxAgeSeconds (300) ago', provider: TYPE });
      const hour = { ...config, maxAgeSeconds: 3600, clockToleranceSeconds: 0 };
      await expect(verify(signedSecondsAgo(3600), hour)).resolves.toMatchObject({ expiresAt: NOW });
      await expectRefused(verify(signedSecondsAgo(3601), hour), { code: 'evidence_expired', message: 'maxAgeSeconds (3600)', provider: TYPE });
    });

    it('refuses a signingTime in the future, beyond the tolerance', async () => {
      await expect(verify(signedSecondsAgo(-30))).resolves.toBeDefined();
      await expectRefused(verify(signedSecondsAgo(-31)), { code: 'evidence_invalid', message: 'signingTime is in the future', provider: TYPE });
    });

    it('refuses a signature without signingTime or without signed attributes', async () => {
      await expectRefused(verify(evidenceFor(documentOf(), aws, { signingTime: null })), {
        code: 'evidence_invalid',
        message: 'pkcs7 must carry exactly one signingTime signed attribute',
        provider: TYPE,
      });
      await expectRefused(verify(evidenceFor(documentOf(), aws, { withoutSignedAttributes: true })), {
        code: 'evidence_invalid',
        message: 'pkcs7 has no signed attributes',
        provider: TYPE,
      });
    });
  });

  it('refuses SHA-1, whatever the key, and a signed contentType other than data', async () => {
    await expectRefused(verify(evidenceFor(documentOf(), aws, { hash: 'sha1' })), { code: 'evidence_invalid', message: 'pkcs7 must use the SHA-256 digest', provider: TYPE });
    await expectRefused(verify(evidenceFor(documentOf(), aws, { contentTypeAttribute: '1.2.840.113549.1.7.2' })), {
      code: 'evidence_invalid',
      message: 'pkcs7 contentType attribute must be data',
      provider: TYPE,
    });
  });

  it('refuses an account or a region outside the allow-lists', async () => {
    const error = await expectRefused(verify(evidenceFor(documentOf({ accountId: '210987654321' }))), {
      code: 'evidence_invalid',
      message: '"accountId" is not an allowed account',
      provider: TYPE,
    });
    expect(error.message).not.toContain('210987654321');
    await expectRefused(verify(evidenceFor(documentOf()), { ...config, regions: ['us-east-1', 'us-west-2'] }), {
      code: 'evidence_invalid',
      message: '"region" is not an allowed region',
      provider: TYPE,
    });
    await expect(verify(evidenceFor(documentOf()), { ...config, regions: ['eu-west-1'] })).resolves.toEqual(expected);
    // Without accountIds any account's instance is accepted: the warning in the docs.
    await expect(verify(evidenceFor(documentOf({ accountId: '210987654321' })), { certificates: [aws.certificatePem] })).resolves.toMatchObject({
      claims: { 'aws.accountId': '210987654321' },
    });
  });

  it('refuses malformed evidence, naming the part only', async () => {
    const good = evidenceFor(documentOf());
    for (const evidence of [{ type: 'jwt', token: 'a.b.c' }, { type: TYPE, document: good.document }, { type: TYPE, document: 7, pkcs7: good.pkcs7 }, null, 'text']) {
      await expectRefused(verify(evidence), { code: 'evidence_invalid', message: `evidence must be { type: '${TYPE}', document, pkcs7 }`, provider: TYPE });
    }
    await expectRefused(verify({ ...good, document: '' }), { code: 'evidence_invalid', message: 'document is empty or too large', provider: TYPE });
    await expectRefused(verify({ ...good, document: 'x'.repeat(16 * 1024 + 1) }), { code: 'evidence_invalid', message: 'document is empty or too large', provider: TYPE });
    await expectRefused(verify({ ...good, pkcs7: 'A'.repeat(16 * 1024 + 4) }), { code: 'evidence_invalid', message: 'pkcs7 is too large', provider: TYPE });
    for (const pkcs7 of ['', 'not base64!', 'QUJD=A==']) {
      await expectRefused(verify({ ...good, pkcs7 }), { code: 'evidence_invalid', message: 'pkcs7 is not base64', provider: TYPE });
    }
    for (const pkcs7 of [Buffer.from('just some bytes').toString('base64'), Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]).toString('base64')]) {
      await expectRefused(verify({ ...good, pkcs7 }), { code: 'evidence_invalid', message: 'pkcs7 is not a CMS SignedData', provider: TYPE });
    }
  });

  it('refuses a signed document that is not a usable identity document', async () => {
    const cases: Array<[string, string]> = [
      ['not json', 'document is not JSON'],
      ['["array"]', 'document is not a JSON object'],
      [documentOf({ accountId: undefined }), 'document has no "accountId"'],
      [documentOf({ instanceId: 'i-<script>' }), 'document "instanceId" is invalid'],
      [documentOf({ region: 12 }), 'document "region" is invalid'],
      [documentOf({ imageId: null }), 'document has no "imageId"'],
    ];
    for (const [document, message] of cases) {
      const error = await expectRefused(verify(evidenceFor(document)), { code: 'evidence_invalid', message, provider: TYPE });
      expect(error.message).not.toContain('<script>');
    }
  });

  it('fails closed on an unvalidated config', async () => {
    await expectRefused(verify(evidenceFor(documentOf()), { certificates: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'] }), {
      code: 'invalid_config',
      message: 'certificates[0] is not a valid PEM certificate',
      provider: TYPE,
    });
  });

  it('registers like any trust provider', () => {
    expect(new ProviderRegistry().registerTrustProvider(provider).listTrustProviders({ evidenceType: TYPE })).toEqual([TYPE]);
  });
});

describe('aws-ec2-instance-identity config', () => {
  const problems = (value: unknown) => {
    const result = validateProviderConfig(provider, value);
    return result.ok ? [] : result.errors.map((error) => `${error.path} ${error.message}`.trim());
  };

  it('fills the defaults and keeps the rest', () => {
    expect(validateProviderConfig(provider, { certificates: [aws.certificatePem], regions: ['eu-west-1', 'us-gov-west-1', 'cn-north-1'] })).toEqual({
      ok: true,
      value: { certificates: [aws.certificatePem], regions: ['eu-west-1', 'us-gov-west-1', 'cn-north-1'], maxAgeSeconds: 300, clockToleranceSeconds: 30 },
    });
  });

  it('needs one certificate at least, each one PEM certificate with an RSA key of 2048 bits or more', () => {
    expect(problems({})).toEqual(['/certificates is required']);
    expect(problems({ certificates: [] })).toHaveLength(1);
    expect(problems({ certificates: ['hello'] })).toEqual(['certificates[0] must be exactly one PEM certificate']);
    expect(problems({ certificates: [`${aws.certificatePem}${forger.certificatePem}`] })).toEqual(['certificates[0] must be exactly one PEM certificate']);
    expect(problems({ certificates: [aws.certificatePem, aws.certificatePem.replace(/[A-Za-z]{8}\n/, '\n')] })).toEqual([
      'certificates[1] is not a valid PEM certificate',
    ]);
    expect(problems({ certificates: [createIidSigner({ modulusLength: 1024 }).certificatePem] })).toEqual([
      'certificates[0] must hold an RSA key of at least 2048 bits (use the RSA-2048 certificate of the region)',
    ]);
  });

  it('checks account ids, regions and the ranges', () => {
    const base = { certificates: [aws.certificatePem] };
    expect(problems({ ...base, accountIds: ['12345678901'] })).toHaveLength(1);
    expect(problems({ ...base, accountIds: [] })).toHaveLength(1);
    expect(problems({ ...base, regions: ['EU-WEST-1'] })).toHaveLength(1);
    expect(problems({ ...base, maxAgeSeconds: 59 })).toEqual(['/maxAgeSeconds must be >= 60']);
    expect(problems({ ...base, maxAgeSeconds: 31_622_401 })).toHaveLength(1);
    expect(problems({ ...base, clockToleranceSeconds: 301 })).toHaveLength(1);
    expect(problems({ ...base, audience: 'x' })).toEqual(['/audience is not a known property']);
  });
});
