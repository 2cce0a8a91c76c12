import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../crypto/secret-box.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import type { Backend, BackendHarness } from '../../test/support/store-backends.js';
import type { Store } from '../store/types.js';
import { KeyRing } from './key-ring.js';
import type { SignOptions } from './key-ring.js';

/**
 * The key ring over the real stores: two stores on one database stand for two replicas, so
 * the lease-guarded creation and the store's transactions are what keep one key per algorithm.
 */

const issuer = 'https://cloud.tessera.test';
const es256: SignOptions = { issuer, audience: 'api://AzureADTokenExchange', subject: 'workload-1', lifetimeSeconds: 300, typ: 'JWT' };
const rs256: SignOptions = { ...es256, algorithm: 'RS256' };

describe.each(BACKENDS)('KeyRing on $name', (backend: Backend) => {
  let harness: BackendHarness | undefined;
  afterEach(async () => {
    await harness?.dispose();
    harness = undefined;
  });

  async function replicas(count: number): Promise<{ stores: Store[]; rings: KeyRing[] }> {
    harness = await backend.createHarness();
    const box = new SecretBox(randomBytes(32));
    const stores = Array.from({ length: count }, () => harness!.createStore());
    await stores[0]!.migrate();
    return { stores, rings: stores.map((store) => new KeyRing({ store, box })) };
  }

  it('creates one RS256 key (and one ES256 key) when replicas race for first use', async () => {
    const { stores, rings } = await replicas(3);
    const tokens = await Promise.all(
      [0, 1, 2, 0, 1, 2].flatMap((index) => [rings[index]!.sign({}, rs256), rings[index]!.sign({}, es256)]),
    );
    const records = await stores[0]!.listSigningKeys();
    expect(records.map((record) => [record.alg, record.retiredAt]).sort()).toEqual([
      ['ES256', null],
      ['RS256', null],
    ]);
    const kidOf = (alg: string) => records.find((record) => record.alg === alg)!.kid;
    for (const [index, token] of tokens.entries()) {
      const alg = index % 2 === 0 ? 'RS256' : 'ES256';
      expect(decodeProtectedHeader(token)).toMatchObject({ alg, kid: kidOf(alg) });
      for (const ring of rings) {
        await jwtVerify(token, createLocalJWKSet(await ring.jwks()), { algorithms: [alg], issuer, audience: es256.audience });
      }
    }
    // What the row holds: the algorithm in its column, the private key sealed.
    const rows = await harness!.rawQuery('SELECT alg, public_jwk, private_key FROM signing_keys WHERE kid = ?', [kidOf('RS256')]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.alg).toBe('RS256');
    expect(JSON.parse(String(rows[0]!.public_jwk))).toMatchObject({ kty: 'RSA', alg: 'RS256', kid: kidOf('RS256') });
    expect(String(rows[0]!.private_key)).toMatch(/^tsb1\./);
  });

  it('lets a replica see the RS256 key another created, and both keys across a rotation', async () => {
    const { stores, rings } = await replicas(2);
    const [creator, replica] = rings as [KeyRing, KeyRing];
    await replica.ensureActiveKey(); // the replica has cached the ES256 key only
    const oldToken = await creator.sign({}, rs256);
    const oldKid = decodeProtectedHeader(oldToken).kid!;

    const byKid = (ring: KeyRing) => (header: { kid?: string }) =>
      ring.getPublicKey(header.kid ?? '').then((key) => key ?? Promise.reject(new Error('unknown kid')));
    await jwtVerify(oldToken, byKid(replica), { algorithms: ['RS256'] });
    expect(decodeProtectedHeader(await replica.sign({}, rs256)).kid).toBe(oldKid);
    expect((await stores[1]!.listSigningKeys()).filter((record) => record.alg === 'RS256')).toHaveLength(1);

    const rotated = await creator.rotate();
    const newKid = rotated.keys.find((key) => key.alg === 'RS256')!.kid;
    expect(rotated.keys.find((key) => key.alg === 'RS256')!.retiredKid).toBe(oldKid);
    // The retired RS256 key still verifies on either replica; new tokens use the new key.
    await jwtVerify(oldToken, byKid(replica), { algorithms: ['RS256'] });
    await jwtVerify(oldToken, createLocalJWKSet(await creator.jwks()), { algorithms: ['RS256'] });
    const newToken = await creator.sign({}, rs256);
    expect(decodeProtectedHeader(newToken).kid).toBe(newKid);
    // (The replica reloaded for an unknown kid less than a second ago: it would not again yet.)
    await jwtVerify(newToken, createLocalJWKSet(await creator.jwks()), { algorithms: ['RS256'] });
    const records = await stores[1]!.listSigningKeys();
    expect(records.filter((record) => record.retiredAt === null).map((record) => record.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(records.find((record) => record.kid === oldKid)?.publishUntil).not.toBeNull();
  });
});
