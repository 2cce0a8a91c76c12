/**
 * Plugin contracts, version `v1`.
 *
 * A provider is a plain object: a `type` name, JSON schemas for its configuration and one
 * or more functions. Built-in and custom providers have exactly the same shape and are
 * added to a `ProviderRegistry` by the caller; nothing registers itself on import.
 *
 * Every provider kind may define an optional `validate(config)` hook for checks a JSON
 * schema cannot express (a CIDR's prefix range, an IANA time zone). The cloud server calls
 * it on admin writes after the schema accepted the value; it returns error messages
 * (empty when valid) that name the offending field and never contain secret values.
 */
import type { TSchema } from 'typebox';
import type { Evidence, SpecificationVersion } from './collector-contract.js';

export type { CollectContext, Evidence, EvidenceCollector, SpecificationVersion } from './collector-contract.js';

// ---------------------------------------------------------------------------------------
// Trust: verification (cloud side); the collecting half's contract is in collector-contract.ts
// ---------------------------------------------------------------------------------------

/** What a trust provider vouches for once the evidence verified. */
export interface VerifiedIdentity {
  /** Verified claims, namespaced by provider: `kubernetes.namespace`, `github.repository` ... */
  claims: Record<string, string>;
  /** When the evidence stops being valid; the edge token never outlives it. */
  expiresAt?: Date;
  subject?: string;
}

export interface VerifyContext {
  /** Audience the evidence must be bound to: this cloud. */
  audience: string;
  now: () => Date;
  /** Fetch to use for outbound calls (JWKS, STS ...), only to configured URLs. */
  fetch: typeof fetch;
  signal?: AbortSignal;
  /**
   * Checks a nonce the cloud issued to this SDK (`POST /edge/v1/challenge`) and uses it up:
   * true once, for the proof key that asked for it; false for anything else. For evidence that
   * must be fresh and bound to this attestation, such as a signed cloud API request that would
   * otherwise be replayable for minutes. Absent where no attestation is in progress.
   */
  consumeNonce?: (nonce: string) => Promise<boolean>;
}

export interface TrustProvider<C = unknown> {
  readonly specificationVersion: SpecificationVersion;
  /** Provider type, e.g. `kubernetes-service-account`. */
  readonly type: string;
  /** Evidence type this provider verifies, e.g. `jwt`. */
  readonly evidenceType: string;
  readonly configSchema: TSchema;
  /**
   * Which issuers' evidence `config` accepts: the `iss` values of the JWT in `evidence.token`.
   * The control plane reads that `iss` without verifying anything (`claimedIssuer`) and asks
   * only the providers that accept it, so a slow or unreachable key endpoint delays only the
   * evidence of its own issuer. `null` says evidence of this type names no issuer (a signed AWS
   * request, an instance identity document): the provider is then asked about every evidence
   * of its `evidenceType`.
   */
  acceptedIssuers(config: C): readonly string[] | null;
  /** Verifies the evidence; throws `TrustError` when it does not verify. */
  verify(evidence: Evidence, config: C, ctx: VerifyContext): Promise<VerifiedIdentity>;
  validate?(config: C): string[];
}

// ---------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------

export interface TokenCredential {
  kind: 'token';
  token: string;
  /** `null`: does not expire (a static API key). */
  expiresAt: Date | null;
}

export interface BasicCredential {
  kind: 'basic';
  username: string;
  password: string;
  expiresAt: Date | null;
}

export interface AwsCredential {
  kind: 'aws';
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiresAt: Date | null;
}

export type Credential = TokenCredential | BasicCredential | AwsCredential;

export interface ClientWorkloadInfo {
  id: string;
  name: string;
  /** Claims verified when this workload attested. */
  claims: Record<string, string>;
}

export interface ServerWorkloadInfo {
  id: string;
  name: string;
  host: string;
  port: number;
  scheme: string;
}

/** A resource set: the tenant the client workload, the server workload and the policy belong to. */
export interface ResourceSetInfo {
  id: string;
  name: string;
}

export interface CredentialRequest {
  clientWorkload: ClientWorkloadInfo;
  serverWorkload: ServerWorkloadInfo;
  policyId: string;
  /**
   * The resource set of all three. Every JWT `ctx.signJwt` signs carries it as the `resource_set`
   * claim (set by the control plane; a provider cannot set or override it); use
   * `workloadSubject(request)` for a `sub` that is unique across resource sets.
   */
  resourceSet: ResourceSetInfo;
}

export interface SignJwtOptions {
  audience: string | string[];
  subject: string;
  lifetimeSeconds: number;
  /**
   * The signature algorithm; ES256 when omitted. RS256 exists for relying parties that accept
   * only RSA signatures, such as Microsoft Entra ID (it refuses ES256 federated assertions).
   */
  algorithm?: 'ES256' | 'RS256';
}

export interface CredentialContext {
  /** The cloud's issuer URL. */
  issuer: string;
  now: () => Date;
  fetch: typeof fetch;
  /**
   * Signs a JWT with the cloud's key (for providers that mint tokens, e.g. token exchange). The
   * control plane adds `iss`, `iat`, `exp`, `jti` and the `resource_set` claim (`{id, name}` of
   * `request.resourceSet`); a payload that sets any of them, or `sub`/`aud`, is refused.
   */
  signJwt?: (claims: Record<string, unknown>, options: SignJwtOptions) => Promise<string>;
  signal?: AbortSignal;
}

export interface CredentialProvider<C = unknown, S = unknown> {
  readonly specificationVersion: SpecificationVersion;
  readonly type: string;
  /** Non-secret configuration, returned by admin reads. */
  readonly configSchema: TSchema;
  /** Write-only secrets, encrypted at rest and never returned. */
  readonly secretsSchema: TSchema;
  /** Issues a credential; throws `CredentialError` when it cannot. */
  issue(request: CredentialRequest, config: C, secrets: S, ctx: CredentialContext): Promise<Credential>;
  validate?(config: C): string[];
}

// ---------------------------------------------------------------------------------------
// Access conditions
// ---------------------------------------------------------------------------------------

export interface ConditionContext {
  now: Date;
  /** Source address of the workload's request, as resolved by the cloud (trusted proxies). */
  sourceIp: string;
  clientWorkload: ClientWorkloadInfo;
  serverWorkload: ServerWorkloadInfo;
  claims: Record<string, string>;
}

export interface ConditionResult {
  passed: boolean;
  /** Short human sentence for audit and the denied caller; never a secret. */
  reason?: string;
}

export interface AccessCondition<C = unknown> {
  readonly specificationVersion: SpecificationVersion;
  readonly type: string;
  readonly configSchema: TSchema;
  /** Returns the result; throws `ConditionError` only when it cannot decide. */
  evaluate(ctx: ConditionContext, config: C): Promise<ConditionResult>;
  validate?(config: C): string[];
}
