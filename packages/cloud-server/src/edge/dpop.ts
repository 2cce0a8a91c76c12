import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { EdgeError } from './errors.js';
import { DEFAULT_REPLAY_CACHE_SIZE, ReplayCache, replayCacheFull } from './replay-cache.js';

/**
 * Proof of possession in the manner of RFC 9449 (DPoP). The SDK holds an ephemeral P-256 key;
 * every edge call carries a `DPoP` header: a JWT signed by that key, with the key itself in the
 * header, over the HTTP method (`htm`), the URL (`htu`), the time (`iat`) and a unique id
 * (`jti`); with an edge token, also the token's hash (`ath`). The edge token is bound to the
 * key's thumbprint (`cnf.jkt`), so a stolen token is useless without the key.
 *
 * This is the one JWS the control plane verifies without jose: proofs arrive on every request,
 * always ES256 with an embedded P-256 key, so a narrow synchronous verifier with imported keys
 * cached by thumbprint avoids a key import and a thread-pool round trip per call. Everything it
 * does not recognise exactly is refused.
 */

const MAX_PROOF_BYTES = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const P256_COORDINATE = /^[A-Za-z0-9_-]{43}$/;
const ALLOWED_HEADER = new Set(['typ', 'alg', 'jwk']);

export interface DpopOptions {
  /** How far `iat` may be from now, either way. */
  maxSkewSeconds?: number;
  /**
   * Most proof ids remembered at once (the replay cache). When that many live ids are held, new
   * proofs are refused with 503 `replay_cache_full` until the oldest expire.
   */
  maxRememberedProofs?: number;
  now?: () => Date;
}

export interface VerifiedProof {
  /** RFC 7638 thumbprint of the proof key. */
  jkt: string;
}

interface ProofKey {
  key: KeyObject;
  jkt: string;
}

export class DpopVerifier {
  readonly #skewSeconds: number;
  readonly #now: () => Date;
  /** `${jkt}:${jti}` of accepted proofs, kept longer than a proof can stay acceptable. */
  readonly #seen: ReplayCache;
  /** Imported proof keys by their coordinates. */
  readonly #keys = new LRUCache<string, ProofKey>({ max: 10_000 });

  constructor(options: DpopOptions = {}) {
    this.#skewSeconds = options.maxSkewSeconds ?? 60;
    this.#now = options.now ?? (() => new Date());
    // A proof is acceptable until iat + skew, and iat may be up to skew ahead of now.
    this.#seen = new ReplayCache({ capacity: options.maxRememberedProofs ?? DEFAULT_REPLAY_CACHE_SIZE, ttlMs: this.#skewSeconds * 2 * 1000, now: this.#now });
  }

  /**
   * Verifies a proof for `method` + `url`, and when `accessToken` is given, its `ath` binding.
   * Throws EdgeError `invalid_dpop_proof` (401) for anything wrong, `dpop_replay` for a reused id,
   * `replay_cache_full` (503) when no more ids can be remembered right now.
   */
  async verify(proof: string | undefined, method: string, url: string, accessToken?: string): Promise<VerifiedProof> {
    if (!proof) throw invalid('A DPoP proof header is required');
    if (proof.length > MAX_PROOF_BYTES) throw invalid('The DPoP proof is too large');
    const parts = proof.split('.');
    if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) throw invalid('The DPoP proof is not a compact JWS');
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
    const header = parseJson(encodedHeader);
    if (!header || Object.keys(header).some((name) => !ALLOWED_HEADER.has(name))) {
      throw invalid('The DPoP proof header must hold only typ, alg and jwk');
    }
    if (header.typ !== 'dpop+jwt') throw invalid('The DPoP proof must have typ "dpop+jwt"');
    if (header.alg !== 'ES256') throw invalid('The DPoP proof must be signed with ES256');
    const { key, jkt } = this.#importKey(header.jwk);
    const signature = Buffer.from(encodedSignature, 'base64url');
    const signed = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii');
    if (signature.length !== 64 || !verifySignature('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
      throw invalid('The DPoP proof signature is not valid');
    }
    const payload = parseJson(encodedPayload);
    if (!payload) throw invalid('The DPoP proof claims are not a JSON object');
    if (payload.htm !== method) throw invalid('The DPoP proof is for another method');
    if (typeof payload.htu !== 'string' || normalizeHtu(payload.htu) !== normalizeHtu(url)) {
      throw invalid('The DPoP proof is for another URL');
    }
    const iat = payload.iat;
    if (typeof iat !== 'number' || Math.abs(this.#now().getTime() / 1000 - iat) > this.#skewSeconds) {
      throw invalid('The DPoP proof is stale or from the future; check the clock');
    }
    if (accessToken !== undefined) {
      const ath = createHash('sha256').update(accessToken).digest('base64url');
      if (payload.ath !== ath) throw invalid('The DPoP proof is not bound to this token');
    }
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 128) {
      throw invalid('The DPoP proof id is not valid');
    }
    // Replay: the same key may not use the same id twice within the acceptance window.
    const remembered = this.#seen.add(`${jkt}:${payload.jti}`);
    if (remembered === 'replayed') throw new EdgeError('dpop_replay', 'The DPoP proof was already used');
    if (remembered === 'full') throw replayCacheFull(this.#seen);
    return { jkt };
  }

  /** Only a public P-256 key, exactly: no private part, no other members that could change its meaning. */
  #importKey(jwk: unknown): ProofKey {
    const candidate = jwk as Record<string, unknown> | undefined;
    if (
      !candidate ||
      typeof candidate !== 'object' ||
      candidate.kty !== 'EC' ||
      candidate.crv !== 'P-256' ||
      typeof candidate.x !== 'string' ||
      typeof candidate.y !== 'string' ||
      !P256_COORDINATE.test(candidate.x) ||
      !P256_COORDINATE.test(candidate.y) ||
      'd' in candidate
    ) {
      throw invalid('The DPoP proof must carry a public P-256 key in its "jwk" header');
    }
    const cacheKey = `${candidate.x}.${candidate.y}`;
    const cached = this.#keys.get(cacheKey);
    if (cached) return cached;
    // RFC 7638: the required members, in lexicographic order, without white space.
    const canonical = `{"crv":"P-256","kty":"EC","x":"${candidate.x}","y":"${candidate.y}"}`;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: candidate.x, y: candidate.y }, format: 'jwk' });
    } catch {
      throw invalid('The DPoP proof key is not a point on P-256');
    }
    const entry = { key, jkt: createHash('sha256').update(canonical).digest('base64url') };
    this.#keys.set(cacheKey, entry);
    return entry;
  }
}

function invalid(message: string): EdgeError {
  return new EdgeError('invalid_dpop_proof', message);
}

function parseJson(encoded: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** htu is compared without query and fragment (RFC 9449 §4.3); URL parsing lower-cases scheme and host. */
function normalizeHtu(value: string): string {
  const url = URL.parse(value);
  return url ? `${url.protocol}//${url.host}${url.pathname}` : '';
}
