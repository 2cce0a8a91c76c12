/**
 * Verification of the PKCS#7 (CMS) SignedData that IMDS serves at
 * `/latest/dynamic/instance-identity/rsa2048`: the instance identity document as attached
 * content, signed with SHA-256 and RSA by AWS's regional RSA-2048 key, with signed attributes
 * `contentType`, `signingTime` and `messageDigest`, and no certificate inside.
 *
 * Pinned, whatever the message says:
 * - one signer, content type `data`, the content attached;
 * - digest SHA-256, signature RSA PKCS#1 v1.5 (`rsaEncryption` or `sha256WithRSAEncryption`);
 * - signed attributes present, each of `contentType` (= data), `messageDigest` and
 *   `signingTime` exactly once;
 * - the signer is looked up among the configured certificates only: certificates carried in
 *   the message are dropped, so a message cannot bring its own key.
 *
 * pkijs is loaded on first use: the catalog is imported at start by the SDK and the cloud.
 */
import type { Certificate, SignedData } from 'pkijs';
import { loadOptionalDependency } from '../../optional-dependency.js';

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_SIGNING_TIME = '1.2.840.113549.1.9.5';

/** ASN.1 universal tags of the two time types `signingTime` may use. */
const TAG_UTC_TIME = 23;
const TAG_GENERALIZED_TIME = 24;

/** Why a message was refused; the caller turns it into a TrustError. Never holds message bytes. */
export class Pkcs7Refusal extends Error {
  override readonly name = 'Pkcs7Refusal';
}

export interface VerifiedPkcs7 {
  /** The signed content: the instance identity document's bytes. */
  content: Uint8Array;
  /** The `signingTime` signed attribute. */
  signingTime: Date;
}

type Pkijs = typeof import('pkijs');

/** Loaded once, at the first verification; a failed load is retried at the next. */
function loadPkijs(): Promise<Pkijs> {
  return loadOptionalDependency<Pkijs>('pkijs', { feature: 'the aws-ec2-instance-identity trust provider', install: ['pkijs'] });
}

/** Parsed configured certificates, by DER (base64); bounded, parsing is cheap but not free. */
const parsedCertificates = new Map<string, Certificate>();
const MAX_PARSED_CERTIFICATES = 256;

function certificateFrom(pkijs: Pkijs, der: Uint8Array): Certificate {
  const key = Buffer.from(der).toString('base64');
  let certificate = parsedCertificates.get(key);
  if (certificate === undefined) {
    certificate = pkijs.Certificate.fromBER(der);
    if (parsedCertificates.size >= MAX_PARSED_CERTIFICATES) parsedCertificates.clear();
    parsedCertificates.set(key, certificate);
  }
  return certificate;
}

interface AsnTimeLike {
  idBlock: { tagClass: number; tagNumber: number };
  toDate(): Date;
}

function isAsnTime(value: unknown): value is AsnTimeLike {
  const block = (value as { idBlock?: { tagClass?: unknown; tagNumber?: unknown } } | null)?.idBlock;
  return (
    block?.tagClass === 1 &&
    (block.tagNumber === TAG_UTC_TIME || block.tagNumber === TAG_GENERALIZED_TIME) &&
    typeof (value as { toDate?: unknown }).toDate === 'function'
  );
}

/** The one value of the one signed attribute of `type`; refuses absent or repeated ones. */
function singleAttributeValue(signedData: SignedData, type: string, name: string): unknown {
  const attributes = signedData.signerInfos[0]?.signedAttrs?.attributes.filter((attribute) => attribute.type === type) ?? [];
  if (attributes.length !== 1 || attributes[0]!.values.length !== 1) throw new Pkcs7Refusal(`pkcs7 must carry exactly one ${name} signed attribute`);
  return attributes[0]!.values[0];
}

