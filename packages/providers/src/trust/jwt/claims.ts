/**
 * Reading verified JWT claims into Tessera's flat `Record<string, string>` of claims.
 * Failures name the claim, never its value.
 */
import type { JWTPayload } from 'jose';
import { TrustError } from '../../errors.js';

/** Claim names copied as `<prefix>.<name>`: no spaces, brackets or oddities in policy keys. */
export const COPIED_CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Longest claim value copied; longer ones are refused rather than cut. */
const MAX_CLAIM_VALUE_LENGTH = 4096;

/** A scalar claim as a string; `undefined` for objects, arrays, null and non-finite numbers. */
export function claimAsString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** Every top-level scalar claim whose name fits `COPIED_CLAIM_NAME`, as `<prefix><name>`. */
export function copyScalarClaims(payload: JWTPayload, prefix: string): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (!COPIED_CLAIM_NAME.test(name)) continue;
    const text = claimAsString(value);
    if (text !== undefined && text.length <= MAX_CLAIM_VALUE_LENGTH) claims[`${prefix}${name}`] = text;
  }
  return claims;
}

/** Reads claims of one object (the payload or a nested claim object) for one provider. */
export class ClaimReader {
  readonly #source: Record<string, unknown>;
  readonly #provider: string;
  readonly #path: string;

  constructor(source: Record<string, unknown>, provider: string, path = '') {
    this.#source = source;
    this.#provider = provider;
    this.#path = path;
  }

  #name(claim: string): string {
    return this.#path === '' ? claim : `${this.#path}.${claim}`;
  }

  /** A non-empty scalar claim as a string, or `undefined` when absent. Throws when it is not scalar. */
  optional(claim: string): string | undefined {
    const value = this.#source[claim];
    if (value === undefined || value === null) return undefined;
    const text = claimAsString(value);
    if (text === undefined || text.length === 0 || text.length > MAX_CLAIM_VALUE_LENGTH) {
      throw new TrustError('evidence_invalid', `"${this.#name(claim)}" claim is invalid`, { provider: this.#provider });
    }
    return text;
  }

  /** A non-empty scalar claim as a string; throws `evidence_invalid` when absent. */
  required(claim: string): string {
    const text = this.optional(claim);
    if (text === undefined) throw new TrustError('evidence_invalid', `missing "${this.#name(claim)}" claim`, { provider: this.#provider });
    return text;
  }

  /** A nested claim object, or `undefined` when absent; throws when it is not an object. */
  object(claim: string): ClaimReader | undefined {
    const value = this.#source[claim];
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TrustError('evidence_invalid', `"${this.#name(claim)}" claim is invalid`, { provider: this.#provider });
    }
    return new ClaimReader(value as Record<string, unknown>, this.#provider, this.#name(claim));
  }
}

/** The `token` of `{ type: evidenceType, token }` evidence; anything else is `evidence_invalid`. */
export function readEvidenceToken(evidence: unknown, evidenceType: string, provider: string): string {
  const candidate = typeof evidence === 'object' && evidence !== null ? (evidence as Record<string, unknown>) : {};
  if (candidate.type !== evidenceType || typeof candidate.token !== 'string') {
    throw new TrustError('evidence_invalid', `evidence must be { type: '${evidenceType}', token }`, { provider });
  }
  return candidate.token;
}
