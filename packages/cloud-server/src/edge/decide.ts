import {
  TesseraError,
  type ClientWorkloadInfo,
  type Credential,
  type ProviderRegistry,
  type ResourceSetInfo,
  type ServerWorkloadInfo,
} from '@tessera/providers';
import type { SecretBox } from '../crypto/secret-box.js';
import { openSecrets } from '../objects/secrets.js';
import type { EdgeSession } from './edge-token.js';
import { EdgeError } from './errors.js';
import type { IndexedPolicy, IndexedServer, PolicyIndex, Target } from './policy-index.js';
import type { ProviderConfigs } from './provider-configs.js';
import type { SignJwt } from './workload-signer.js';

export interface DecisionContext {
  index: PolicyIndex;
  registry: ProviderRegistry;
  configs: ProviderConfigs;
  box: SecretBox;
  issuer: string;
  now: () => Date;
  fetch: typeof fetch;
  /** The JWT signer for workloads of this resource set (see workload-signer.ts). */
  signerFor: (resourceSet: ResourceSetInfo) => SignJwt;
  sourceIp: string;
}

export interface ConditionOutcome {
  id: string;
  name: string;
  type: string;
  passed: boolean;
  reason?: string;
}

/** What a decision found, allowed or not: the audit event is built from it. */
export interface DecisionTrace {
  server?: IndexedServer;
  policy?: IndexedPolicy;
  trustProviderId?: string;
  conditions: ConditionOutcome[];
}

export interface Allowed {
  credential: Credential;
  server: IndexedServer;
  policy: IndexedPolicy;
}

/**
 * The access decision for one target: server workload, policy, trust, conditions, credential.
 * Each policy linking client and server is tried in turn; the first that passes every check
 * issues the credential. When none passes, the refusal of the last one tried is the answer.
 * Throws EdgeError with the deny reason; `trace` records how far the decision got.
 */
export async function decide(session: EdgeSession, target: Target, ctx: DecisionContext, trace: DecisionTrace): Promise<Allowed> {
  const client = ctx.index.client(session.clientWorkloadId);
  if (!client) throw new EdgeError('invalid_edge_token', 'The client workload no longer exists or is disabled; attest again');
  // The token's set is the client's, and only that set's objects take part from here on.
  const resourceSet = ctx.index.resourceSetById(session.resourceSetId);
  if (!resourceSet || client.resourceSetId !== resourceSet.id) {
    throw new EdgeError('invalid_edge_token', 'The edge token is not valid for this client workload\'s resource set (or the set is disabled); attest again');
  }
  const server = ctx.index.resolveServer(session.resourceSetId, target);
  if (!server) throw new EdgeError('no_server_workload', 'No server workload matches the target');
  trace.server = server;
  const policies = ctx.index.policiesFor(client.id, server.id);
  if (policies.length === 0) throw new EdgeError('no_matching_policy', `No access policy lets this workload call ${server.name}`);

  // What conditions and the credential provider are told about the two sides, built once.
  const parties: Parties = {
    client: { id: client.id, name: client.name, claims: session.claims },
    server: { id: server.id, name: server.name, host: server.host, port: server.port, scheme: server.scheme },
    resourceSet: { id: resourceSet.id, name: resourceSet.name },
  };
  let refusal: EdgeError | undefined;
  for (const policy of policies) {
    trace.policy = policy;
    trace.conditions = [];
    const trustProviderId = session.trustProviderIds.find((id) => policy.trustProviderIds.has(id));
    if (!trustProviderId) {
      refusal = new EdgeError('trust_provider_mismatch', `Policy ${policy.name} requires a trust provider that did not verify this workload`);
      continue;
    }
    trace.trustProviderId = trustProviderId;
    refusal = await checkConditions(policy, parties, ctx, trace);
    if (refusal) continue;
    return { credential: await issue(policy, parties, ctx), server, policy };
  }
  throw refusal!;
}

interface Parties {
  client: ClientWorkloadInfo;
  server: ServerWorkloadInfo;
  resourceSet: ResourceSetInfo;
}

