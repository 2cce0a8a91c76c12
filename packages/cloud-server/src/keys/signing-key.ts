import { createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import type { JWK } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import type { SigningKeyRecord } from '../store/types.js';

/**
 * One signing key: creating its stored record (private half sealed with the SecretBox) and
 * opening it again. The public half is always re-derived from the sealed private key, so a row
 * edited in the database cannot slip a foreign public key into the JWKS.
 *
 * Two algorithms: ES256 (P-256), which signs everything by default, and RS256 (RSA), only for
 * relying parties that accept nothing else (Microsoft Entra ID refuses ES256 client assertions).
 */

export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/**
 * RSA modulus of new RS256 keys. 2048 bits is the size every RS256 relying party accepts (it is
 * RFC 7518's minimum and what Entra ID, AWS and Google sign with themselves); these keys only
 * sign tokens that live at most an hour and are rotated with the rest. Stored keys of 3072 or
 * 4096 bits open too, so the size can grow later for new keys alone.
 */
export const RSA_MODULUS_BITS = 2048;
const MIN_RSA_MODULUS_BITS = 2048;

export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return typeof value === 'string' && (SIGNING_ALGORITHMS as readonly string[]).includes(value);
}

export interface OpenedSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public members only, with kid/alg/use: what the JWKS publishes. */
  publicJwk: JWK;
}

/** The AAD of a sealed private key: binds the envelope to its kid. */
export function signingKeyContext(kid: string): string {
  return `signing-key:${kid}`;
}

const generate = promisify(generateKeyPair);

/** A fresh private key; RSA is generated off the event loop (it takes tens of milliseconds). */
async function generatePrivateKey(alg: SigningAlgorithm): Promise<KeyObject> {
  if (alg === 'RS256') return (await generate('rsa', { modulusLength: RSA_MODULUS_BITS, publicExponent: 0x10001 })).privateKey;
  return (await generate('ec', { namedCurve: 'P-256' })).privateKey;
}

/** A fresh key of `alg` (default ES256) as a row for the signing_keys table (active: not retired). */
export async function createSigningKeyRecord(box: SecretBox, createdAt: Date, alg: SigningAlgorithm = 'ES256'): Promise<SigningKeyRecord> {
  if (!isSigningAlgorithm(alg)) throw new TypeError(`unsupported signing algorithm ${String(alg)}`);
  const privateKey = await generatePrivateKey(alg);
  const { kid, publicJwk } = await describePublicKey(createPublicKey(privateKey), alg);
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  return {
    kid,
    alg,
    publicJwk: { ...publicJwk },
    privateKey: box.seal(pkcs8, signingKeyContext(kid)),
    createdAt: createdAt.toISOString(),
    retiredAt: null,
    publishUntil: null,
  };
}

/** Opens a stored key; throws when it does not open, is not of its `alg`, or does not match its kid / public JWK. */
export async function openSigningKey(record: SigningKeyRecord, box: SecretBox): Promise<OpenedSigningKey> {
  const alg = record.alg;
  if (!isSigningAlgorithm(alg)) throw new Error(`signing key ${record.kid} has an unsupported algorithm`);
  const pkcs8 = Buffer.from(box.open(record.privateKey, signingKeyContext(record.kid)), 'base64');
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  checkKeyType(record.kid, alg, privateKey);
  const publicKey = createPublicKey(privateKey);
  const { kid, publicJwk } = await describePublicKey(publicKey, alg);
  const stored = record.publicJwk;
  const members = alg === 'ES256' ? (['kty', 'crv', 'x', 'y'] as const) : (['kty', 'n', 'e'] as const);
  if (kid !== record.kid || members.some((member) => stored[member] !== publicJwk[member])) {
    throw new Error(`signing key ${record.kid}: the stored public key does not match its private key`);
  }
  return { kid, alg, privateKey, publicKey, publicJwk };
}

function checkKeyType(kid: string, alg: SigningAlgorithm, privateKey: KeyObject): void {
  const details = privateKey.asymmetricKeyDetails;
  if (alg === 'ES256') {
    if (privateKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
      throw new Error(`signing key ${kid} is not a P-256 key`);
    }
    return;
  }
  if (privateKey.asymmetricKeyType !== 'rsa' || (details?.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) {
    throw new Error(`signing key ${kid} is not an RSA key of at least ${MIN_RSA_MODULUS_BITS} bits`);
  }
}

/** kid = RFC 7638 thumbprint; the JWK is built member by member so no private field can leak. */
async function describePublicKey(publicKey: KeyObject, alg: SigningAlgorithm): Promise<{ kid: string; publicJwk: JWK }> {
  const exported = await exportJWK(publicKey);
  let members: JWK;
  if (alg === 'ES256') {
    members = { kty: 'EC', crv: 'P-256', x: exported.x, y: exported.y };
    if (exported.kty !== 'EC' || exported.crv !== 'P-256' || !members.x || !members.y) {
      throw new Error('expected a P-256 public key');
    }
  } else {
    members = { kty: 'RSA', n: exported.n, e: exported.e };
    if (exported.kty !== 'RSA' || !members.n || !members.e) throw new Error('expected an RSA public key');
  }
  const kid = await calculateJwkThumbprint(members, 'sha256');
  return { kid, publicJwk: { ...members, kid, alg, use: 'sig' } };
}
