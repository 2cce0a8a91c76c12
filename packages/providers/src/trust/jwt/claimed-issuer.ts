/**
 * The issuer a piece of evidence claims, read without verifying anything: the `iss` of a JWT in
 * `evidence.token`. The control plane uses it only to choose which trust providers to ask
 * (`TrustProvider.acceptedIssuers`); every provider asked still verifies `iss` exactly, with the
 * signature. Cheap on purpose: no signature, no fetch, bounded sizes.
 */
import { decodeJwt } from 'jose';
import { MAX_JWT_EVIDENCE_BYTES } from './evidence.js';

/** Issuers longer than this are no issuer any provider is configured with (config caps them at 2048). */
const MAX_ISSUER_LENGTH = 2048;

/** The `iss` of `evidence.token` when it is a JWT that names one; `undefined` otherwise. */
export function claimedIssuer(evidence: Readonly<Record<string, unknown>>): string | undefined {
  const token = evidence.token;
  if (typeof token !== 'string' || token.length > MAX_JWT_EVIDENCE_BYTES) return undefined;
  try {
    const { iss } = decodeJwt(token);
    return typeof iss === 'string' && iss.length > 0 && iss.length <= MAX_ISSUER_LENGTH ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** The accepted issuer a token names, else the first accepted one (verification then refuses the token's `iss`). */
export function issuerToVerify(token: string, accepted: readonly string[]): string {
  const claimed = claimedIssuer({ token });
  return claimed !== undefined && accepted.includes(claimed) ? claimed : (accepted[0] as string);
}