async function checkConditions(
  policy: IndexedPolicy,
  parties: Parties,
  ctx: DecisionContext,
  trace: DecisionTrace,
): Promise<EdgeError | undefined> {
  for (const conditionId of policy.accessConditionIds) {
    const condition = ctx.index.condition(conditionId)!;
    const provider = ctx.registry.getAccessCondition(condition.type);
    let outcome: ConditionOutcome;
    let cause: unknown;
    try {
      if (!provider) throw new Error(`condition type "${condition.type}" is not installed`);
      const result = await provider.evaluate(
        {
          now: ctx.now(),
          sourceIp: ctx.sourceIp,
          clientWorkload: parties.client,
          serverWorkload: parties.server,
          claims: parties.client.claims,
        },
        ctx.configs.get(condition, provider),
      );
      outcome = { id: condition.id, name: condition.name, type: condition.type, passed: result.passed, ...(result.reason ? { reason: result.reason } : {}) };
    } catch (error) {
      // A condition that cannot be evaluated fails closed. Only a provider's own (TesseraError)
      // message is said; anything else may quote an upstream, and goes to the server log.
      cause = error;
      const why = error instanceof TesseraError ? `: ${error.message}` : '';
      outcome = { id: condition.id, name: condition.name, type: condition.type, passed: false, reason: `could not be evaluated${why}` };
    }
    trace.conditions.push(outcome);
    if (!outcome.passed) {
      return new EdgeError(
        'condition_failed',
        `Access condition ${condition.name} failed: ${outcome.reason ?? 'not satisfied'}`,
        { condition: { id: outcome.id, name: outcome.name, type: outcome.type, reason: outcome.reason ?? 'not satisfied' } },
        { cause },
      );
    }
  }
  return undefined;
}

async function issue(policy: IndexedPolicy, parties: Parties, ctx: DecisionContext): Promise<Credential> {
  const indexed = ctx.index.credentialProvider(policy.credentialProviderId);
  const provider = indexed ? ctx.registry.getCredentialProvider(indexed.type) : undefined;
  if (!indexed || !indexed.enabled || !provider) {
    throw new EdgeError('credential_provider_error', 'The policy\'s credential provider is disabled or not installed');
  }
  let credential: Credential;
  try {
    const secrets = openSecrets(ctx.box, indexed.id, indexed.secrets);
    credential = await provider.issue(
      {
        clientWorkload: parties.client,
        serverWorkload: parties.server,
        policyId: policy.id,
        resourceSet: parties.resourceSet,
      },
      ctx.configs.get(indexed, provider),
      secrets,
      { issuer: ctx.issuer, now: ctx.now, fetch: ctx.fetch, signJwt: ctx.signerFor(parties.resourceSet) },
    );
  } catch (error) {
    // Provider messages are written never to hold a secret nor an upstream's words; anything else
    // is reported generically. The cause (with its upstream details) is for the server log.
    const message = error instanceof TesseraError ? error.message : 'the credential provider failed';
    throw new EdgeError('credential_provider_error', `Credential provider ${indexed.name}: ${message}`, undefined, { cause: error });
  }
  if (!wellFormed(credential)) {
    // A custom provider's bug must not reach the SDK (or crash the request) as a half-credential.
    throw new EdgeError('credential_provider_error', `Credential provider ${indexed.name} returned a malformed credential`);
  }
  return credential;
}

function wellFormed(credential: Credential | undefined): boolean {
  if (!credential || typeof credential !== 'object') return false;
  const expiry = credential.expiresAt;
  if (expiry !== null && !(expiry instanceof Date && Number.isFinite(expiry.getTime()))) return false;
  const text = (value: unknown) => typeof value === 'string' && value.length > 0;
  switch (credential.kind) {
    case 'token':
      return text(credential.token);
    case 'basic':
      return text(credential.username) && typeof credential.password === 'string';
    case 'aws':
      return text(credential.accessKeyId) && text(credential.secretAccessKey) && (credential.sessionToken === undefined || text(credential.sessionToken));
    default:
      return false;
  }
}
