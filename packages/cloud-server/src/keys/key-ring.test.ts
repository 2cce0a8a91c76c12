import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { SecretBox } from '../crypto/secret-box.js';
import type { Store } from '../store/types.js';
import { KeyRing } from './key-ring.js';
import type { KeyRingStore, SignOptions } from './key-ring.js';
import { MemorySigningKeyStore, TestClock } from './memory-store.test-helper.js';
import { createSigningKeyRecord, signingKeyContext } from './signing-key.js';

const issuer = 'https://cloud.tessera.test';
const tokenOptions: SignOptions = { issuer, audience: 'tessera-edge', subject: 'workload-1', lifetimeSeconds: 300, typ: 'tessera-edge+jwt' };

// Compile-time: a real Store is accepted where the key ring asks for its narrow store.
export function acceptsRealStore(store: Store): KeyRingStore {
  return store;
}

function setup(overrides: { maxTokenLifetimeSeconds?: number; cacheTtlMs?: number } = {}) {
  const store = new MemorySigningKeyStore();
  const box = new SecretBox(randomBytes(32));
  const clock = new TestClock();
  const newRing = () => new KeyRing({ store, box, now: clock.now, ...overrides });
  return { store, box, clock, ring: newRing(), newRing };
}

async function verify(token: string, jwks: JSONWebKeySet, clock: TestClock) {
  return jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: ['ES256'],
    issuer,
    audience: 'tessera-edge',
    currentDate: clock.now(),
  });
}

