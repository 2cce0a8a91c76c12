/**
 * `aws-ec2-instance-identity` trust provider: verifies an EC2 instance identity document and
 * its RSA-2048 PKCS#7 signature (IMDS `/latest/dynamic/instance-identity/rsa2048`) against
 * AWS's regional public certificates held in the config, and vouches for the instance's
 * account, id, region, availability zone, image and type.
 *
 * Age: the document itself has no issue time (`pendingTime` is when the instance started), so
 * the age check uses the PKCS#7 `signingTime` signed attribute, which AWS sets when it signs.
 * AWS signs the document once, when the instance starts (signingTime is pendingTime plus a
 * few seconds on real documents), and IMDS serves the same signature afterwards: with the
 * default `maxAgeSeconds` (300) an instance can attest during its first five minutes only.
 *
 * Warning: the document is not bound to this cloud (no audience, no nonce). Whoever reads
 * IMDS on the instance (any local process, or an SSRF in an app on it) can replay the pair
 * until it is `maxAgeSeconds` old. Keep `maxAgeSeconds` short and always set `accountIds`.
 */
import type { TrustProvider, VerifiedIdentity } from '../../contracts.js';
import { defineTrustProvider } from '../../define.js';
import { TrustError } from '../../errors.js';
import {
  type AwsEc2InstanceIdentityConfig,
  awsEc2InstanceIdentityConfigSchema,
  parseAwsEc2InstanceIdentityConfig,
  validateAwsEc2InstanceIdentityConfig,
} from './config.js';
import {
  AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE,
  AWS_EC2_INSTANCE_IDENTITY_TYPE,
  MAX_DOCUMENT_BYTES,
  MAX_PKCS7_CHARS,
} from './evidence.js';
import { Pkcs7Refusal, verifyInstanceIdentityPkcs7 } from './pkcs7.js';

const refuse = (message: string) => new TrustError('evidence_invalid', message, { provider: AWS_EC2_INSTANCE_IDENTITY_TYPE });

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PEM_ARMOR = /-----(BEGIN|END) PKCS7-----/g;

/** The PKCS#7 as IMDS gives it (base64 in lines), optionally with PEM armor, as DER bytes. */
function decodePkcs7(text: string): Uint8Array {
  const compact = text.replace(PEM_ARMOR, '').replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64.test(compact)) throw refuse('pkcs7 is not base64');
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

function readEvidence(evidence: unknown): { document: string; pkcs7: string } {
  const { type, document, pkcs7 } = (typeof evidence === 'object' && evidence !== null ? evidence : {}) as Record<string, unknown>;
  if (type !== AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE || typeof document !== 'string' || typeof pkcs7 !== 'string') {
    throw refuse(`evidence must be { type: '${AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE}', document, pkcs7 }`);
  }
  if (document.length === 0 || Buffer.byteLength(document, 'utf8') > MAX_DOCUMENT_BYTES) throw refuse('document is empty or too large');
  if (pkcs7.length > MAX_PKCS7_CHARS) throw refuse('pkcs7 is too large');
  return { document, pkcs7 };
}

/** Formats of the document fields that become claims; anything else in them is refused. */
const FIELD_PATTERNS = {
  accountId: /^[0-9]{12}$/,
  instanceId: /^i-[0-9a-f]{8,32}$/,
  region: /^[a-z]{2}(-[a-z0-9]+){1,3}-[0-9]{1,2}$/,
  availabilityZone: /^[a-z0-9-]{1,64}$/,
  imageId: /^ami-[0-9a-f]{8,32}$/,
  instanceType: /^[a-z0-9][a-z0-9.-]{0,63}$/,
} as const;

type DocumentField = keyof typeof FIELD_PATTERNS;
const REQUIRED_FIELDS: readonly DocumentField[] = ['accountId', 'instanceId', 'region', 'imageId'];
const OPTIONAL_FIELDS: readonly DocumentField[] = ['availabilityZone', 'instanceType'];

