import { TesseraError, TrustError, claimedIssuer, type Evidence, type ProviderRegistry, type TrustProvider, type VerifiedIdentity } from '@tessera/providers';
import { EdgeError } from './errors.js';
import type { IndexedClient, IndexedResourceSet, IndexedServer, IndexedTrustProvider, PolicyIndex } from './policy-index.js';
import type { ProviderConfigs } from './provider-configs.js';

export interface AttestContext {
  index: PolicyIndex;
  registry: ProviderRegistry;
  configs: ProviderConfigs;
  /** The audience evidence must be bound to: this cloud. */
  audience: string;
  now: () => Date;
  fetch: typeof fetch;
  /** Each trust provider's verify is given this long; then it counts as unable to check. */
  verifyTimeoutMs: number;
  /** Uses up a nonce from `POST /edge/v1/challenge` issued to the attesting SDK's key. */
  consumeNonce?: (nonce: string) => Promise<boolean>;
}

export interface Attestation {
  client: IndexedClient;
  /** Trust providers whose verified claims matched the client. */
  trustProviders: IndexedTrustProvider[];
  claims: Record<string, string>;
  evidenceExpiresAt: Date | undefined;
  directory: IndexedServer[];
}

interface Verified {
  trustProvider: IndexedTrustProvider;
  identity: VerifiedIdentity;
}

interface Candidate {
  trustProvider: IndexedTrustProvider;
  provider: TrustProvider;
}

/**
 * Attests into one resource set (`set`, resolved from what the SDK named; undefined when it names
 * none that is enabled). Only that set's enabled trust providers of the evidence's type and issuer
 * verify it, each within `verifyTimeoutMs`, and each applies its rules; then the one client
 * workload of that set whose identities all match one provider's verified claims is chosen. The
 * most specific workload (most identities) wins; a tie is refused rather than guessed.
 */
export async function attest(evidence: Evidence, set: IndexedResourceSet | undefined, ctx: AttestContext): Promise<Attestation> {
  const candidates = set === undefined ? [] : candidatesFor(evidence, set, ctx);
  if (candidates.length === 0) {
    // The same answer whether the set is unknown, disabled or has no provider for this evidence:
    // an unauthenticated caller learns nothing about which sets exist.
    throw new EdgeError(
      'unsupported_evidence',
      `No trust provider of the resource set accepts this evidence (type "${evidence.type}"): check the resource set the workload names (TESSERA_RESOURCE_SET) and its trust providers`,
    );
  }
  const consumeNonce = sharedNonceConsumer(ctx.consumeNonce);
  const outcomes = await Promise.allSettled(
    candidates.map(async ({ trustProvider, provider }): Promise<Verified> => {
      const config = ctx.configs.get(trustProvider, provider);
      const identity = await withinTime(ctx.verifyTimeoutMs, trustProvider, (signal) =>
        provider.verify(evidence, config, { audience: ctx.audience, now: ctx.now, fetch: ctx.fetch, signal, ...(consumeNonce ? { consumeNonce } : {}) }),
      );
      for (const rule of trustProvider.rules) {
        const value = identity.claims[rule.claim];
        if (value === undefined || !rule.matches(value)) {
          throw new TesseraError('evidence_invalid', `claim "${rule.claim}" does not satisfy a rule of the trust provider`);
        }
      }
      return { trustProvider, identity };
    }),
  );
  const verified = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  if (verified.length === 0) throw failure(outcomes.map((o) => (o as PromiseRejectedResult).reason));

  const best = mostSpecificClient(set!.clients, verified);
  const expiries = best.matches.map((m) => m.identity.expiresAt?.getTime()).filter((t): t is number => t !== undefined);
  return {
    client: best.client,
    trustProviders: best.matches.map((m) => m.trustProvider),
    claims: Object.assign({}, ...best.matches.map((m) => m.identity.claims)) as Record<string, string>,
    evidenceExpiresAt: expiries.length > 0 ? new Date(Math.min(...expiries)) : undefined,
    directory: ctx.index.directoryFor(best.client.id),
  };
}

