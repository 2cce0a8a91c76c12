import { TesseraError, type Evidence, type ProviderRegistry, type VerifiedIdentity } from '@tessera/providers';
import { EdgeError } from './errors.js';
import type { IndexedClient, IndexedServer, IndexedTrustProvider, PolicyIndex } from './policy-index.js';
import type { ProviderConfigs } from './provider-configs.js';

export interface AttestContext {
  index: PolicyIndex;
  registry: ProviderRegistry;
  configs: ProviderConfigs;
  /** The audience evidence must be bound to: this cloud. */
  audience: string;
  now: () => Date;
  fetch: typeof fetch;
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

/**
 * Verifies evidence with every enabled trust provider of its type, applies each provider's rules,
 * and finds the one client workload whose identities all match one provider's verified claims.
 * The most specific workload (most identities) wins; a tie is refused rather than guessed.
 */
export async function attest(evidence: Evidence, ctx: AttestContext): Promise<Attestation> {
  // Several trust providers may check the same evidence: the nonce is used up once per
  // attestation, and every provider sees that one answer.
  const consumed = new Map<string, Promise<boolean>>();
  const consumeNonce =
    ctx.consumeNonce &&
    ((nonce: string) => {
      let answer = consumed.get(nonce);
      if (answer === undefined) consumed.set(nonce, (answer = ctx.consumeNonce!(nonce)));
      return answer;
    });
  const candidates = ctx.index.trustProviders.filter(
    (tp) => tp.enabled && ctx.registry.getTrustProvider(tp.type)?.evidenceType === evidence.type,
  );
  if (candidates.length === 0) {
    throw new EdgeError('unsupported_evidence', `No trust provider accepts evidence of type "${evidence.type}"`);
  }
  const outcomes = await Promise.allSettled(
    candidates.map(async (trustProvider): Promise<Verified> => {
      const provider = ctx.registry.getTrustProvider(trustProvider.type)!;
      const config = ctx.configs.get(trustProvider, provider);
      const identity = await provider.verify(evidence, config, { audience: ctx.audience, now: ctx.now, fetch: ctx.fetch, ...(consumeNonce ? { consumeNonce } : {}) });
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

  let best: { client: IndexedClient; matches: Verified[] } | undefined;
  let tie = false;
  for (const client of ctx.index.clients) {
    const matches = verified.filter(
      (v) =>
        v.trustProvider.resourceSetId === client.resourceSetId &&
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
  const expiries = best.matches.map((m) => m.identity.expiresAt?.getTime()).filter((t): t is number => t !== undefined);
  return {
    client: best.client,
    trustProviders: best.matches.map((m) => m.trustProvider),
    claims: Object.assign({}, ...best.matches.map((m) => m.identity.claims)) as Record<string, string>,
    evidenceExpiresAt: expiries.length > 0 ? new Date(Math.min(...expiries)) : undefined,
    directory: ctx.index.directoryFor(best.client.id),
  };
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