/** The document's fields, checked; names the field, never its value. */
function readDocument(text: string): Record<DocumentField, string | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refuse('document is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw refuse('document is not a JSON object');
  const source = parsed as Record<string, unknown>;
  const fields = {} as Record<DocumentField, string | undefined>;
  for (const name of [...REQUIRED_FIELDS, ...OPTIONAL_FIELDS]) {
    const value = source[name];
    if (value === undefined || value === null) {
      if (REQUIRED_FIELDS.includes(name)) throw refuse(`document has no "${name}"`);
      fields[name] = undefined;
      continue;
    }
    if (typeof value !== 'string' || !FIELD_PATTERNS[name].test(value)) throw refuse(`document "${name}" is invalid`);
    fields[name] = value;
  }
  return fields;
}

export function createAwsEc2InstanceIdentityTrustProvider(): TrustProvider<AwsEc2InstanceIdentityConfig> & {
  readonly configSchema: typeof awsEc2InstanceIdentityConfigSchema;
} {
  return defineTrustProvider({
    specificationVersion: 'v1',
    type: AWS_EC2_INSTANCE_IDENTITY_TYPE,
    evidenceType: AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE,
    configSchema: awsEc2InstanceIdentityConfigSchema,
    validate: validateAwsEc2InstanceIdentityConfig,
    // An identity document names no issuer: asked about every such evidence.
    acceptedIssuers: () => null,
    async verify(evidence, rawConfig, ctx): Promise<VerifiedIdentity> {
      const parsed = parseAwsEc2InstanceIdentityConfig(rawConfig);
      if ('issues' in parsed) {
        throw new TrustError('invalid_config', parsed.issues.join('; '), { provider: AWS_EC2_INSTANCE_IDENTITY_TYPE });
      }
      const config = parsed.config;
      const { document, pkcs7 } = readEvidence(evidence);

      let verified: Awaited<ReturnType<typeof verifyInstanceIdentityPkcs7>>;
      try {
        verified = await verifyInstanceIdentityPkcs7(decodePkcs7(pkcs7), config.certificates);
      } catch (error) {
        if (error instanceof TrustError) throw error;
        if (error instanceof Pkcs7Refusal) throw refuse(error.message);
        // pkijs could not be loaded, or failed in a way that says nothing about the evidence.
        throw new TrustError('trust_provider_error', 'PKCS#7 verification is unavailable', { provider: AWS_EC2_INSTANCE_IDENTITY_TYPE });
      }
      // The signature covers the attached content; the document sent beside it must be it, byte for byte.
      if (!Buffer.from(document, 'utf8').equals(Buffer.from(verified.content))) throw refuse('document does not match the signed content');

      const nowMs = ctx.now().getTime();
      const signedAtMs = verified.signingTime.getTime();
      const toleranceMs = config.clockToleranceSeconds * 1000;
      if (signedAtMs > nowMs + toleranceMs) throw refuse('pkcs7 signingTime is in the future');
      if (nowMs - signedAtMs > config.maxAgeSeconds * 1000 + toleranceMs) {
        throw new TrustError('evidence_expired', `document was signed more than maxAgeSeconds (${config.maxAgeSeconds}) ago`, {
          provider: AWS_EC2_INSTANCE_IDENTITY_TYPE,
        });
      }

      const fields = readDocument(document);
      const accountId = fields.accountId!;
      const region = fields.region!;
      if (config.accountIds !== undefined && !config.accountIds.has(accountId)) throw refuse('"accountId" is not an allowed account');
      if (config.regions !== undefined && !config.regions.has(region)) throw refuse('"region" is not an allowed region');

      const claims: Record<string, string> = {
        'aws.accountId': accountId,
        'aws.instanceId': fields.instanceId!,
        'aws.region': region,
        'aws.imageId': fields.imageId!,
      };
      if (fields.availabilityZone !== undefined) claims['aws.availabilityZone'] = fields.availabilityZone;
      if (fields.instanceType !== undefined) claims['aws.instanceType'] = fields.instanceType;
      return {
        claims,
        expiresAt: new Date(signedAtMs + config.maxAgeSeconds * 1000),
        subject: fields.instanceId!,
      };
    },
  });
}

/** The built-in instance, for the catalog. */
export const awsEc2InstanceIdentityTrustProvider = /* @__PURE__ */ createAwsEc2InstanceIdentityTrustProvider();
