/**
 * The verification core every JWT trust provider shares. It refuses what jose would
 * accept or silently ignore (oversized tokens; `jku`, `x5u`, `jwk`, `x5c`, `crit` headers),
 * pins the algorithms, issuer and audience, requires `exp`, and reads the time from
 * `ctx.now()`. Every failure becomes a `TrustError` whose message says what failed and
 * never carries the token or a claim value.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, type ProtectedHeaderParameters } from 'jose';
import type { VerifyContext } from '../../contracts.js';
import { TrustError, type TrustErrorCode } from '../../errors.js';
import { KeySourceError } from '../../http/bounded-fetch.js';
import { type BuildJwtTrustConfigOptions, buildJwtTrustConfig, type JwtTrustConfig } from './config.js';
import { MAX_JWT_EVIDENCE_BYTES } from './evidence.js';
import type { JwtKeySource } from './key-source.js';

/** Headers that let a token choose its own key or extensions; refused outright. */
export const FORBIDDEN_JWT_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'] as const;

/** Compact JWS: three base64url segments; the signature may be empty (alg none), refused later. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Keys tried when a token without `kid` matches several keys of the set. */
const MAX_KEY_CANDIDATES = 8;

export interface VerifiedJwt {
  header: ProtectedHeaderParameters;
  payload: JWTPayload & { exp: number };
  expiresAt: Date;
}

export interface VerifyJwtOptions extends BuildJwtTrustConfigOptions {
  /** Provider type, to prefix messages: `trust(oidc): "aud" mismatch`. */
  provider?: string;
}

function claimFailure(claim: string, reason: string): string {
  if (reason === 'missing') return `missing "${claim}" claim`;
  if (claim === 'iss') return 'unexpected "iss"';
  if (claim === 'aud') return '"aud" mismatch';
  if (claim === 'nbf') return 'token not yet valid ("nbf" in the future)';
  if (claim === 'iat') return '"iat" is in the future';
  if (reason === 'invalid') return `"${claim}" claim is invalid`;
  return `"${claim}" claim check failed`;
}

/** Maps jose's and the key source's failures to a code and a message without token content. */
function describeFailure(error: unknown): [TrustErrorCode, string] {
  if (error instanceof KeySourceError) return ['trust_provider_error', error.message];
  if (error instanceof errors.JWTExpired) {
    return ['evidence_expired', error.claim === 'iat' ? 'token too old ("iat" beyond maxTokenAgeSeconds)' : 'token expired ("exp")'];
  }
  if (error instanceof errors.JWTClaimValidationFailed) return ['evidence_invalid', claimFailure(error.claim, error.reason)];
  if (error instanceof errors.JOSEAlgNotAllowed) return ['evidence_invalid', '"alg" not allowed'];
  if (error instanceof errors.JWSSignatureVerificationFailed) return ['evidence_invalid', 'signature verification failed'];
  if (error instanceof errors.JWKSNoMatchingKey) return ['evidence_invalid', 'no key in the JWKS matches the token "kid" and "alg"'];
  if (error instanceof errors.JOSENotSupported) return ['evidence_invalid', 'unsupported token algorithm or key type'];
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return ['evidence_invalid', 'malformed token'];
  return ['evidence_invalid', 'token verification failed'];
}

/** jose asks the caller to try each key when several match a token without `kid`. */
async function verifyWithKeys(token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions) {
  try {
    return await jwtVerify(token, getKey, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let tried = 0;
    for await (const key of error) {
      if (++tried > MAX_KEY_CANDIDATES) break;
      try {
        return await jwtVerify(token, key, options);
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/** Checks the token's form and header before anything is fetched or verified. */
function inspectHeader(token: unknown, algorithms: readonly string[], fail: (message: string) => TrustError): string {
  if (typeof token !== 'string' || token.length === 0) throw fail('token must be a non-empty string');
  if (token.length > MAX_JWT_EVIDENCE_BYTES) throw fail('token too large');
  if (!COMPACT_JWS.test(token)) throw fail('malformed token');
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw fail('malformed token header');
  }
  for (const name of FORBIDDEN_JWT_HEADERS) {
    if (Object.hasOwn(header, name)) throw fail(`forbidden "${name}" header`);
  }
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) throw fail('"alg" not allowed');
  return token;
}

/**
 * Verifies `token` against `config` and returns its header and claims. Throws `TrustError`:
 * `evidence_expired` (exp, maxTokenAgeSeconds), `evidence_invalid` (everything about the
 * token), `trust_provider_error` (keys unavailable), `invalid_config`.
 */
export async function verifyJwt(
  token: unknown,
  config: JwtTrustConfig,
  ctx: VerifyContext,
  keySource: JwtKeySource,
  options: VerifyJwtOptions = {},
): Promise<VerifiedJwt> {
  const provider = options.provider === undefined ? {} : { provider: options.provider };
  const fail = (code: TrustErrorCode, message: string) => new TrustError(code, message, provider);
  const built = buildJwtTrustConfig(config, options);
  if (!built.ok) throw fail('invalid_config', `invalid configuration: ${built.issues.join('; ')}`);
  const { value: resolved } = built;
  const audience = resolved.audience ?? ctx.audience;
  if (typeof audience !== 'string' || audience.length === 0) throw fail('invalid_config', 'no audience to check "aud" against');

  const jwt = inspectHeader(token, resolved.algorithms, (message) => fail('evidence_invalid', message));
  const now = ctx.now();
  const verifyOptions: JWTVerifyOptions = {
    algorithms: resolved.algorithms,
    issuer: resolved.issuer,
    audience,
    clockTolerance: resolved.clockToleranceSeconds,
    currentDate: now,
    requiredClaims: ['exp'],
    ...(resolved.maxTokenAgeSeconds === undefined ? {} : { maxTokenAge: resolved.maxTokenAgeSeconds }),
  };
  let result: Awaited<ReturnType<typeof verifyWithKeys>>;
  try {
    result = await verifyWithKeys(jwt, keySource.resolver(resolved.keys, ctx.fetch), verifyOptions);
  } catch (error) {
    if (error instanceof TrustError) throw error;
    const [code, message] = describeFailure(error);
    throw fail(code, message);
  }
  const { payload, protectedHeader } = result;
  // jose checks "iat" only with maxTokenAge; a token issued in the future is refused regardless.
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds + resolved.clockToleranceSeconds) {
    throw fail('evidence_invalid', claimFailure('iat', 'check_failed'));
  }
  const exp = payload.exp as number;
  return { header: protectedHeader, payload: { ...payload, exp }, expiresAt: new Date(exp * 1000) };
}
