import { decodeProtectedHeader, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import type { KeyRing } from '../keys/key-ring.js';
import { EdgeError } from './errors.js';

export const EDGE_TOKEN_TYPE = 'tessera-edge+jwt';
/** Edge tokens live at most this long, and never past the evidence they were issued on. */
export const MAX_EDGE_TOKEN_SECONDS = 15 * 60;

/** What an edge token vouches for; carried in the token so any replica can decide alone. */
export interface EdgeSession {
  clientWorkloadId: string;
  resourceSetId: string;
  /** Trust providers (ids) that verified this client at attestation. */
  trustProviderIds: string[];
  /** The verified claims the client workload matched on. */
  claims: Record<string, string>;
  /** Thumbprint of the SDK's proof key (`cnf.jkt`). */
  jkt: string;
  expiresAt: Date;
}

/**
 * Edge tokens: ES256 JWTs signed by the control plane's key ring, typed `tessera-edge+jwt` and
 * addressed to the edge API, so no other token the cloud signs (a workload JWT) passes as one.
 */
export class EdgeTokens {
  readonly #keyRing: KeyRing;
  readonly #issuer: () => string;
  readonly #now: () => Date;
  /**
   * Tokens that verified, until they expire: an SDK presents the same token on every call for up
   * to 15 minutes, and its signature need not be checked again each time.
   */
  readonly #verified = new LRUCache<string, EdgeSession>({ max: 50_000 });

  constructor(keyRing: KeyRing, issuer: () => string, now: () => Date = () => new Date()) {
    this.#keyRing = keyRing;
    this.#issuer = issuer;
    this.#now = now;
  }

  audience(): string {
    return `${this.#issuer()}/edge/v1`;
  }

  async issue(session: Omit<EdgeSession, 'expiresAt'>, evidenceExpiresAt: Date | undefined): Promise<{ token: string; expiresAt: Date }> {
    const now = this.#now().getTime();
    const limit = Math.min(now + MAX_EDGE_TOKEN_SECONDS * 1000, evidenceExpiresAt?.getTime() ?? Infinity);
    const lifetimeSeconds = Math.floor((limit - now) / 1000);
    if (lifetimeSeconds < 1) throw new EdgeError('evidence_expired', 'The evidence expires too soon to issue an edge token');
    const token = await this.#keyRing.sign(
      { rs: session.resourceSetId, tp: session.trustProviderIds, claims: session.claims, cnf: { jkt: session.jkt } },
      { issuer: this.#issuer(), audience: this.audience(), subject: session.clientWorkloadId, lifetimeSeconds, typ: EDGE_TOKEN_TYPE },
    );
    return { token, expiresAt: new Date(now + lifetimeSeconds * 1000) };
  }

  async verify(token: string): Promise<EdgeSession> {
    if (token.length > 16 * 1024) throw new EdgeError('invalid_edge_token', 'The edge token is too large');
    const cached = this.#verified.get(token);
    if (cached) {
      if (cached.expiresAt.getTime() > this.#now().getTime()) return cached;
      this.#verified.delete(token);
      throw new EdgeError('invalid_edge_token', 'The edge token is not valid or has expired; attest again');
    }
    try {
      const { kid } = decodeProtectedHeader(token);
      const key = kid ? await this.#keyRing.getPublicKey(kid) : undefined;
      if (!key) throw new Error('unknown key');
      const { payload } = await jwtVerify(token, key, {
        algorithms: ['ES256'],
        typ: EDGE_TOKEN_TYPE,
        issuer: this.#issuer(),
        audience: this.audience(),
        currentDate: this.#now(),
        requiredClaims: ['sub', 'exp', 'cnf'],
      });
      const cnf = payload.cnf as { jkt?: unknown } | undefined;
      if (typeof cnf?.jkt !== 'string' || typeof payload.rs !== 'string' || !Array.isArray(payload.tp)) {
        throw new Error('malformed claims');
      }
      const session: EdgeSession = {
        clientWorkloadId: payload.sub!,
        resourceSetId: payload.rs,
        trustProviderIds: payload.tp as string[],
        claims: (payload.claims as Record<string, string> | undefined) ?? {},
        jkt: cnf.jkt,
        expiresAt: new Date(payload.exp! * 1000),
      };
      this.#verified.set(token, session);
      return session;
    } catch {
      // One answer for every failure: the SDK re-attests from scratch.
      throw new EdgeError('invalid_edge_token', 'The edge token is not valid or has expired; attest again');
    }
  }
}
