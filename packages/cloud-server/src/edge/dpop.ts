import { createHash } from 'node:crypto';
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import { EdgeError } from './errors.js';

/**
 * Proof of possession in the manner of RFC 9449 (DPoP). The SDK holds an ephemeral P-256 key;
 * every edge call carries a `DPoP` header: a JWT signed by that key, with the key itself in the
 * header, over the HTTP method (`htm`), the URL (`htu`), the time (`iat`) and a unique id
 * (`jti`); with an edge token, also the token's hash (`ath`). The edge token is bound to the
 * key's thumbprint (`cnf.jkt`), so a stolen token is useless without the key.
 */

export const DPOP_ALGORITHMS = ['ES256'] as const;
const MAX_PROOF_BYTES = 4096;

export interface DpopOptions {
  /** How far `iat` may be from now, either way. */
  maxSkewSeconds?: number;
  /** Bound on remembered proof ids (replay cache). */
  maxRememberedProofs?: number;
  now?: () => Date;
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof key. */
  jkt: string;
}

export class DpopVerifier {
  readonly #skewSeconds: number;
  readonly #now: () => Date;
  /** jti → seen; entries outlive the window in which their proof could still be accepted. */
  readonly #seen: LRUCache<string, true>;

  constructor(options: DpopOptions = {}) {
    this.#skewSeconds = options.maxSkewSeconds ?? 60;
    this.#now = options.now ?? (() => new Date());
    this.#seen = new LRUCache({
      max: options.maxRememberedProofs ?? 200_000,
      ttl: this.#skewSeconds * 2 * 1000,
      ttlAutopurge: false,
    });
  }

  /**
   * Verifies a proof for `method` + `url`, and when `accessToken` is given, its `ath` binding.
   * Throws EdgeError `invalid_dpop_proof` (401) for anything wrong, `dpop_replay` for a reused id.
   */
  async verify(proof: string | undefined, method: string, url: string, accessToken?: string): Promise<VerifiedProof> {
    if (!proof) throw new EdgeError('invalid_dpop_proof', 'A DPoP proof header is required');
    if (proof.length > MAX_PROOF_BYTES) throw new EdgeError('invalid_dpop_proof', 'The DPoP proof is too large');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch {
      throw new EdgeError('invalid_dpop_proof', 'The DPoP proof is not a JWT');
    }
    if (header.typ !== 'dpop+jwt') throw new EdgeError('invalid_dpop_proof', 'The DPoP proof must have typ "dpop+jwt"');
    const jwk = header.jwk as JWK | undefined;
    if (!jwk || typeof jwk !== 'object' || 'd' in jwk) {
      throw new EdgeError('invalid_dpop_proof', 'The DPoP proof must carry its public key in the "jwk" header');
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
        algorithms: [...DPOP_ALGORITHMS],
        typ: 'dpop+jwt',
        currentDate: this.#now(),
        requiredClaims: ['htm', 'htu', 'iat', 'jti'],
      }));
    } catch {
      throw new EdgeError('invalid_dpop_proof', 'The DPoP proof signature or claims are not valid');
    }
    if (payload.htm !== method) throw new EdgeError('invalid_dpop_proof', 'The DPoP proof is for another method');
    if (typeof payload.htu !== 'string' || normalizeHtu(payload.htu) !== normalizeHtu(url)) {
      throw new EdgeError('invalid_dpop_proof', 'The DPoP proof is for another URL');
    }
    const iat = payload.iat as number;
    const nowSeconds = this.#now().getTime() / 1000;
    if (typeof iat !== 'number' || Math.abs(nowSeconds - iat) > this.#skewSeconds) {
      throw new EdgeError('invalid_dpop_proof', 'The DPoP proof is stale or from the future; check the clock');
    }
    if (accessToken !== undefined) {
      const ath = createHash('sha256').update(accessToken).digest('base64url');
      if (payload.ath !== ath) throw new EdgeError('invalid_dpop_proof', 'The DPoP proof is not bound to this token');
    }
    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    // Replay: the same key may not use the same id twice within the acceptance window.
    const replayKey = `${jkt}:${String(payload.jti)}`;
    if (typeof payload.jti !== 'string' || payload.jti.length > 128) {
      throw new EdgeError('invalid_dpop_proof', 'The DPoP proof id is not valid');
    }
    if (this.#seen.has(replayKey)) throw new EdgeError('dpop_replay', 'The DPoP proof was already used');
    this.#seen.set(replayKey, true);
    return { jkt };
  }
}

/** htu is compared without query and fragment (RFC 9449 §4.3); URL parsing lower-cases scheme and host. */
function normalizeHtu(value: string): string {
  const url = URL.parse(value);
  return url ? `${url.protocol}//${url.host}${url.pathname}` : '';
}