function parseSignedData(pkijs: Pkijs, der: Uint8Array): SignedData {
  let signedData: SignedData;
  try {
    const contentInfo = pkijs.ContentInfo.fromBER(der);
    if (contentInfo.contentType !== OID_SIGNED_DATA) throw new Pkcs7Refusal('pkcs7 is not a CMS SignedData');
    signedData = new pkijs.SignedData({ schema: contentInfo.content });
  } catch (error) {
    if (error instanceof Pkcs7Refusal) throw error;
    // pkijs's parse errors may quote schema paths, never secrets, but say nothing useful either.
    throw new Pkcs7Refusal('pkcs7 is not a CMS SignedData');
  }
  return signedData;
}

/** Checks the structure and the pinned algorithms; returns the attached content. */
function checkShape(signedData: SignedData): Uint8Array {
  if (signedData.signerInfos.length !== 1) throw new Pkcs7Refusal('pkcs7 must have exactly one signer');
  const signer = signedData.signerInfos[0]!;
  const { encapContentInfo } = signedData;
  if (encapContentInfo.eContentType !== OID_DATA || encapContentInfo.eContent === undefined) {
    throw new Pkcs7Refusal('pkcs7 must carry the document as attached data');
  }
  if (signer.digestAlgorithm.algorithmId !== OID_SHA256) throw new Pkcs7Refusal('pkcs7 must use the SHA-256 digest');
  const signatureAlgorithm = signer.signatureAlgorithm.algorithmId;
  if (signatureAlgorithm !== OID_RSA_ENCRYPTION && signatureAlgorithm !== OID_SHA256_WITH_RSA) {
    throw new Pkcs7Refusal('pkcs7 must be signed with RSA PKCS#1 v1.5');
  }
  if (signer.signedAttrs === undefined) throw new Pkcs7Refusal('pkcs7 has no signed attributes (no signingTime)');
  return new Uint8Array(encapContentInfo.eContent.getValue());
}

/**
 * Verifies `der` against `certificates` (DER); returns the signed content and signing time,
 * or throws `Pkcs7Refusal`.
 */
export async function verifyInstanceIdentityPkcs7(der: Uint8Array, certificates: readonly Uint8Array[]): Promise<VerifiedPkcs7> {
  const pkijs = await loadPkijs();
  const signedData = parseSignedData(pkijs, der);
  const content = checkShape(signedData);

  const contentType = singleAttributeValue(signedData, OID_CONTENT_TYPE, 'contentType');
  const contentTypeOid = (contentType as { getValue?: () => unknown } | null)?.getValue;
  if (typeof contentTypeOid !== 'function' || contentTypeOid.call(contentType) !== OID_DATA) {
    throw new Pkcs7Refusal('pkcs7 contentType attribute must be data');
  }
  singleAttributeValue(signedData, OID_MESSAGE_DIGEST, 'messageDigest');
  const signingTimeValue = singleAttributeValue(signedData, OID_SIGNING_TIME, 'signingTime');
  if (!isAsnTime(signingTimeValue)) throw new Pkcs7Refusal('pkcs7 signingTime attribute is not a time');
  const signingTime = signingTimeValue.toDate();
  if (!Number.isFinite(signingTime.getTime())) throw new Pkcs7Refusal('pkcs7 signingTime attribute is not a time');

  // Only the configured keys: whatever the message carries is dropped, CRLs included.
  signedData.certificates = certificates.map((certificate) => certificateFrom(pkijs, certificate));
  delete signedData.crls;
  let verified = false;
  try {
    const result = await signedData.verify({ signer: 0, checkChain: false, extendedMode: true });
    verified = result.signatureVerified === true;
  } catch (error) {
    // Code 3: the signer's issuer and serial number match none of the configured certificates.
    if ((error as { code?: unknown }).code === 3) throw new Pkcs7Refusal('pkcs7 is not signed by any of the configured certificates');
    throw new Pkcs7Refusal('pkcs7 signature verification failed');
  }
  if (!verified) throw new Pkcs7Refusal('pkcs7 signature verification failed');
  return { content, signingTime };
}
