import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';

/**
 * The SDK's proof-of-possession key (RFC 9449 DPoP, as the cloud's `edge/dpop.ts` verifies it):
 * an ephemeral P-256 key made once per process and never written anywhere. The edge token is
 * bound to its thumbprint, so a leaked token is useless without this key.
 */
export class ProofKey {
  readonly #privateKey: KeyObject;
  readonly #encodedHeader: string;
  readonly #now: () => Date;
  /** RFC 7638 thumbprint of the public key (the token's `cnf.jkt`). */
  readonly thumbprint: string;

  constructor(options: { now?: () => Date } = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = privateKey;
    this.#now = options.now ?? (() => new Date());
    const { x, y } = publicKey.export({ format: 'jwk' });
    // Exactly the public members: the cloud refuses a header jwk with anything more.
    const jwk = { kty: 'EC', crv: 'P-256', x, y };
    this.#encodedHeader = base64url(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk }));
    this.thumbprint = createHash('sha256').update(`{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`).digest('base64url');
  }

  /**
   * A fresh proof for one request: `htm`, `htu` (without query or fragment), `iat`, a unique
   * `jti`, and with an edge token its hash `ath`. Never reuse one: the cloud refuses replays.
   */
  proof(method: string, url: string, accessToken?: string): string {
    const target = new URL(url);
    const claims: Record<string, unknown> = {
      htm: method,
      htu: `${target.protocol}//${target.host}${target.pathname}`,
      iat: Math.floor(this.#now().getTime() / 1000),
      jti: randomUUID(),
    };
    if (accessToken !== undefined) claims.ath = createHash('sha256').update(accessToken).digest('base64url');
    const signingInput = `${this.#encodedHeader}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput, 'ascii'), { key: this.#privateKey, dsaEncoding: 'ieee-p1363' });
    return `${signingInput}.${signature.toString('base64url')}`;
  }

  /** Keeps the private key out of `console.log` and `JSON.stringify`. */
  toJSON(): { thumbprint: string } {
    return { thumbprint: this.thumbprint };
  }
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
