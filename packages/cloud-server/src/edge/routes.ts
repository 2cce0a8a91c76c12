import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_RESOURCE_SET } from '../objects/service.js';
import type { ProviderRegistry } from '@tessera/providers';
import type { SecretBox } from '../crypto/secret-box.js';
import type { KeyRing } from '../keys/key-ring.js';
import { attest } from './attest.js';
import type { Challenges } from './challenge.js';
import type { AuditWriter } from './audit-writer.js';
import { decide, type DecisionTrace } from './decide.js';
import type { DpopVerifier } from './dpop.js';
import { auditAttest, auditCredential } from './edge-audit.js';
import type { EdgeSession, EdgeTokens } from './edge-token.js';
import { EdgeError } from './errors.js';
import { workloadSigner } from './workload-signer.js';
import type { PolicyIndexHolder } from './index-holder.js';
import type { Target } from './policy-index.js';
import type { ProviderConfigs } from './provider-configs.js';
import type { RefusalAggregator } from './refusal-aggregator.js';
import { AttestBody, ChallengeBody, CredentialsBody, EdgeHeaders, EventsBody, MetricsBody, credentialView } from './schemas.js';
import type { SourceAddressResolver } from './source-ip.js';
import { logProviderFailures } from './upstream-log.js';
import type { RequestMetricsIngest } from '../metrics/ingest.js';
import type { LegacyEvent, MetricsReport } from '../metrics/report.js';

export interface EdgeServices {
  index: PolicyIndexHolder;
  registry: ProviderRegistry;
  configs: ProviderConfigs;
  box: SecretBox;
  keyRing: KeyRing;
  tokens: EdgeTokens;
  dpop: DpopVerifier;
  challenges: Challenges;
  audit: AuditWriter;
  /** Refused attestations of callers not identified: counted per address, reason and minute. */
  refusals: RefusalAggregator;
  /** What SDKs report about their requests, stored as request metrics. */
  metrics: RequestMetricsIngest;
  sources: SourceAddressResolver;
  outboundFetch: typeof fetch;
  /** Each trust provider's verify is given this long at an attestation. */
  verifyTimeoutMs: number;
  issuer: () => string;
  now: () => Date;
  /** Credentials without their own expiry (static API keys) are re-fetched this often. */
  staticCredentialTtlSeconds: number;
}

