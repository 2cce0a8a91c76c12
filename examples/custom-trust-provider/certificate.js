// The machine certificate format, shared by the enrolment service (issues certificates), the
// workload's collector (signs proofs) and the trust provider in the control plane (verifies both).
//
//   certificate = "mc1." + base64url(JSON payload) + "." + base64url(Ed25519 signature)
//     payload   = { kid, serial, machine, site, key, iat, exp }
//     signed by the enrolment service's key `kid`; `key` is the machine's own Ed25519 public
//     key (base64url, 32 bytes). A certificate is public: without the machine's private key it
//     proves nothing.
//
//   proof       = "mp1." + base64url(JSON payload) + "." + base64url(Ed25519 signature)
//     payload   = { aud, iat, jti }
//     signed by the machine's private key at every attestation, for one audience (the Tessera
//     control plane's public URL), valid for a minute.
//
// The prefix is part of what is signed, so a certificate signature can never pass as a proof
// signature or the other way round. Only Ed25519 is accepted: there is no "alg" to choose.
import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';

/** The provider's type and its evidence's type: the same name on both halves. */
export const MACHINE_CERTIFICATE_TYPE = 'machine-certificate';
export const CERTIFICATE_PREFIX = 'mc1';
export const PROOF_PREFIX = 'mp1';
export const MAX_CERTIFICATE_LENGTH = 4096;
export const MAX_PROOF_LENGTH = 1024;

const MACHINE_NAME = /^[a-z0-9][a-z0-9.-]{0,62}$/;
const KID = /^[A-Za-z0-9._-]{1,64}$/;
const SERIAL = /^[0-9a-f]{32}$/;
const X = /^[A-Za-z0-9_-]{43}$/;
const JTI = /^[A-Za-z0-9_-]{16,64}$/;

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

/** An Ed25519 public key from the base64url `x` of its JWK; anything else throws. */
export function ed25519PublicKey(x) {
  if (typeof x !== 'string' || !X.test(x)) throw new Error('not an Ed25519 public key (x must be 43 base64url characters)');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

/** An Ed25519 private key from PEM (PKCS#8); refuses every other key type. */
export function ed25519PrivateKey(pem) {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 private key, got ${key.asymmetricKeyType}`);
  return key;
}

function encodeSigned(prefix, payload, privateKey) {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('signing key must be Ed25519');
  const body = `${prefix}.${b64url(JSON.stringify(payload))}`;
  return `${body}.${b64url(sign(null, Buffer.from(body), privateKey))}`;
}

/**
 * Splits `prefix.payload.signature`, decodes the payload and checks the signature with
 * `publicKey`. Throws an Error whose message is safe to show (it never repeats the input).
 */
export function decodeSigned(prefix, text, maxLength, publicKeyFor) {
  if (typeof text !== 'string' || text.length === 0) throw new Error('missing');
  if (text.length > maxLength) throw new Error('too large');
  const parts = text.split('.');
  if (parts.length !== 3 || parts[0] !== prefix) throw new Error(`not a "${prefix}" value`);
  let payload;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new Error('payload is not base64url JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new Error('payload is not an object');
  const publicKey = publicKeyFor(payload);
  const signature = Buffer.from(parts[2], 'base64url');
  if (signature.length !== 64 || !verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, signature)) {
    throw new Error('signature verification failed');
  }
  return payload;
}

/** Checks the fields of a decoded certificate payload; returns a problem or `undefined`. */
export function certificateProblem(payload) {
  if (!KID.test(String(payload.kid))) return '"kid" is invalid';
  if (!SERIAL.test(String(payload.serial))) return '"serial" is invalid';
  if (!MACHINE_NAME.test(String(payload.machine))) return '"machine" is invalid';
  if (!MACHINE_NAME.test(String(payload.site))) return '"site" is invalid';
  if (!X.test(String(payload.key))) return '"key" is invalid';
  if (!Number.isSafeInteger(payload.iat) || !Number.isSafeInteger(payload.exp) || payload.exp <= payload.iat) return '"iat"/"exp" are invalid';
  return undefined;
}

/**
 * What the enrolment service does once it has checked a machine (out of band: a technician, a
 * TPM quote, a purchase order): signs the machine's public key with its own name and site.
 */
export function issueMachineCertificate({ enrolmentKey, kid, machine, site, machinePublicKey, lifetimeSeconds, now = new Date() }) {
  const iat = Math.floor(now.getTime() / 1000);
  const payload = {
    kid,
    serial: randomBytes(16).toString('hex'),
    machine,
    site,
    key: machinePublicKey.export({ format: 'jwk' }).x,
    iat,
    exp: iat + lifetimeSeconds,
  };
  const problem = certificateProblem(payload);
  if (problem !== undefined) throw new Error(`cannot issue: ${problem}`);
  return encodeSigned(CERTIFICATE_PREFIX, payload, enrolmentKey);
}

/** Reads a certificate's payload without checking it (for display). */
export function readCertificate(certificate) {
  const [, payload] = String(certificate).trim().split('.');
  return JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8'));
}

/** The machine's proof of possession for one attestation: fresh, for one audience. */
export function createProof({ machineKey, audience, now = new Date() }) {
  return encodeSigned(PROOF_PREFIX, { aud: audience, iat: Math.floor(now.getTime() / 1000), jti: randomBytes(18).toString('base64url') }, machineKey);
}

export const patterns = { MACHINE_NAME, KID, SERIAL, X, JTI };
