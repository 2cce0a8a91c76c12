import { describe, expect, it } from 'vitest';
import { createProviderRegistry } from '../../catalog.js';
import { AUDIENCE, createTestKey, NOW_SECONDS, signToken, unsignedToken } from '../../../test/support/jwt-fixtures.js';
import { claimedIssuer, issuerToVerify } from './claimed-issuer.js';

describe('claimedIssuer', () => {
  it('reads the unverified iss of a JWT in evidence.token, and nothing else', async () => {
    const key = await createTestKey('k1', 'ES256');
    const token = await signToken({ iss: 'https://idp.example.com', sub: 's', aud: AUDIENCE, exp: NOW_SECONDS + 60 }, key);
    expect(claimedIssuer({ token })).toBe('https://idp.example.com');
    // Unsigned or wrongly signed: still read, since choosing providers is all it is used for.
    expect(claimedIssuer({ token: unsignedToken({ iss: 'https://forged.example.com' }) })).toBe('https://forged.example.com');
    for (const token of [undefined, 42, '', 'not-a-jwt', 'a.b.c', unsignedToken({ sub: 'no-iss' }), unsignedToken({ iss: 7 }), unsignedToken({ iss: 'x'.repeat(2049) }), `${unsignedToken({ iss: 'https://big.example.com', pad: 'x'.repeat(17_000) })}`]) {
      expect(claimedIssuer({ token })).toBeUndefined();
    }
  });

  it('picks the accepted issuer a token names, else the first accepted one', () => {
    const accepted = ['https://accounts.google.com', 'accounts.google.com'];
    expect(issuerToVerify(unsignedToken({ iss: 'accounts.google.com' }), accepted)).toBe('accounts.google.com');
    expect(issuerToVerify(unsignedToken({ iss: 'https://evil.example.com' }), accepted)).toBe('https://accounts.google.com');
    expect(issuerToVerify('garbage', accepted)).toBe('https://accounts.google.com');
  });
});

describe('acceptedIssuers of the built-in trust providers', () => {
  const registry = createProviderRegistry();
  const issuersOf = (type: string, config: Record<string, unknown>) => registry.requireTrustProvider(type).acceptedIssuers(config);

  it('are the configured issuers for JWT evidence, and null for evidence that names none', () => {
    expect(issuersOf('oidc', { issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks' })).toEqual(['https://idp.example.com']);
    expect(issuersOf('kubernetes-service-account', { issuer: 'https://k8s.example.com', jwksUri: 'https://k8s.example.com/jwks' })).toEqual(['https://k8s.example.com']);
    expect(issuersOf('github-actions', {})).toEqual(['https://token.actions.githubusercontent.com']);
    expect(issuersOf('github-actions', { issuer: 'https://ghes.example.com/_services/token' })).toEqual(['https://ghes.example.com/_services/token']);
    expect(issuersOf('gcp-identity-token', {})).toEqual(['https://accounts.google.com', 'accounts.google.com']);
    const tenantId = '6f1c7e58-62cb-4a0b-9b3b-4d0f3c3f8f11';
    expect(issuersOf('azure-managed-identity', { tenantId, audience: 'api://tessera' })).toEqual([
      `https://sts.windows.net/${tenantId}/`,
      `https://login.microsoftonline.com/${tenantId}/v2.0`,
    ]);
    expect(issuersOf('aws-iam', {})).toBeNull();
    expect(issuersOf('aws-ec2-instance-identity', {})).toBeNull();
  });
});
