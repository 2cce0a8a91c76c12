import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import ajvFormats from 'ajv-formats';
import type { ProviderRegistry } from '@tessera/providers';
import { DEFAULT_TIMEOUTS, type ServerTimeouts } from './config.js';
import { installErrorHandler, ErrorResponse } from './api/error-handler.js';
import { installJsonBodyParser } from './api/json-body.js';
import { ApiError } from './api/errors.js';
import { registerObjectRoutes } from './api/admin-routes.js';
import { registerAuditRoutes } from './api/audit-routes.js';
import { registerRequestMetricsRoutes } from './api/request-metrics-routes.js';
import { registerSigningKeyRoutes } from './api/signing-key-routes.js';
import { registerPublicRoutes } from './api/public-routes.js';
import { authenticateAdmin } from './auth/authenticate.js';
import type { Principal } from './auth/roles.js';
import type { SecretBox } from './crypto/secret-box.js';
import type { KeyRing } from './keys/key-ring.js';
import { ObjectService } from './objects/service.js';
import { typedSchemaLookup } from './objects/registry-schemas.js';
import { providerDestinationGuard, type DestinationGuard } from './egress/destination-guard.js';
import type { Store } from './store/types.js';
import { AuditWriter } from './edge/audit-writer.js';
import { DpopVerifier } from './edge/dpop.js';
import { EdgeTokens } from './edge/edge-token.js';
import { Challenges } from './edge/challenge.js';
import { PolicyIndexHolder } from './edge/index-holder.js';
import { RefusalAggregator } from './edge/refusal-aggregator.js';
import { createOutboundFetch } from './egress/outbound-fetch.js';
import { ProviderConfigs } from './edge/provider-configs.js';
import { registerEdgeRoutes } from './edge/routes.js';
import { RequestMetricsIngest, type RequestMetricsOptions } from './metrics/ingest.js';
import { SourceAddressResolver } from './edge/source-ip.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export const BODY_LIMIT = 1024 * 1024;
/**
 * How often Node looks for connections past their headers or request deadline (its default,
 * 30 s, would let a slow client hold a connection up to 30 s past the deadline).
 */
const DEADLINE_CHECK_INTERVAL_MS = 500;

/** What the HTTP parser's errors answer, by Node's error code; written straight to the socket. */
const CLIENT_ERRORS: Record<string, { status: string; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: '431 Request Header Fields Too Large', code: 'headers_too_large', message: 'Request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: '408 Request Timeout', code: 'request_timeout', message: 'The request did not arrive in time' },
  default: { status: '400 Bad Request', code: 'invalid_request', message: 'The request could not be parsed' },
};

/**
 * Each trust provider's share of an attestation: under the SDK's 5 s per attempt, so a dead key
 * endpoint is answered as `trust_provider_error` rather than as a timeout. A key fetch still in
 * flight carries on and fills the provider's cache for the next attestation.
 */
export const DEFAULT_TRUST_PROVIDER_TIMEOUT_MS = 4000;

// ajv-formats is CommonJS: under Node's ESM interop its plugin is the module's `default`.
const formatsPlugin = ((ajvFormats as unknown as { default?: unknown }).default ?? ajvFormats) as never;

