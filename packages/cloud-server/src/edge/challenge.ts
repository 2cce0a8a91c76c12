import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { KeyRing } from '../keys/key-ring.js';
import { DEFAULT_REPLAY_CACHE_SIZE, ReplayCache, replayCacheFull } from './replay-cache.js';

export const NONCE_TYPE = 'tessera-nonce+jwt';
/** A nonce must be used this soon: long enough to collect evidence, short enough not to matter. */
export const NONCE_LIFETIME_SECONDS = 300;

/**
 * Single-use nonces for evidence that must be fresh and bound to one attestation (a signed AWS
 * `GetCallerIdentity`, say). A nonce is an ES256 JWT from the key ring — so any replica can check
 * it — naming the thumbprint of the SDK proof key that asked for it; it is accepted once, by an
 * attestation proven with that same key, within five minutes.
 */
export class Challenges {
  readonly #keyRing: KeyRing;
  readonly #issuer: () => string;
  readonly #now: () => Date;
  /** Ids of nonces already used, kept until they would have expired anyway. */
  readonly #used: ReplayCache;

  constructor(keyRing: KeyRing, issuer: () => string, now: () => Date = () => new Date(), options: { maxRememberedNonces?: number } = {}) {
    this.#keyRing = keyRing;
    this.#issuer = issuer;
    this.#now = now;
    this.#used = new ReplayCache({ capacity: options.maxRememberedNonces ?? DEFAULT_REPLAY_CACHE_SIZE, ttlMs: NONCE_LIFETIME_SECONDS * 1000, now });
  }

  #audience(): string {
    return `${this.#issuer()}/edge/v1/attest`;
  }

  async issue(jkt: string): Promise<{ nonce: string; expiresAt: Date }> {
    // The key ring gives every token a random `jti`: it is the nonce's id.
    const nonce = await this.#keyRing.sign(
      {},
      { issuer: this.#issuer(), audience: this.#audience(), subject: jkt, lifetimeSeconds: NONCE_LIFETIME_SECONDS, typ: NONCE_TYPE },
    );
    return { nonce, expiresAt: new Date(this.#now().getTime() + NONCE_LIFETIME_SECONDS * 1000) };
  }

  /**
   * True once for a nonce issued to `jkt` and still valid; false for anything else. Throws
   * EdgeError `replay_cache_full` (503) when no more used nonces can be remembered right now:
   * a nonce is never accepted without being remembered.
   */
  async consume(nonce: string, jkt: string): Promise<boolean> {
    const id = await this.#verifiedId(nonce, jkt);
    if (id === undefined) return false;
    const remembered = this.#used.add(id);
    if (remembered === 'full') throw replayCacheFull(this.#used);
    return remembered === 'added';
  }

  /** The id of a nonce this cloud issued to `jkt` and that has not expired. */
  async #verifiedId(nonce: string, jkt: string): Promise<string | undefined> {
    if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > 4096) return undefined;
    try {
      const { kid } = decodeProtectedHeader(nonce);
      const key = kid ? await this.#keyRing.getPublicKey(kid) : undefined;
      if (!key) return undefined;
      const { payload } = await jwtVerify(nonce, key, {
        algorithms: ['ES256'],
        typ: NONCE_TYPE,
        issuer: this.#issuer(),
        audience: this.#audience(),
        subject: jkt,
        currentDate: this.#now(),
        requiredClaims: ['jti', 'exp'],
      });
      return payload.jti!;
    } catch {
      return undefined;
    }
  }
}