describe('KeyRing', () => {
  it('creates exactly one key, even when callers and replicas race', async () => {
    const { store, ring, newRing } = setup();
    const other = newRing();
    const kids = await Promise.all([ring.ensureActiveKey(), ring.ensureActiveKey(), other.ensureActiveKey(), ring.sign({}, tokenOptions)]);
    expect(store.signingKeys.size).toBe(1);
    const [record] = [...store.signingKeys.values()];
    expect(kids.slice(0, 3)).toEqual([record!.kid, record!.kid, record!.kid]);
    expect(record).toMatchObject({ alg: 'ES256', retiredAt: null, publishUntil: null });
    expect(record!.kid).toMatch(/^[A-Za-z0-9_-]{43}$/); // base64url SHA-256 thumbprint
    expect(await ring.ensureActiveKey()).toBe(record!.kid);
    expect(store.signingKeys.size).toBe(1);
  });

  it('signs JWTs that verify against its JWKS', async () => {
    const { ring, clock } = setup();
    const token = await ring.sign({ scope: 'edge' }, tokenOptions);
    const { payload, protectedHeader } = await verify(token, await ring.jwks(), clock);
    const kid = await ring.ensureActiveKey();
    expect(protectedHeader).toEqual({ alg: 'ES256', kid, typ: 'tessera-edge+jwt' });
    const iat = Math.floor(clock.now().getTime() / 1000);
    expect(payload).toMatchObject({ scope: 'edge', iss: issuer, sub: 'workload-1', aud: 'tessera-edge', iat, exp: iat + 300 });
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const second = await verify(await ring.sign({}, tokenOptions), await ring.jwks(), clock);
    expect(second.payload.jti).not.toBe(payload.jti);
  });

  it('omits typ when none is given', async () => {
    const { ring } = setup();
    const token = await ring.sign({}, { ...tokenOptions, typ: undefined });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: await ring.ensureActiveKey() });
  });

  it('publishes public members only, never d', async () => {
    const { ring, store } = setup();
    await ring.ensureActiveKey();
    await ring.rotate();
    const jwks = await ring.jwks();
    expect(jwks.keys).toHaveLength(2);
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
    for (const record of store.signingKeys.values()) expect(record.publicJwk).not.toHaveProperty('d');
    expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
  });

  it('stores the private key sealed, never as plaintext PKCS#8 or PEM', async () => {
    const { ring, store, box } = setup();
    const kid = await ring.ensureActiveKey();
    const record = store.signingKeys.get(kid)!;
    expect(record.privateKey).toMatch(/^tsb1\./);
    expect(record.privateKey).not.toMatch(/BEGIN|PRIVATE KEY|MIG/);
    const pkcs8 = box.open(record.privateKey, signingKeyContext(kid));
    expect(pkcs8).toMatch(/^MIG/); // DER PKCS#8, base64
    expect(record.privateKey).not.toContain(pkcs8);
    expect(record.privateKey).not.toContain(Buffer.from(pkcs8, 'base64').toString('base64url'));
  });

  it.each([0, -1, 1.5, 3601, Number.NaN])('refuses a lifetime of %s seconds', async (lifetimeSeconds) => {
    const { ring, store } = setup();
    await expect(ring.sign({}, { ...tokenOptions, lifetimeSeconds })).rejects.toThrow(/lifetime/);
    expect(store.signingKeys.size).toBe(0);
  });

  it('accepts the maximum lifetime and a custom maximum', async () => {
    const { ring } = setup({ maxTokenLifetimeSeconds: 600 });
    await expect(ring.sign({}, { ...tokenOptions, lifetimeSeconds: 600 })).resolves.toMatch(/^ey/);
    await expect(ring.sign({}, { ...tokenOptions, lifetimeSeconds: 601 })).rejects.toThrow(/1\.\.600/);
  });

  it('refuses registered claims in the payload', async () => {
    const { ring } = setup();
    await expect(ring.sign({ exp: 1, sub: 'x' }, tokenOptions)).rejects.toThrow(/sub, exp/);
  });

  it('rotates: new kid for new tokens, old tokens verify until publishUntil, then the old key is dropped and pruned', async () => {
    const { ring, store, clock } = setup({ maxTokenLifetimeSeconds: 3600, cacheTtlMs: 30_000 });
    const oldKid = await ring.ensureActiveKey();
    const oldToken = await ring.sign({}, { ...tokenOptions, lifetimeSeconds: 3600 });

    clock.advanceSeconds(60);
    const rotated = await ring.rotate();
    expect(rotated.retiredKid).toBe(oldKid);
    expect(rotated.kid).not.toBe(oldKid);
    const retired = store.signingKeys.get(oldKid)!;
    expect(retired.retiredAt).toBe(clock.now().toISOString());
    // Longest token lifetime plus one cache TTL, for replicas still signing with the old key.
    expect(Date.parse(retired.publishUntil!)).toBe(clock.now().getTime() + 3600_000 + 30_000);

    const newToken = await ring.sign({}, tokenOptions);
    expect(decodeProtectedHeader(newToken).kid).toBe(rotated.kid);
    await expect(verify(oldToken, await ring.jwks(), clock)).resolves.toBeDefined();
    expect((await ring.getPublicKey(oldKid))?.asymmetricKeyType).toBe('ec');

    clock.advanceSeconds(3600 + 30);
    const jwks = await ring.jwks();
    expect(jwks.keys.map((key) => key.kid)).toEqual([rotated.kid]);
    expect(await ring.getPublicKey(oldKid)).toBeUndefined();
    await expect(verify(oldToken, jwks, clock)).rejects.toThrow();
    expect(store.signingKeys.has(oldKid)).toBe(true); // not deleted until the next rotation

    const next = await ring.rotate();
    expect(next.retiredKid).toBe(rotated.kid);
    expect([...store.signingKeys.keys()].sort()).toEqual([rotated.kid, next.kid].sort());
  });

  it('lets another replica pick up a rotation after the cache TTL', async () => {
    const { clock, ring, newRing } = setup({ cacheTtlMs: 30_000 });
    const replica = newRing();
    const oldKid = await ring.ensureActiveKey();
    expect(decodeProtectedHeader(await replica.sign({}, tokenOptions)).kid).toBe(oldKid);

    const { kid: newKid } = await ring.rotate();
    clock.advanceSeconds(29);
    // Still inside its TTL, the replica signs with the retired key, which stays published.
    expect(decodeProtectedHeader(await replica.sign({}, tokenOptions)).kid).toBe(oldKid);
    expect((await replica.jwks()).keys.map((key) => key.kid)).toEqual([oldKid]);

    clock.advanceSeconds(1);
    expect(decodeProtectedHeader(await replica.sign({}, tokenOptions)).kid).toBe(newKid);
    expect((await replica.jwks()).keys.map((key) => key.kid).sort()).toEqual([oldKid, newKid].sort());
  });

  it('lets another replica find a key it does not know yet at once', async () => {
    const { store, ring, newRing } = setup({ cacheTtlMs: 30_000 });
    const replica = newRing();
    await replica.ensureActiveKey();
    const { kid: newKid } = await ring.rotate();
    const newToken = await ring.sign({}, tokenOptions);

    const listSpy = vi.spyOn(store, 'listSigningKeys');
    const newKey = await replica.getPublicKey(newKid);
    expect(newKey?.asymmetricKeyType).toBe('ec');
    expect(listSpy).toHaveBeenCalledTimes(1);
    const verified = await jwtVerify(newToken, (header) => replica.getPublicKey(header.kid ?? '').then((key) => key ?? Promise.reject(new Error('unknown kid'))), {
      algorithms: ['ES256'],
    });
    expect(verified.protectedHeader.kid).toBe(newKid);
  });

  it('reloads for unknown kids at most once a second', async () => {
    const { store, clock, ring } = setup();
    await ring.ensureActiveKey();
    const listSpy = vi.spyOn(store, 'listSigningKeys');
    expect(await ring.getPublicKey('unknown-1')).toBeUndefined();
    expect(await ring.getPublicKey('unknown-2')).toBeUndefined();
    clock.advanceMs(500);
    expect(await ring.getPublicKey('unknown-3')).toBeUndefined();
    expect(listSpy).toHaveBeenCalledTimes(1);
    clock.advanceMs(600);
    expect(await ring.getPublicKey('unknown-4')).toBeUndefined();
    expect(listSpy).toHaveBeenCalledTimes(2);
  });

  it('publishes every active key if replicas raced, signs with the oldest, and rotation retires them all', async () => {
    const { store, box, clock, ring } = setup();
    const first = await createSigningKeyRecord(box, clock.now());
    clock.advanceMs(1);
    const second = await createSigningKeyRecord(box, clock.now());
    store.signingKeys.set(second.kid, second);
    store.signingKeys.set(first.kid, first);

    expect(decodeProtectedHeader(await ring.sign({}, tokenOptions)).kid).toBe(first.kid);
    expect((await ring.jwks()).keys).toHaveLength(2);
    const { kid } = await ring.rotate();
    const active = [...store.signingKeys.values()].filter((record) => record.retiredAt === null);
    expect(active.map((record) => record.kid)).toEqual([kid]);
  });

  it('refuses a stored public key that does not match the sealed private key', async () => {
    const { store, box, clock, newRing } = setup();
    const genuine = await createSigningKeyRecord(box, clock.now());
    const foreign = await createSigningKeyRecord(box, clock.now());
    store.signingKeys.set(genuine.kid, { ...genuine, publicJwk: foreign.publicJwk });
    await expect(newRing().jwks()).rejects.toThrow(/does not match its private key/);
  });

  it('refuses a sealed private key moved onto another row', async () => {
    const { store, box, clock, newRing } = setup();
    const genuine = await createSigningKeyRecord(box, clock.now());
    const foreign = await createSigningKeyRecord(box, clock.now());
    store.signingKeys.set(genuine.kid, { ...genuine, privateKey: foreign.privateKey });
    await expect(newRing().jwks()).rejects.toMatchObject({ code: 'authentication_failed' });
  });

  it('rolls back a rotation that fails half way', async () => {
    const { store, ring } = setup();
    const kid = await ring.ensureActiveKey();
    const failing: KeyRingStore = {
      listSigningKeys: () => store.listSigningKeys(),
      transaction: (fn) =>
        store.transaction((tx) => fn({ ...tx, insertSigningKey: () => Promise.reject(new Error('disk full')) })),
    };
    const brokenRing = new KeyRing({ store: failing, box: new SecretBox(randomBytes(32)) });
    await expect(brokenRing.rotate()).rejects.toThrow('disk full');
    expect(store.signingKeys.get(kid)?.retiredAt).toBeNull();
    expect(store.signingKeys.size).toBe(1);
  });
});