export interface AppOptions {
  store: Store;
  box: SecretBox;
  keyRing: KeyRing;
  registry: ProviderRegistry;
  /**
   * The public URL of this control plane: OIDC issuer and audience of edge evidence. A function
   * when it is known only once the server listens (port 0).
   */
  publicUrl: string | (() => string);
  logger?: FastifyServerOptions['logger'];
  now?: () => Date;
  /** Proxies (IPs or CIDRs) whose X-Forwarded-For is believed when resolving a caller's address. */
  trustedProxies?: readonly string[];
  /** How long the SDK may cache a credential that has no expiry of its own (a static API key). */
  staticCredentialTtlSeconds?: number;
  /** Outbound fetch for providers (JWKS, token endpoints); tests may pass their own. */
  outboundFetch?: typeof fetch;
  /** How long each trust provider may take to verify evidence at an attestation (default 4000 ms). */
  trustProviderTimeoutMs?: number;
  /** Called when audit events were committed (wakes the audit exporter). */
  onAuditEvents?: () => void;
  /** Which destinations log streams may be written with (default: public addresses only). */
  streamGuard?: DestinationGuard;
  /** Where providers may connect (default: public and private addresses, see providerDestinationGuard). */
  providerGuard?: DestinationGuard;
  /** How long the HTTP server waits on slow clients; defaults in config.ts. */
  timeouts?: Partial<ServerTimeouts>;
  /** Most ids each replay cache remembers (DPoP proof ids, used nonces); default 200,000 each. */
  replayCacheSizes?: { proofs?: number; nonces?: number };
  /** Request metrics: the report interval SDKs are told, and limits (defaults in metrics/ingest.ts). */
  requestMetrics?: RequestMetricsOptions;
}

export interface TesseraApp {
  app: FastifyInstance;
  /** Flags the app as draining: /readyz answers 503 so load balancers stop routing to it. */
  beginShutdown(): void;
  /** Reloads what decisions read, after objects were written around the app's own service (first-start bootstrap). */
  reloadPolicies(): Promise<void>;
}

