import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import type { JWK } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import type { SigningKeyRecord } from '../store/types.js';

/**
 * One ES256 signing key: creating its stored record (private half sealed with the SecretBox)
 * and opening it again. The public half is always re-derived from the sealed private key, so
 * a row edited in the database cannot slip a foreign public key into the JWKS.
 */

export interface OpenedSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public members only, with kid/alg/use: what the JWKS publishes. */
  publicJwk: JWK;
}

/** The AAD of a sealed private key: binds the envelope to its kid. */
export function signingKeyContext(kid: string): string {
  return `signing-key:${kid}`;
}

/** A fresh P-256 key as a row for the signing_keys table (active: not retired). */
export async function createSigningKeyRecord(box: SecretBox, createdAt: Date): Promise<SigningKeyRecord> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kid, publicJwk } = await describePublicKey(createPublicKey(privateKey));
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  return {
    kid,
    alg: 'ES256',
    publicJwk: { ...publicJwk },
    privateKey: box.seal(pkcs8, signingKeyContext(kid)),
    createdAt: createdAt.toISOString(),
    retiredAt: null,
    publishUntil: null,
  };
}

/** Opens a stored key; throws when it does not open or does not match its kid / public JWK. */
export async function openSigningKey(record: SigningKeyRecord, box: SecretBox): Promise<OpenedSigningKey> {
  const pkcs8 = Buffer.from(box.open(record.privateKey, signingKeyContext(record.kid)), 'base64');
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`signing key ${record.kid} is not a P-256 key`);
  }
  const publicKey = createPublicKey(privateKey);
  const { kid, publicJwk } = await describePublicKey(publicKey);
  const stored = record.publicJwk;
  if (kid !== record.kid || stored['x'] !== publicJwk.x || stored['y'] !== publicJwk.y) {
    throw new Error(`signing key ${record.kid}: the stored public key does not match its private key`);
  }
  return { kid, privateKey, publicKey, publicJwk };
}

/** kid = RFC 7638 thumbprint; the JWK is built member by member so no private field can leak. */
async function describePublicKey(publicKey: KeyObject): Promise<{ kid: string; publicJwk: JWK }> {
  const exported = await exportJWK(publicKey);
  const members = { kty: 'EC', crv: 'P-256', x: exported.x, y: exported.y };
  if (exported.kty !== 'EC' || exported.crv !== 'P-256' || !members.x || !members.y) {
    throw new Error('expected a P-256 public key');
  }
  const kid = await calculateJwkThumbprint(members, 'sha256');
  return { kid, publicJwk: { ...members, kid, alg: 'ES256', use: 'sig' } };
}