/**
 * The set's trust providers that may accept this evidence: of its type, and accepting the issuer
 * it claims (or naming no issuer at all). A provider whose config cannot be read is asked, so
 * that its refusal says why.
 */
function candidatesFor(evidence: Evidence, set: IndexedResourceSet, ctx: AttestContext): Candidate[] {
  const issuer = claimedIssuer(evidence);
  return set.trustProviders.flatMap((trustProvider) => {
    const provider = ctx.registry.getTrustProvider(trustProvider.type);
    if (provider?.evidenceType !== evidence.type) return [];
    let accepted: readonly string[] | null;
    try {
      accepted = provider.acceptedIssuers(ctx.configs.get(trustProvider, provider));
    } catch {
      accepted = null;
    }
    const asked = accepted === null || (issuer !== undefined && accepted.includes(issuer));
    return asked ? [{ trustProvider, provider }] : [];
  });
}

/** Several trust providers may check the same evidence: the nonce is used up once, and all see that answer. */
function sharedNonceConsumer(consume: AttestContext['consumeNonce']): AttestContext['consumeNonce'] {
  if (!consume) return undefined;
  const consumed = new Map<string, Promise<boolean>>();
  return (nonce) => {
    let answer = consumed.get(nonce);
    if (answer === undefined) consumed.set(nonce, (answer = consume(nonce)));
    return answer;
  };
}

/** Runs one provider's verify, abandoned (and its signal aborted) after `ms`: one slow provider never holds the answer longer. */
async function withinTime<T>(ms: number, trustProvider: IndexedTrustProvider, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new TrustError('trust_provider_error', `did not answer within ${ms} ms`, { provider: trustProvider.type }));
    }, ms);
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The one client workload whose identities all match one provider's verified claims; the most identities win. */
function mostSpecificClient(clients: readonly IndexedClient[], verified: Verified[]): { client: IndexedClient; matches: Verified[] } {
  let best: { client: IndexedClient; matches: Verified[] } | undefined;
  let tie = false;
  for (const client of clients) {
    const matches = verified.filter((v) =>
      client.identities.every((identity) => {
        const value = v.identity.claims[identity.claim];
        return value !== undefined && identity.matches(value);
      }),
    );
    if (matches.length === 0) continue;
    if (!best || client.identities.length > best.client.identities.length) {
      best = { client, matches };
      tie = false;
    } else if (client.identities.length === best.client.identities.length) {
      tie = true;
    }
  }
  if (!best) throw new EdgeError('no_client_workload', 'The verified identity matches no client workload');
  if (tie) {
    throw new EdgeError('ambiguous_client_workload', 'The verified identity matches several client workloads equally; make their identities more specific');
  }
  return best;
}

/** The most telling reason among the providers' refusals; messages are the providers' own (never a token). */
function failure(reasons: unknown[]): EdgeError {
  const codes = reasons.map((r) => (r instanceof TesseraError ? r.code : 'trust_provider_error'));
  const expired = reasons.find((r) => r instanceof TesseraError && r.code === 'evidence_expired') as TesseraError | undefined;
  // The providers' errors, with what their upstreams did, go to the server log only.
  const cause = { cause: reasons };
  // The provider's reason tells an operator which limit was hit (a token's exp, a maxAge ...).
  if (expired) return new EdgeError('evidence_expired', `The evidence has expired: ${expired.message}`, undefined, cause);
  if (codes.every((c) => c === 'trust_provider_error')) {
    return new EdgeError('trust_provider_error', 'No trust provider could check the evidence (key source unavailable)', undefined, cause);
  }
  const first = reasons.find((r) => r instanceof TesseraError && r.code !== 'trust_provider_error') as TesseraError | undefined;
  return new EdgeError('evidence_invalid', `The evidence did not verify${first ? `: ${first.message}` : ''}`, undefined, cause);
}
