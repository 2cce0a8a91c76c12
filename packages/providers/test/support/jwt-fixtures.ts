/**
 * Test support: keys, JWKS documents and tokens, including the malformed and malicious
 * ones an attacker would send. `signRaw` signs any header jose's signer would refuse to
 * produce (`crit`, `jku` ...), so the verifier, not the signer, is what gets tested.
 */
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { expect } from 'vitest';
import { TrustError } from '../../src/errors.js';

/** The cloud's audience and the verifier's clock in every trust test. */
export const AUDIENCE = 'https://tessera.test';
export const NOW = new Date('2025-06-01T12:00:00Z');
export const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);

export interface TestKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /** SPKI PEM of the public key: the HMAC secret of the key-confusion attack. */
  publicPem: string;
}

export async function createTestKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { kid, alg, privateKey, publicKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export function jwksOf(...keys: TestKey[]): { keys: Array<JWK & { kty: string }> } {
  return { keys: keys.map((key) => ({ ...key.publicJwk, kty: String(key.publicJwk.kty) })) };
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs `header`.`payload` as given, with RS256 or ES256, whatever the header says. */
export async function signRaw(header: Record<string, unknown>, payload: Record<string, unknown>, key: TestKey): Promise<string> {
  const input = `${encode(header)}.${encode(payload)}`;
  const algorithm = key.alg === 'RS256' ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash: 'SHA-256' };
  const signature = await crypto.subtle.sign(algorithm, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/** A token signed normally: header `{alg, kid}` plus `extraHeader`. */
export async function signToken(payload: Record<string, unknown>, key: TestKey, extraHeader: Record<string, unknown> = {}): Promise<string> {
  return signRaw({ alg: key.alg, kid: key.kid, typ: 'JWT', ...extraHeader }, payload, key);
}

/** An unsigned token: `alg: none`, empty signature. */
export function unsignedToken(payload: Record<string, unknown>, kid?: string): string {
  return `${encode({ alg: 'none', typ: 'JWT', ...(kid === undefined ? {} : { kid }) })}.${encode(payload)}.`;
}

/** The key-confusion attack: HS256 with the issuer's public key bytes as the HMAC secret. */
export async function hmacWithPublicKey(payload: Record<string, unknown>, key: TestKey): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' }).sign(new TextEncoder().encode(key.publicPem));
}

/** RS384 with the issuer's own RSA key: a real signature under an algorithm not allowed. */
export async function signRs384(payload: Record<string, unknown>, key: TestKey): Promise<string> {
  const input = `${encode({ alg: 'RS384', kid: key.kid, typ: 'JWT' })}.${encode(payload)}`;
  const exported = await crypto.subtle.exportKey('pkcs8', key.privateKey);
  const rs384 = await crypto.subtle.importKey('pkcs8', exported, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }, false, ['sign']);
  const signature = await crypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, rs384, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/** String claim values of a token's payload, except those listed (the configured iss/aud). */
function claimValues(token: string, except: readonly string[]): string[] {
  const [, payload = ''] = token.split('.');
  let decoded: Record<string, unknown> = {};
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return [];
  }
  return Object.values(decoded).filter((v): v is string => typeof v === 'string' && v.length >= 6 && !except.includes(v));
}

export interface ExpectedRefusal {
  code: TrustError['code'];
  /** A part of the message, after the provider prefix. */
  message: string;
  /** The refused token: it, its segments and its claim values must not appear in the message. */
  token?: string;
  /** Provider prefix expected in the message, e.g. `oidc`. */
  provider?: string;
  /** Claim values that legitimately appear (the configured issuer shows in a JWKS URL). */
  allowedValues?: readonly string[];
}

/** Awaits a rejection and checks it is a `TrustError` that says what failed and leaks nothing. */
export async function expectRefused(promise: Promise<unknown>, expected: ExpectedRefusal): Promise<TrustError> {
  const error = await promise.then(
    () => expect.fail(`expected a refusal with ${expected.code}: ${expected.message}`),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TrustError);
  const trustError = error as TrustError;
  expect({ code: trustError.code, provider: trustError.provider }).toEqual({ code: expected.code, provider: expected.provider });
  expect(trustError.message).toContain(expected.message);
  if (expected.provider !== undefined) expect(trustError.message.startsWith(`trust(${expected.provider}): `)).toBe(true);
  if (expected.token !== undefined) {
    expect(trustError.message).not.toContain(expected.token);
    for (const segment of expected.token.split('.')) if (segment.length >= 8) expect(trustError.message).not.toContain(segment);
    for (const value of claimValues(expected.token, expected.allowedValues ?? [])) expect(trustError.message).not.toContain(value);
    expect(String(trustError.stack)).not.toContain(expected.token);
  }
  return trustError;
}
