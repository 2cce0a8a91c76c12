import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../validate-config.js';
import { checkFetchUrl } from '../../http/endpoint-url.js';
import { buildJwtTrustConfig, jwtIssuerSchema, jwtTrustConfigProperties } from './config.js';

const schema = Type.Object({ issuer: jwtIssuerSchema, ...jwtTrustConfigProperties }, { additionalProperties: false });
const issuer = 'https://issuer.example';
const rsaJwk = { kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'a' };

describe('JWT trust config', () => {
  it('fills defaults: RS256 and ES256, 30 s of clock tolerance', () => {
    expect(validateConfig(schema, { issuer, discovery: true })).toEqual({
      ok: true,
      value: { issuer, discovery: true, algorithms: ['RS256', 'ES256'], clockToleranceSeconds: 30 },
    });
  });

  it('refuses HS* and none in the schema, and tolerances over 300 s', () => {
    for (const algorithms of [['HS256'], ['none'], []]) expect(validateConfig(schema, { issuer, discovery: true, algorithms }).ok).toBe(false);
    expect(validateConfig(schema, { issuer, discovery: true, clockToleranceSeconds: 301 }).ok).toBe(false);
    expect(validateConfig(schema, { issuer, discovery: true, rules: [] })).toEqual({ ok: false, errors: [{ path: '/rules', message: 'is not a known property' }] });
  });

  it('resolves exactly one key source', () => {
    expect(buildJwtTrustConfig({ issuer, jwksUri: 'https://issuer.example/keys' })).toMatchObject({
      ok: true,
      value: { keys: { kind: 'jwks-uri', url: 'https://issuer.example/keys' }, algorithms: ['RS256', 'ES256'], clockToleranceSeconds: 30 },
    });
    expect(buildJwtTrustConfig({ issuer: `${issuer}/`, discovery: true })).toMatchObject({
      ok: true,
      value: { keys: { kind: 'discovery', issuer: `${issuer}/`, documentUrl: `${issuer}/.well-known/openid-configuration` } },
    });
    expect(buildJwtTrustConfig({ issuer, jwks: { keys: [rsaJwk] } })).toMatchObject({ ok: true, value: { keys: { kind: 'inline' } } });
    const many = buildJwtTrustConfig({ issuer, jwksUri: 'https://issuer.example/keys', discovery: true });
    const none = buildJwtTrustConfig({ issuer });
    for (const result of [many, none]) expect(result).toEqual({ ok: false, issues: ['exactly one of jwksUri, jwks or discovery: true must be set'] });
  });

  it('implies discovery only where the provider says so, and not against discovery: false', () => {
    expect(buildJwtTrustConfig({ issuer }, { defaultDiscovery: true })).toMatchObject({ ok: true, value: { keys: { kind: 'discovery' } } });
    expect(buildJwtTrustConfig({ issuer, discovery: false }, { defaultDiscovery: true }).ok).toBe(false);
    expect(buildJwtTrustConfig({ issuer, discovery: false, jwksUri: `${issuer}/k` }, { defaultDiscovery: true }).ok).toBe(true);
  });

  it('fetches only https, or http on a loopback host', () => {
    for (const url of ['https://a.example/jwks', 'http://127.0.0.1:8080/jwks', 'http://[::1]/jwks', 'http://localhost:3000/jwks']) {
      expect(checkFetchUrl(url, 'jwksUri')).toBeUndefined();
    }
    expect(checkFetchUrl('http://a.example/jwks', 'jwksUri')).toBe('jwksUri must use https (http only on a loopback host)');
    expect(checkFetchUrl('http://127.0.0.2/jwks', 'jwksUri')).toBe('jwksUri must use https (http only on a loopback host)');
    expect(checkFetchUrl('file:///etc/passwd', 'jwksUri')).toBe('jwksUri must use https (http only on a loopback host)');
    expect(checkFetchUrl('https://user:pw@a.example/jwks', 'jwksUri')).toBe('jwksUri must not contain credentials');
    expect(checkFetchUrl('/jwks', 'jwksUri')).toBe('jwksUri must be an absolute URL');
    expect(buildJwtTrustConfig({ issuer: 'http://issuer.example', discovery: true })).toEqual({
      ok: false,
      issues: ['issuer (with discovery) must use https (http only on a loopback host)'],
    });
  });

  it('refuses private or symmetric keys in an inline JWKS', () => {
    expect(buildJwtTrustConfig({ issuer, jwks: { keys: [rsaJwk, { ...rsaJwk, d: 'secret' }, { kty: 'oct', k: 'c2VjcmV0' }, {}] } })).toEqual({
      ok: false,
      issues: [
        'jwks.keys[1] must be a public key (private or symmetric key material found)',
        'jwks.keys[2] must be a public key (private or symmetric key material found)',
        'jwks.keys[3] must be a JWK with a "kty"',
      ],
    });
  });

  it('checks every field again at run time, since config may not have passed the schema', () => {
    const result = buildJwtTrustConfig({ issuer: '', algorithms: ['HS256'], clockToleranceSeconds: -1, maxTokenAgeSeconds: 0.5, audience: '' });
    expect(result).toEqual({
      ok: false,
      issues: [
        'issuer must be a non-empty string',
        'audience must be a non-empty string',
        'algorithms must be a non-empty list of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA',
        'clockToleranceSeconds must be an integer from 0 to 300',
        'maxTokenAgeSeconds must be an integer from 1 to 31622400',
      ],
    });
  });
});
