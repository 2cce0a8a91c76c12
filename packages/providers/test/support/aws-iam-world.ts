/**
 * Test support for `aws-iam`: the fake STS of the aws-sts credential provider's tests (`fake-sts.ts`, which
 * verifies SigV4 for real) with an IAM user and a role whose sessions are obtained the way
 * real ones are (AssumeRoleWithWebIdentity with a JWT from a loopback issuer), a nonce store
 * that behaves like the cloud's (single use), and a fetch that counts calls. Not part of the
 * build entry.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { VerifyContext } from '../../src/contracts.js';
import { startFakeSts, type FakeSts, type IssuedStsCredentials } from './fake-sts.js';
import { sendJson, startLoopbackServer, type LoopbackServer } from './loopback-server.js';

export const ACCOUNT_ID = '123456789012';
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/billing-reader`;
export const OTHER_ROLE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/ci-deploy`;
export const USER = {
  accessKeyId: 'AKIAFAKEAWSIAMUSER01',
  secretAccessKey: 'fake/aws-iam+SECRET0123456789abcdefghijk',
  arn: 'arn:aws:iam::210987654321:user/division/ci',
};

export interface AwsIamWorld {
  sts: FakeSts;
  /** Role session credentials, as STS issued them (access key, secret, session token). */
  assume(roleArn?: string, sessionName?: string): Promise<IssuedStsCredentials>;
  close(): Promise<void>;
}

/** The fake STS (signatures scoped to `region`), an OIDC issuer for the role, and a way to get role sessions. */
export async function startAwsIamWorld(region = 'us-east-1'): Promise<AwsIamWorld> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const issuer: LoopbackServer = await startLoopbackServer((_request, response) => sendJson(response, { keys: [jwk] }));
  const role = (roleArn: string) => ({ roleArn, issuer: issuer.origin, audiences: ['sts.amazonaws.com'], jwksUri: `${issuer.origin}/jwks`, maxSessionDurationSeconds: 3600 });
  const sts = await startFakeSts({ roles: [role(ROLE_ARN), role(OTHER_ROLE_ARN)], users: [USER], region });

  async function assume(roleArn = ROLE_ARN, sessionName = 'billing-7f3a'): Promise<IssuedStsCredentials> {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(issuer.origin)
      .setAudience('sts.amazonaws.com')
      .setSubject('workload')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const body = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: roleArn, RoleSessionName: sessionName, WebIdentityToken: token });
    const response = await fetch(sts.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const xml = await response.text();
    const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(xml)?.[1];
    const issued = accessKeyId === undefined ? undefined : sts.issued.get(accessKeyId);
    if (issued === undefined) throw new Error(`fake STS did not issue credentials: HTTP ${response.status}`);
    return issued;
  }

  return {
    sts,
    assume,
    close: async () => {
      await sts.close();
      await issuer.close();
    },
  };
}

/** The cloud's nonces: issued, then accepted once each (as `POST /edge/v1/challenge` and `consumeNonce`). */
export class NonceStore {
  readonly issued = new Set<string>();
  readonly consumed: string[] = [];
  #counter = 0;

  issue = async (): Promise<string> => {
    const nonce = `nonce-${++this.#counter}-${Math.random().toString(36).slice(2)}`;
    this.issued.add(nonce);
    return nonce;
  };

  consume = async (nonce: string): Promise<boolean> => {
    this.consumed.push(nonce);
    return this.issued.delete(nonce);
  };
}

/** A fetch that counts (and records the URLs of) its calls, then calls the real one. */
export function countingFetch(): typeof fetch & { calls: string[] } {
  const calls: string[] = [];
  const counted = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    calls.push(String(input instanceof Request ? input.url : input));
    return fetch(input, init);
  }) as typeof fetch & { calls: string[] };
  counted.calls = calls;
  return counted;
}

export function verifyContext(audience: string, nonces: NonceStore | undefined, fetchFn: typeof fetch, now: () => Date = () => new Date()): VerifyContext {
  return { audience, now, fetch: fetchFn, ...(nonces === undefined ? {} : { consumeNonce: nonces.consume }) };
}
