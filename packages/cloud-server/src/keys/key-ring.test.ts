import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { SecretBox } from '../crypto/secret-box.js';
import type { Store } from '../store/types.js';
import { KeyRing } from './key-ring.js';
import type { KeyRingStore, SignOptions } from './key-ring.js';
import { MemorySigningKeyStore, TestClock } from './memory-store.test-helper.js';
import { RSA_MODULUS_BITS, createSigningKeyRecord, signingKeyContext } from './signing-key.js';
import type { SigningAlgorithm } from './signing-key.js';

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

async function verify(token: string, jwks: JSONWebKeySet, clock: TestClock, algorithm: SigningAlgorithm = 'ES256') {
  return jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: [algorithm],
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

describe('KeyRing with RS256', () => {
  const rs256: SignOptions = { ...tokenOptions, typ: 'JWT', algorithm: 'RS256' };
  const activeOf = (store: MemorySigningKeyStore, alg: SigningAlgorithm) =>
    [...store.signingKeys.values()].filter((record) => record.alg === alg && record.retiredAt === null);

  it('creates the RS256 key on first use only, signs with it, and its tokens verify with jose against the JWKS', async () => {
    const { ring, store, clock } = setup();
    const esKid = await ring.ensureActiveKey();
    expect((await ring.jwks()).keys.map((key) => key.alg)).toEqual(['ES256']); // no RSA key until asked

    const token = await ring.sign({ scope: 'azure' }, rs256);
    const [rsa] = activeOf(store, 'RS256');
    expect(rsa).toMatchObject({ alg: 'RS256', retiredAt: null, publishUntil: null });
    expect(rsa!.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: rsa!.kid, typ: 'JWT' });

    const jwks = await ring.jwks();
    expect(jwks.keys.map((key) => [key.alg, key.kid]).sort()).toEqual([['ES256', esKid], ['RS256', rsa!.kid]]);
    const { payload } = await verify(token, jwks, clock, 'RS256');
    expect(payload).toMatchObject({ scope: 'azure', iss: issuer, sub: 'workload-1', aud: 'tessera-edge' });
    // A verifier that pins ES256 refuses it, though its key is in the same JWKS.
    await expect(verify(token, jwks, clock, 'ES256')).rejects.toThrow(/alg/);

    // Without `algorithm`, and with ES256 asked, the ES256 key still signs.
    expect(decodeProtectedHeader(await ring.sign({}, tokenOptions))).toMatchObject({ alg: 'ES256', kid: esKid });
    expect(decodeProtectedHeader(await ring.sign({}, { ...tokenOptions, algorithm: 'ES256' }))).toMatchObject({ alg: 'ES256', kid: esKid });
    expect(await ring.ensureActiveKey('RS256')).toBe(rsa!.kid);
    expect(store.signingKeys.size).toBe(2);
  });

  it(`publishes the RSA key's public members only (n, e; ${RSA_MODULUS_BITS} bits) and stores its private half sealed`, async () => {
    const { ring, store, box } = setup();
    const kid = await ring.ensureActiveKey('RS256');
    const published = (await ring.jwks()).keys.find((key) => key.kid === kid)!;
    expect(Object.keys(published).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(published).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(Buffer.from(published.n!, 'base64url').length * 8).toBe(RSA_MODULUS_BITS);
    expect(await calculateJwkThumbprint({ kty: 'RSA', n: published.n!, e: published.e! }, 'sha256')).toBe(kid);
    expect(JSON.stringify(await ring.jwks())).not.toMatch(/"(d|p|q|dp|dq|qi)"/);

    const record = store.signingKeys.get(kid)!;
    expect(Object.keys(record.publicJwk).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(record.privateKey).toMatch(/^tsb1\./);
    const pkcs8 = box.open(record.privateKey, signingKeyContext(kid));
    expect(pkcs8).toMatch(/^MII/); // DER PKCS#8, base64
    expect(record.privateKey).not.toContain(pkcs8.slice(0, 64));
    expect((await ring.getPublicKey(kid))?.asymmetricKeyType).toBe('rsa');
  });

  it.each(['HS256', 'none', 'ES384', 'PS256', 'rs256'])('refuses to sign with %s, creating no key', async (algorithm) => {
    const { ring, store } = setup();
    await expect(ring.sign({}, { ...tokenOptions, algorithm: algorithm as SigningAlgorithm })).rejects.toThrow(/unsupported signing algorithm/);
    await expect(ring.ensureActiveKey(algorithm as SigningAlgorithm)).rejects.toThrow(TypeError);
    expect(store.signingKeys.size).toBe(0);
  });

  it('creates exactly one RS256 key, even when callers and replicas race', async () => {
    const { store, ring, newRing, clock } = setup();
    const other = newRing();
    const tokens = await Promise.all([
      ring.sign({}, rs256),
      other.sign({}, rs256),
      ring.sign({}, rs256),
      other.sign({}, tokenOptions),
      ring.sign({}, tokenOptions),
    ]);
    expect(activeOf(store, 'RS256')).toHaveLength(1);
    expect(activeOf(store, 'ES256')).toHaveLength(1);
    expect(store.signingKeys.size).toBe(2);
    const [rsa] = activeOf(store, 'RS256');
    for (const token of tokens.slice(0, 3)) {
      expect(decodeProtectedHeader(token).kid).toBe(rsa!.kid);
      await verify(token, await other.jwks(), clock, 'RS256');
    }
  });

  it('lets a replica find, and sign with, the RS256 key another created, without creating its own', async () => {
    const { store, ring, newRing, clock } = setup({ cacheTtlMs: 30_000 });
    const replica = newRing();
    await replica.ensureActiveKey(); // caches the ES256 key only
    const token = await ring.sign({}, rs256);
    const kid = decodeProtectedHeader(token).kid!;

    // An unknown kid reloads at once, so a verifier on the replica accepts the token.
    const verified = await jwtVerify(token, (header) => replica.getPublicKey(header.kid ?? '').then((key) => key ?? Promise.reject(new Error('unknown kid'))), {
      algorithms: ['RS256'],
    });
    expect(verified.protectedHeader.kid).toBe(kid);
    // Signing on the replica finds the key in the store instead of adding a second one.
    expect(decodeProtectedHeader(await replica.sign({}, rs256)).kid).toBe(kid);
    expect(store.signingKeys.size).toBe(2);
    clock.advanceSeconds(30);
    expect((await replica.jwks()).keys.map((key) => key.kid)).toContain(kid);
  });

  it('rotates both algorithms: new kids for new tokens, old tokens of each verify until publishUntil, then leave', async () => {
    const { ring, store, clock } = setup({ maxTokenLifetimeSeconds: 3600, cacheTtlMs: 30_000 });
    const oldEs = await ring.ensureActiveKey();
    const oldRs = await ring.ensureActiveKey('RS256');
    const oldEsToken = await ring.sign({}, { ...tokenOptions, lifetimeSeconds: 3600 });
    const oldRsToken = await ring.sign({}, { ...rs256, lifetimeSeconds: 3600 });

    clock.advanceSeconds(60);
    const rotated = await ring.rotate();
    const newEs = rotated.keys.find((key) => key.alg === 'ES256')!;
    const newRs = rotated.keys.find((key) => key.alg === 'RS256')!;
    expect(rotated).toEqual({
      kid: newEs.kid,
      retiredKid: oldEs,
      keys: [
        { alg: 'ES256', kid: newEs.kid, retiredKid: oldEs },
        { alg: 'RS256', kid: newRs.kid, retiredKid: oldRs },
      ],
    });
    for (const kid of [oldEs, oldRs]) {
      expect(store.signingKeys.get(kid)).toMatchObject({ retiredAt: clock.now().toISOString() });
      expect(Date.parse(store.signingKeys.get(kid)!.publishUntil!)).toBe(clock.now().getTime() + 3600_000 + 30_000);
    }
    expect(activeOf(store, 'RS256').map((record) => record.kid)).toEqual([newRs.kid]);
    expect(activeOf(store, 'ES256').map((record) => record.kid)).toEqual([newEs.kid]);

    expect(decodeProtectedHeader(await ring.sign({}, tokenOptions)).kid).toBe(newEs.kid);
    expect(decodeProtectedHeader(await ring.sign({}, rs256)).kid).toBe(newRs.kid);
    const during = await ring.jwks();
    expect(during.keys.map((key) => key.kid).sort()).toEqual([oldEs, oldRs, newEs.kid, newRs.kid].sort());
    await expect(verify(oldEsToken, during, clock)).resolves.toBeDefined();
    await expect(verify(oldRsToken, during, clock, 'RS256')).resolves.toBeDefined();
    expect((await ring.getPublicKey(oldRs))?.asymmetricKeyType).toBe('rsa');

    clock.advanceSeconds(3600 + 29);
    await expect(verify(oldRsToken, await ring.jwks(), clock, 'RS256')).rejects.toThrow(/exp/); // expired, key still published
    expect((await ring.jwks()).keys.map((key) => key.kid)).toContain(oldRs);
    clock.advanceSeconds(1);
    const after = await ring.jwks();
    expect(after.keys.map((key) => key.kid).sort()).toEqual([newEs.kid, newRs.kid].sort());
    expect(await ring.getPublicKey(oldRs)).toBeUndefined();

    const next = await ring.rotate(); // prunes both old keys, rotates both current ones
    expect(next.keys.map((key) => [key.alg, key.retiredKid])).toEqual([['ES256', newEs.kid], ['RS256', newRs.kid]]);
    expect(store.signingKeys.has(oldEs) || store.signingKeys.has(oldRs)).toBe(false);
    expect(store.signingKeys.size).toBe(4);
  });

  it('leaves RS256 to first use when rotating while no RS256 key is in use', async () => {
    const { ring, store } = setup();
    const oldEs = await ring.ensureActiveKey();
    const rotated = await ring.rotate();
    expect(rotated.keys).toEqual([{ alg: 'ES256', kid: rotated.kid, retiredKid: oldEs }]);
    expect([...store.signingKeys.values()].every((record) => record.alg === 'ES256')).toBe(true);
    expect(decodeProtectedHeader(await ring.sign({}, rs256)).alg).toBe('RS256');
    expect(activeOf(store, 'RS256')).toHaveLength(1);
  });

  it('refuses a stored key whose algorithm does not match its key type or is too weak', async () => {
    const { store, box, clock, newRing } = setup();
    const rsa = await createSigningKeyRecord(box, clock.now(), 'RS256');
    const ec = await createSigningKeyRecord(box, clock.now(), 'ES256');
    store.signingKeys.set(rsa.kid, { ...rsa, alg: 'ES256' });
    await expect(newRing().jwks()).rejects.toThrow(/not a P-256 key/);
    store.signingKeys.clear();
    store.signingKeys.set(ec.kid, { ...ec, alg: 'RS256' });
    await expect(newRing().jwks()).rejects.toThrow(/not an RSA key/);

    // A sealed 1024-bit RSA key with a consistent kid and JWK is still refused.
    store.signingKeys.clear();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const { n, e } = await exportJWK(createPublicKey(privateKey));
    const kid = await calculateJwkThumbprint({ kty: 'RSA', n: n!, e: e! }, 'sha256');
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    store.signingKeys.set(kid, {
      ...rsa,
      kid,
      publicJwk: { kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' },
      privateKey: box.seal(pkcs8, signingKeyContext(kid)),
    });
    await expect(newRing().jwks()).rejects.toThrow(/at least 2048 bits/);
  });

  it('refuses a stored RSA public key that does not match the sealed private key', async () => {
    const { store, box, clock, newRing } = setup();
    const genuine = await createSigningKeyRecord(box, clock.now(), 'RS256');
    const foreign = await createSigningKeyRecord(box, clock.now(), 'RS256');
    store.signingKeys.set(genuine.kid, { ...genuine, publicJwk: { ...foreign.publicJwk, kid: genuine.kid } });
    await expect(newRing().jwks()).rejects.toThrow(/does not match its private key/);
  });
});
