import { createHash, createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProofKey } from './proof-key.js';

const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

describe('ProofKey', () => {
  it('signs an ES256 DPoP proof with exactly the header and claims the cloud checks', () => {
    const key = new ProofKey({ now: () => new Date('2030-01-01T00:00:00Z') });
    const proof = key.proof('POST', 'https://Cloud.Example/edge/v1/credentials?x=1#f', 'edge.token.value');
    const [header, payload, signature] = proof.split('.') as [string, string, string];
    const h = decode(header);
    expect(Object.keys(h).sort()).toEqual(['alg', 'jwk', 'typ']);
    expect(h).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } });
    expect(Object.keys(h.jwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    const claims = decode(payload);
    expect(claims).toMatchObject({ htm: 'POST', htu: 'https://cloud.example/edge/v1/credentials', iat: 1893456000 });
    expect(claims.ath).toBe(createHash('sha256').update('edge.token.value').digest('base64url'));
    const publicKey = createPublicKey({ key: h.jwk, format: 'jwk' });
    expect(verify('sha256', Buffer.from(`${header}.${payload}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))).toBe(true);
    const canonical = `{"crv":"P-256","kty":"EC","x":"${h.jwk.x}","y":"${h.jwk.y}"}`;
    expect(key.thumbprint).toBe(createHash('sha256').update(canonical).digest('base64url'));
  });

  it('uses a fresh id per proof, no ath without a token, and never prints the private key', () => {
    const key = new ProofKey();
    const a = decode(key.proof('POST', 'http://127.0.0.1:8080/edge/v1/attest').split('.')[1]!);
    const b = decode(key.proof('POST', 'http://127.0.0.1:8080/edge/v1/attest').split('.')[1]!);
    expect(a.jti).not.toBe(b.jti);
    expect(a).not.toHaveProperty('ath');
    expect(JSON.stringify(key)).toBe(JSON.stringify({ thumbprint: key.thumbprint }));
  });
});