/** Builds the control plane's HTTP application (not listening yet). */
export async function buildApp(options: AppOptions): Promise<TesseraApp> {
  const { store, box, keyRing, registry } = options;
  const now = options.now ?? (() => new Date());
  const publicUrl = options.publicUrl;
  const issuer = () => (typeof publicUrl === 'string' ? publicUrl : publicUrl()).replace(/\/+$/, '');
  let shuttingDown = false;
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };

  const app: FastifyInstance = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    // A client that trickles its request in is cut off: it must not hold a connection for minutes.
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    connectionTimeout: timeouts.idleMs,
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: DEADLINE_CHECK_INTERVAL_MS },
    return503OnClosing: true,
    // Request bodies are checked, never repaired: unknown fields and wrong types are errors.
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, strict: false },
      plugins: [formatsPlugin],
    },
    routerOptions: { maxParamLength: 200 },
    // Errors raised by the router and the HTTP parser answer in our shape too, never echoing input.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const raw = reply as unknown as { status(code: number): { send(body: unknown): void } };
      raw
        .status(400)
        .send(tooLong ? { code: 'invalid_id', message: 'The id in the path is not a UUID' } : { code: 'invalid_request', message: 'The request URL is not valid' });
    },
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return socket.destroy(error);
      const answer = CLIENT_ERRORS[(error as { code?: string }).code ?? ''] ?? CLIENT_ERRORS.default!;
      const body = JSON.stringify({ code: answer.code, message: answer.message });
      socket.end(`HTTP/1.1 ${answer.status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    },
  });
  // Only JSON bodies are accepted: without Fastify's text parser, text/plain is a 415 everywhere.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  app.addSchema(ErrorResponse);
  // While draining, every response closes its connection: an idle keep-alive socket would
  // otherwise hold shutdown open until the client's own idle timeout.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (shuttingDown) void reply.header('connection', 'close');
    return payload;
  });
  installErrorHandler(app);
  // A route that declares no body takes none: one sent anyway is refused rather than ignored, so
  // a client that thinks it is passing options learns that it is not.
  app.addHook('preValidation', async (request) => {
    if (!request.is404 && request.body !== undefined && request.routeOptions.schema?.body === undefined) {
      throw new ApiError('validation_failed', 'Invalid request — /body: this route takes no request body', [{ path: '/body', message: 'this route takes no request body' }]);
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera control plane API',
        version: '1',
        description: 'Admin API (`/api/v1`), OIDC issuer documents and health probes of the Tessera cloud server.',
      },
      components: {
        securitySchemes: {
          adminKey: { type: 'http', scheme: 'bearer', description: 'An admin key (tsk_...)' },
          edgeToken: { type: 'http', scheme: 'DPoP', description: 'An edge token from /edge/v1/attest, with a DPoP proof header (RFC 9449)' },
        },
      },
      security: [{ adminKey: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (json.$id as string | undefined) ?? `def-${i}` },
  });

  // The holder follows other replicas' writes through the store's change notifications.
  const index = await PolicyIndexHolder.create(store, { onError: (error) => app.log.warn({ err: error }, 'policy reload failed') });
  // Audit events are committed by admin writes (with their change) and by the edge's group commit.
  const onAuditEvents = options.onAuditEvents ?? (() => {});
  const service = new ObjectService({
    store,
    box,
    schemas: typedSchemaLookup(registry, options.streamGuard),
    now,
    onChange: (change) => {
      index.apply(change);
      onAuditEvents();
    },
  });
  app.addHook('onClose', async () => index.close());
  if (store.dialect === 'postgres') {
    // A safety net only: notifications carry other replicas' changes; this catches anything lost.
    const timer = setInterval(() => index.refresh().catch((error: unknown) => app.log.warn({ err: error }, 'policy refresh failed')), 60_000);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
  const audit = new AuditWriter(store, { onFlushed: onAuditEvents });
  const refusals = new RefusalAggregator(audit, {
    now,
    onError: (error) => app.log.warn({ err: error }, 'refused attestations could not be recorded; will retry'),
  });
  const metrics = new RequestMetricsIngest(store, { now, ...options.requestMetrics });
  app.addHook('onClose', async () => {
    await refusals.close();
    await audit.flush();
    await metrics.flush();
  });
  // The admin API is one encapsulated plugin: its hook authenticates every route registered in
  // it, before the body is even parsed, whatever path spelling reached the route.
  await app.register(async (api) => {
    api.addHook('onRequest', async (request) => {
      request.principal = await authenticateAdmin(store, request.headers.authorization, now());
    });
    registerObjectRoutes(api, service);
    registerAuditRoutes(api, store);
    registerRequestMetricsRoutes(api, store);
    registerSigningKeyRoutes(api, store, keyRing);
  });
  await app.register(async (edgeApi) =>
    registerEdgeRoutes(edgeApi, {
      index,
      registry,
      configs: new ProviderConfigs(),
      box,
      keyRing,
      tokens: new EdgeTokens(keyRing, issuer, now),
      challenges: new Challenges(keyRing, issuer, now, { maxRememberedNonces: options.replayCacheSizes?.nonces }),
      dpop: new DpopVerifier({ now, maxRememberedProofs: options.replayCacheSizes?.proofs }),
      audit,
      refusals,
      metrics,
      sources: new SourceAddressResolver(options.trustedProxies),
      outboundFetch:
        options.outboundFetch ?? createOutboundFetch({ guard: options.providerGuard ?? providerDestinationGuard(), onRefused: refusedEgressLogger(app.log) }),
      verifyTimeoutMs: options.trustProviderTimeoutMs ?? DEFAULT_TRUST_PROVIDER_TIMEOUT_MS,
      issuer,
      now,
      staticCredentialTtlSeconds: options.staticCredentialTtlSeconds ?? 300,
    }),
  );
  registerPublicRoutes(app, { store, keyRing, issuer, isShuttingDown: () => shuttingDown });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return {
    app,
    beginShutdown: () => {
      shuttingDown = true;
    },
    reloadPolicies: () => index.refresh(),
  };
}

/**
 * Tells the operator, at most once a minute per host, that a provider's call was refused by the
 * egress guard and how to allow it; the provider itself only sees a failed connection.
 */
function refusedEgressLogger(log: FastifyInstance['log']): (host: string, error: Error) => void {
  const lastLogged = new Map<string, number>();
  return (host, error) => {
    const now = Date.now();
    if (now - (lastLogged.get(host) ?? -Infinity) < 60_000) return;
    if (lastLogged.size >= 1000) lastLogged.clear(); // bounded: an editor chooses the hosts
    lastLogged.set(host, now);
    log.warn({ host, reason: error.message }, 'a provider call was refused by the egress rule; the operator can allow the address with --provider-egress-allow');
  };
}