/** The edge API the SDK calls: attest, credentials, metrics (and the deprecated events). */
export function registerEdgeRoutes(app: FastifyInstance, edge: EdgeServices): void {
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof EdgeError) {
      logProviderFailures(request.log, error);
      if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
      return reply.status(error.statusCode).send(error.toJSON());
    }
    throw error; // the application's handler answers the rest (validation, body size ...)
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('cache-control', 'no-store');
    return payload;
  });

  const context = (request: FastifyRequest) => ({
    sourceIp: edge.sources.resolve(request.socket.remoteAddress, request.headers['x-forwarded-for']),
    sdkInstance: headerValue(request.headers['tessera-sdk-instance']),
    url: `${edge.issuer()}${request.routeOptions.url}`,
  });

  app.post('/edge/v1/challenge', { schema: { tags: ['Edge'], summary: 'A single-use nonce for evidence that must be fresh', description: 'Requires a DPoP proof header; the nonce is accepted only by an attestation proven with the same key, once, within five minutes.', security: [], body: ChallengeBody, headers: EdgeHeaders }, bodyLimit: 1024 }, async (request) => {
    const { jkt } = await edge.dpop.verify(headerValue(request.headers.dpop), 'POST', context(request).url);
    const { nonce, expiresAt } = await edge.challenges.issue(jkt);
    return { nonce, expiresAt: expiresAt.toISOString() };
  });

  app.post('/edge/v1/attest', { schema: { tags: ['Edge'], summary: 'Attest: evidence in, edge token and directory out', description: 'Requires a DPoP proof header signed by the SDK key the edge token will be bound to.', security: [], body: AttestBody, headers: EdgeHeaders }, bodyLimit: 64 * 1024 }, async (request) => {
    const { evidence, resourceSet } = request.body as { evidence: { type: string }; resourceSet?: string };
    const index = edge.index.current;
    // One set per attestation: the one the SDK names, else the default set.
    const set = index.resourceSet(resourceSet ?? DEFAULT_RESOURCE_SET);
    const meta = { ...context(request), resourceSetId: set?.id };
    let outcome: Awaited<ReturnType<typeof attest>> | undefined;
    // A provider turns any failure to check a nonce into its own refusal; a full nonce cache is
    // the answer to give instead (503, try again), not a verdict on the evidence.
    let nonceCacheFull: EdgeError | undefined;
    try {
      const { jkt } = await edge.dpop.verify(headerValue(request.headers.dpop), 'POST', meta.url);
      outcome = await attest(evidence, set, {
        index,
        registry: edge.registry,
        configs: edge.configs,
        audience: edge.issuer(),
        now: edge.now,
        fetch: edge.outboundFetch,
        verifyTimeoutMs: edge.verifyTimeoutMs,
        consumeNonce: (nonce) =>
          edge.challenges.consume(nonce, jkt).catch((error: unknown) => {
            if (error instanceof EdgeError && error.code === 'replay_cache_full') nonceCacheFull = error;
            throw error;
          }),
      });
      const issued = await edge.tokens.issue(
        {
          clientWorkloadId: outcome.client.id,
          resourceSetId: outcome.client.resourceSetId,
          trustProviderIds: outcome.trustProviders.map((tp) => tp.id),
          claims: outcome.claims,
          jkt,
        },
        outcome.evidenceExpiresAt,
      );
      await edge.audit.append(auditAttest(edge.now(), meta, evidence.type, outcome));
      return {
        edgeToken: issued.token,
        tokenType: 'DPoP',
        expiresAt: issued.expiresAt.toISOString(),
        clientWorkload: { id: outcome.client.id, name: outcome.client.name },
        reportIntervalSeconds: edge.metrics.reportIntervalSeconds,
        directory: outcome.directory.map((server) => ({
          serverWorkloadId: server.id,
          name: server.name,
          scheme: server.scheme,
          host: server.host,
          port: server.port,
          pathPrefix: server.pathPrefix,
          injection: server.injection,
        })),
      };
    } catch (error) {
      const answer = nonceCacheFull ?? error;
      const event = auditAttest(edge.now(), meta, evidence.type, outcome, answer);
      await (outcome ? edge.audit.append(event) : edge.refusals.record(event));
      throw answer;
    }
  });

  app.post('/edge/v1/credentials', { schema: { tags: ['Edge'], summary: 'Decide and issue a credential for one target', security: [{ edgeToken: [] }], body: CredentialsBody, headers: EdgeHeaders } }, async (request) => {
    const meta = context(request);
    const session = await authenticate(edge, request, meta.url);
    const { target } = request.body as { target: { scheme: string; host: string; port: number; path?: string; method?: string } };
    const normalized = normalizeTarget(target);
    const trace: DecisionTrace = { conditions: [] };
    try {
      const allowed = await decide(session, normalized, {
        index: edge.index.current,
        registry: edge.registry,
        configs: edge.configs,
        box: edge.box,
        issuer: edge.issuer(),
        now: edge.now,
        fetch: edge.outboundFetch,
        signerFor: (resourceSet) => workloadSigner(edge.keyRing, edge.issuer(), resourceSet),
        sourceIp: meta.sourceIp,
      }, trace);
      const expiresAt =
        allowed.credential.expiresAt ?? new Date(edge.now().getTime() + edge.staticCredentialTtlSeconds * 1000);
      await edge.audit.append(auditCredential(edge.now(), meta, session, normalized, trace, allowed.credential.kind));
      return {
        credential: credentialView(allowed.credential),
        injection: allowed.server.injection,
        expiresAt: expiresAt.toISOString(),
        serverWorkloadId: allowed.server.id,
        policyId: allowed.policy.id,
      };
    } catch (error) {
      await edge.audit.append(auditCredential(edge.now(), meta, session, normalized, trace, undefined, error));
      throw error;
    }
  });

  app.post(
    '/edge/v1/metrics',
    {
      schema: {
        tags: ['Edge'],
        summary: 'Report request metrics: counts and latency histograms per server workload, outcome and status class',
        description: 'Stored per minute; a report id is counted once, however often the report is retried.',
        security: [{ edgeToken: [] }],
        body: MetricsBody,
        headers: EdgeHeaders,
      },
      bodyLimit: 256 * 1024,
    },
    async (request) => {
      const session = await authenticate(edge, request, context(request).url);
      const stored = await edge.metrics.report(session, edge.index.current, request.body as MetricsReport);
      return { ...stored, reportIntervalSeconds: edge.metrics.reportIntervalSeconds };
    },
  );

  app.post(
    '/edge/v1/events',
    {
      schema: {
        tags: ['Edge'],
        summary: 'Deprecated: report requests one by one (SDKs before request metrics)',
        description: 'Each event is added to the request metrics of its minute, as one request. Use POST /edge/v1/metrics.',
        deprecated: true,
        security: [{ edgeToken: [] }],
        body: EventsBody,
        headers: EdgeHeaders,
      },
      bodyLimit: 256 * 1024,
    },
    async (request, reply) => {
      const session = await authenticate(edge, request, context(request).url);
      const { events } = request.body as { events: LegacyEvent[] };
      await edge.metrics.events(session, edge.index.current, events);
      return reply.status(202).send({ accepted: events.length });
    },
  );
}

/** A target as the policy index matches it: host in lower case, path `/` when none was given. */
function normalizeTarget(target: { scheme: string; host: string; port: number; path?: string }): Target {
  return { scheme: target.scheme, host: target.host.toLowerCase(), port: target.port, path: target.path ?? '/' };
}

/** The scheme is case-insensitive (RFC 9110 §11.1), followed by one or more spaces. */
const DPOP_AUTHORIZATION = /^DPoP +([A-Za-z0-9._-]+)$/i;

/**
 * The one way an edge-token route knows its caller: `Authorization: DPoP <edge token>`, a proof
 * bound to that token, and a client workload that still exists, enabled, in the token's
 * resource set. A token outlives none of those: disabling or deleting the client workload (or
 * its resource set) ends it at once, whatever its expiry.
 */
async function authenticate(edge: EdgeServices, request: FastifyRequest, url: string): Promise<EdgeSession> {
  const match = DPOP_AUTHORIZATION.exec(request.headers.authorization ?? '');
  if (!match) throw new EdgeError('invalid_edge_token', 'An edge token is required: Authorization: DPoP <token>');
  const session = await edge.tokens.verify(match[1]!);
  const { jkt } = await edge.dpop.verify(headerValue(request.headers.dpop), request.method, url, match[1]!);
  if (jkt !== session.jkt) throw new EdgeError('invalid_dpop_proof', 'The proof key is not the key this edge token is bound to');
  const client = edge.index.current.client(session.clientWorkloadId);
  if (client?.resourceSetId !== session.resourceSetId) {
    throw new EdgeError('invalid_edge_token', 'The client workload no longer exists or is disabled; attest again');
  }
  return session;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
