/**
 * Test support: the JWT attack suite, run against the shared core and through every JWT
 * trust provider, so no provider can lose a defence by wrapping the core differently.
 * Each attack is its own test, against a real loopback JWKS / discovery server and an
 * attacker's server that must never be contacted.
 */
import { afterAll, beforeAll, beforeEach, describe, it } from 'vitest';
import type { VerifyContext } from '../../src/contracts.js';
import { createJwtKeySource, type JwtKeySource, type JwtKeySourceOptions } from '../../src/trust/jwt/key-source.js';
import { type AttackEnvironment, type AttackKeyConfig, defineAttackTests } from './attack-tests.js';
import { AUDIENCE, createTestKey, NOW, NOW_SECONDS } from './jwt-fixtures.js';
import { sendHugeChunked, sendJson, startLoopbackServer } from './loopback-server.js';

export interface JwtAttackTarget {
  /** Shown in test names. */
  name: string;
  /** Provider type expected as the message prefix; `undefined` for the bare core. */
  provider?: string;
  /** Claims a valid token needs besides iss, aud, sub, iat and exp (they may override sub). */
  claims?: () => Record<string, unknown>;
  /** A verify function over a fresh provider instance using `keySource`. */
  createVerifier(config: AttackKeyConfig, keySource: JwtKeySource): (token: string, ctx: VerifyContext) => Promise<unknown>;
}

export type { AttackKeyConfig };

export function describeJwtAttacks(target: JwtAttackTarget): void {
  describe(`${target.name}: JWT attacks`, () => {
    const state: AttackEnvironment['state'] = { jwks: 'ok', discoveryIssuer: undefined, discoveryJwksUri: undefined };
    const env = { state, fetched: [] as string[] } as unknown as AttackEnvironment;

    beforeAll(async () => {
      env.rsa = await createTestKey('rsa-1', 'RS256');
      env.ec = await createTestKey('ec-1', 'ES256');
      env.evil = await createTestKey('evil-1', 'RS256');
      env.issuerServer = await startLoopbackServer((request, response) => {
        const path = (request.url ?? '/').split('?')[0];
        if (path === '/idp/jwks') {
          if (state.jwks === 'hang') return; // never answers
          if (state.jwks === 'huge') return sendHugeChunked(response, 1024 * 1024);
          if (state.jwks === 'error') return sendJson(response, { error: 'unavailable' }, 503);
          return sendJson(response, { keys: [env.rsa.publicJwk, env.ec.publicJwk] });
        }
        if (path === '/idp/moved-jwks') {
          response.writeHead(302, { location: `${env.attacker.origin}/jwks` });
          return void response.end();
        }
        if (path === '/idp/.well-known/openid-configuration') {
          return sendJson(response, {
            issuer: state.discoveryIssuer ?? env.issuer,
            jwks_uri: state.discoveryJwksUri ?? `${env.issuer}/jwks`,
          });
        }
        sendJson(response, { error: 'not found' }, 404);
      });
      env.attacker = await startLoopbackServer((_request, response) => sendJson(response, { keys: [env.evil.publicJwk] }));
      env.issuer = `${env.issuerServer.origin}/idp`;
    });

    afterAll(async () => {
      await env.issuerServer?.close();
      await env.attacker?.close();
    });

    beforeEach(() => {
      Object.assign(state, { jwks: 'ok', discoveryIssuer: undefined, discoveryJwksUri: undefined });
      env.fetched.length = 0;
      env.issuerServer.requests.length = 0;
      env.attacker.requests.length = 0;
    });

    env.provider = target.provider;
    env.context = (): VerifyContext => ({
      audience: AUDIENCE,
      now: () => NOW,
      fetch: (input, init) => {
        env.fetched.push(String(input));
        return fetch(input, init);
      },
    });
    env.payload = (overrides = {}) => ({
      iss: env.issuer,
      aud: AUDIENCE,
      sub: 'workload-subject-7f3a',
      iat: NOW_SECONDS - 60,
      exp: NOW_SECONDS + 600,
      ...target.claims?.(),
      ...overrides,
    });
    env.verifier = (config = { issuer: env.issuer, jwksUri: `${env.issuer}/jwks` }, options: JwtKeySourceOptions = {}) =>
      target.createVerifier(config, createJwtKeySource(options));
    defineAttackTests(env, it);
  });
}
