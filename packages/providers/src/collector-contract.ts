/**
 * Plugin contract `v1`, the collecting half: what an evidence collector is, for the workload
 * side, and `defineEvidenceCollector`. Kept apart from contracts.ts and define.ts so that it
 * names no schema library: the SDK and a custom collector need nothing else. Both re-export it.
 */

export type SpecificationVersion = 'v1';

/** Platform evidence sent by a workload, e.g. `{ type: 'jwt', token }`. */
export interface Evidence {
  type: string;
  [key: string]: unknown;
}

export interface CollectContext {
  /** Audience to request for the evidence: the cloud's URL. */
  audience: string;
  signal?: AbortSignal;
  /**
   * Asks the cloud for a fresh, single-use nonce bound to this SDK's proof key, to put inside
   * the evidence (see `VerifyContext.consumeNonce`). Calls the cloud: use it only when needed.
   */
  nonce?: () => Promise<string>;
}

/** Workload-side half of a trust provider: gathers evidence from the runtime. */
export interface EvidenceCollector {
  readonly specificationVersion: SpecificationVersion;
  /** Same name as the matching trust provider, e.g. `kubernetes-service-account`. */
  readonly type: string;
  readonly evidenceType: string;
  /** Whether this collector can run here (the token file exists, the env var is set ...). */
  detect(): Promise<boolean>;
  collect(ctx: CollectContext): Promise<Evidence>;
}

/** Identity helper for writing a collector (see define.ts): returns its argument, typed. */
export function defineEvidenceCollector(collector: EvidenceCollector): EvidenceCollector {
  return collector;
}
