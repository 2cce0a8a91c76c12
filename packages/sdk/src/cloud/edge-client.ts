import { randomUUID } from 'node:crypto';
import { TesseraError, TrustError, type CollectorLoader, type Evidence, type EvidenceCollector } from '@tessera/providers/collect';
import { missingDependency, TesseraCloudError, TesseraConfigurationError } from '../errors.js';
import { pickCollector, resolveCollectors, type CollectorsOption, type EvidenceCollectorSource } from './collectors.js';
import { silentLogger, type CloudLogger } from './logger.js';
import { ProofKey } from './proof-key.js';
import type { MetricsReport } from './request-metrics.js';
import { RETRYABLE_STATUSES, withRetry, type RetryOptions } from './retry.js';
import { createHttpTransport, TransportError, type CloudResponse, type CloudTransport } from './transport.js';
import { cloudError, parseAttest, parseCredentials, parseMetricsAnswer, refusal, type DirectoryEntry, type IssuedCredential } from './wire.js';

export interface EdgeClientOptions {
  /** The cloud's public URL (its issuer), e.g. `https://tessera.example.com`. */
  cloudUrl: string;
  /** Default `'auto'`: the built-in collectors (or `registry`'s), the first whose `detect()` is true. */
  collectors?: CollectorsOption;
  /** The resource set to attest into, by name or id; default: the cloud's `default` set. */
  resourceSet?: string;
  /** Where collector names are looked up; default the built-ins. */
  registry?: EvidenceCollectorSource;
  /** Edge tokens count as expired this long before their expiry (default 60). */
  skewSeconds?: number;
  /** Total time for one cloud call, retries included (default 10 s). */
  deadlineMs?: number;
  /** Bound on a single attempt (default 5 s). */
  requestTimeoutMs?: number;
  now?: () => Date;
  logger?: CloudLogger;
  /** Default: `node:http(s)` with a keep-alive agent of its own. */
  transport?: CloudTransport;
  /** Backoff tuning and test hooks (sleep, random, clock of the deadline). */
  retry?: Omit<RetryOptions, 'deadlineMs' | 'attemptTimeoutMs'>;
  /** Sent as `tessera-sdk-instance` and recorded in audit events; default a random UUID. */
  instanceId?: string;
}

/** What an attestation established. The edge token itself is kept out of reach (and out of logs). */
export interface Session {
  readonly clientWorkload: { readonly id: string; readonly name: string };
  readonly directory: readonly DirectoryEntry[];
  readonly expiresAt: Date;
  /** Type of the collector whose evidence was used. */
  readonly collector: string;
  /** How often the control plane wants request metrics at most, when it said. */
  readonly reportIntervalSeconds?: number;
}

export interface CredentialTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path?: string;
  method?: string;
}

/** The cloud's answers that mean "this token or its proof no longer works": attest again. */
const REATTEST_CODES = new Set(['invalid_edge_token', 'invalid_dpop_proof', 'dpop_replay']);
const tokens = new WeakMap<Session, string>();
/** Statuses a report is tried again for within one send: all but 429, which means "later". */
const NOT_RATE_LIMITED: ReadonlySet<number> = new Set([...RETRYABLE_STATUSES].filter((status) => status !== 429));

/**
 * The SDK's client of the edge API: attests lazily (one attestation shared by concurrent
 * callers), renews the edge token before it expires, fetches credentials, reports request metrics.
 * Every call carries a fresh DPoP proof from the process's ephemeral key.
 */
export class EdgeClient {
  readonly cloudUrl: string;
  readonly #transport: CloudTransport;
  readonly #ownsTransport: boolean;
  readonly #collectors: readonly CollectorLoader[];
  /** One collector named by the caller: used as is, without asking `detect()` first. */
  readonly #onlyCollector: CollectorLoader | undefined;
  readonly #key: ProofKey;
  readonly #skewMs: number;
  readonly #retry: RetryOptions;
  readonly #now: () => Date;
  readonly #logger: CloudLogger;
  readonly #instanceId: string;
  readonly #resourceSet: string | undefined;
  #session: Session | undefined;
  #renewAtMs = 0;
  #attesting: Promise<Session> | undefined;

  constructor(options: EdgeClientOptions) {
    this.cloudUrl = checkCloudUrl(options.cloudUrl);
    const skewSeconds = options.skewSeconds ?? 60;
    const deadlineMs = options.deadlineMs ?? 10_000;
    if (!Number.isFinite(skewSeconds) || skewSeconds < 0) throw invalid('skewSeconds must be a number of seconds, 0 or more');
    if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) throw invalid('deadlineMs must be a positive number of milliseconds');
    this.#collectors = resolveCollectors(options.collectors ?? 'auto', options.registry);
    // Its own errors say more than "no collector can run here", and it saves a detection probe.
    this.#onlyCollector = options.collectors !== undefined && options.collectors !== 'auto' && this.#collectors.length === 1 ? this.#collectors[0] : undefined;
    this.#now = options.now ?? (() => new Date());
    this.#key = new ProofKey({ now: this.#now });
    this.#skewMs = skewSeconds * 1000;
    this.#retry = { ...options.retry, deadlineMs, attemptTimeoutMs: options.requestTimeoutMs ?? 5_000 };
    this.#logger = options.logger ?? silentLogger;
    this.#instanceId = options.instanceId ?? randomUUID();
    this.#resourceSet = checkResourceSet(options.resourceSet);
    this.#ownsTransport = options.transport === undefined;
    this.#transport = options.transport ?? createHttpTransport({ cloudUrl: this.cloudUrl });
  }

  /** The last session established, without attesting; `undefined` before the first. */
  get current(): Session | undefined {
    return this.#session;
  }

  /** When the current session should be renewed (epoch ms); 0 before the first. */
  get renewAt(): number {
    return this.#session === undefined ? 0 : this.#renewAtMs;
  }

  /** The current session; attests on first use and when the edge token is near its expiry. */
  session(): Promise<Session> {
    const current = this.#session;
    if (current && this.#now().getTime() < this.#renewAtMs) return Promise.resolve(current);
    return (this.#attesting ??= this.#attest().finally(() => {
      this.#attesting = undefined;
    }));
  }

  /** A credential for `target`, or `TesseraAccessDeniedError` with the cloud's reason. */
  async credentials(target: CredentialTarget): Promise<IssuedCredential> {
    const path = (target.path ?? '/').split(/[?#]/, 1)[0] || '/'; // a query may hold secrets: never sent
    const body = { target: { scheme: target.scheme, host: target.host.toLowerCase(), port: target.port, path, ...(target.method ? { method: target.method.toUpperCase() } : {}) } };
    const response = await this.#authorized('/edge/v1/credentials', body);
    if (response.status !== 200) throw refusal(response, `access to ${target.scheme}://${body.target.host}:${target.port}${path}`);
    return parseCredentials(response.body);
  }

  /**
   * Sends one report of request metrics. A 429 (this process reports too often) is not waited
   * for: the report is kept, and goes with a later flush.
   */
  async sendMetrics(report: MetricsReport): Promise<{ reportIntervalSeconds?: number }> {
    const response = await this.#authorized('/edge/v1/metrics', report, { ...this.#retry, retryableStatuses: NOT_RATE_LIMITED });
    if (response.status !== 200) throw refusal(response, 'the request metrics report');
    return parseMetricsAnswer(response.body);
  }

  close(): void {
    if (this.#ownsTransport) this.#transport.close();
  }

  /** A call with the edge token; when the cloud rejects the token, attest from scratch once. */
  async #authorized(path: string, body: unknown, retry = this.#retry): Promise<CloudResponse> {
    for (let retried = false; ; retried = true) {
      const session = await this.session();
      const response = await this.#post(path, body, session, retry);
      const code = cloudError(response.body).code;
      if (retried || response.status !== 401 || code === undefined || !REATTEST_CODES.has(code)) return response;
      this.#logger.warn('tessera: the cloud rejected the edge token; attesting again', { reason: code });
      if (this.#session === session) this.#session = undefined; // concurrent callers share one re-attestation
    }
  }

  async #attest(): Promise<Session> {
    const collector = this.#onlyCollector !== undefined ? await this.#onlyCollector.load() : await pickCollector(this.#collectors);
    const evidence = await this.#collect(collector);
    const response = await this.#post('/edge/v1/attest', this.#resourceSet === undefined ? { evidence } : { evidence, resourceSet: this.#resourceSet });
    if (response.status !== 200) throw refusal(response, `the attestation with evidence from "${collector.type}"`);
    const answer = parseAttest(response.body);
    const session: Session = Object.freeze({
      clientWorkload: Object.freeze(answer.clientWorkload),
      directory: Object.freeze(answer.directory),
      expiresAt: answer.expiresAt,
      collector: collector.type,
      ...(answer.reportIntervalSeconds !== undefined ? { reportIntervalSeconds: answer.reportIntervalSeconds } : {}),
    });
    tokens.set(session, answer.edgeToken);
    // Renew `skew` before expiry, but never sooner than half-way: a token shorter-lived than
    // the skew (short-lived evidence) would otherwise be renewed on every call.
    const lifetimeMs = answer.expiresAt.getTime() - this.#now().getTime();
    this.#renewAtMs = answer.expiresAt.getTime() - Math.min(this.#skewMs, Math.max(0, lifetimeMs / 2));
    this.#session = session;
    this.#logger.info('tessera: attested', {
      clientWorkload: session.clientWorkload.name,
      collector: collector.type,
      ...(this.#resourceSet === undefined ? {} : { resourceSet: this.#resourceSet }),
      expiresAt: session.expiresAt.toISOString(),
      targets: session.directory.length,
    });
    return session;
  }

  /** A single-use nonce bound to this process's proof key, for collectors whose evidence needs one. */
  async #challenge(): Promise<string> {
    const response = await this.#post('/edge/v1/challenge', {});
    if (response.status !== 200) throw refusal(response, 'the challenge');
    const nonce = (response.body as { nonce?: unknown } | undefined)?.nonce;
    if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > 4096) {
      throw new TesseraCloudError('Tessera cloud sent an unreadable answer to the challenge', { status: 200 });
    }
    return nonce;
  }

  /** Fresh evidence every time: platform tokens rotate. */
  async #collect(collector: EvidenceCollector): Promise<Evidence> {
    try {
      return await collector.collect({
        audience: this.cloudUrl,
        signal: AbortSignal.timeout(this.#retry.deadlineMs!),
        nonce: () => this.#challenge(),
      });
    } catch (error) {
      // A collector that says it is not set up here (no token file, no runner variables) is the
      // set-up mistake of a workload that named it, not a refusal or an outage.
      if (error instanceof TrustError && error.code === 'invalid_config') {
        throw new TesseraConfigurationError('no_evidence_collector', `evidence collector "${collector.type}" cannot run here: ${error.message}`, { cause: error });
      }
      // A package the collector needs is not installed: its message names the npm install.
      const missing = missingDependency(error);
      if (missing !== undefined) throw missing;
      if (error instanceof TesseraError) throw error;
      throw new TrustError('trust_provider_error', 'collecting evidence failed', { provider: collector.type, cause: error });
    }
  }

  async #post(path: string, body: unknown, session?: Session, retry = this.#retry): Promise<CloudResponse> {
    const url = `${this.cloudUrl}${path}`;
    const token = session ? tokens.get(session) : undefined;
    try {
      return await withRetry(
        (timeoutMs) => {
          // Built per attempt: the cloud accepts each proof once.
          const headers: Record<string, string> = { dpop: this.#key.proof('POST', url, token), 'tessera-sdk-instance': this.#instanceId };
          if (token !== undefined) headers.authorization = `DPoP ${token}`;
          return this.#transport.post({ path, headers, body, timeoutMs });
        },
        { what: `POST ${url}` },
        retry,
      );
    } catch (error) {
      if (error instanceof TransportError) throw new TesseraCloudError(`Tessera cloud sent an unusable answer to POST ${url}: ${error.message}`);
      throw error;
    }
  }
}

function invalid(message: string): TesseraConfigurationError {
  return new TesseraConfigurationError('invalid_options', message);
}

/** A resource set name or id, as the cloud accepts it. */
export const RESOURCE_SET_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkResourceSet(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !RESOURCE_SET_PATTERN.test(value)) {
    throw invalid('resourceSet must be a resource set name or id: 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  return value;
}

function checkCloudUrl(value: unknown): string {
  const url = typeof value === 'string' ? URL.parse(value) : null;
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username || url.password) {
    throw invalid('cloudUrl must be an http(s) URL without credentials, query or fragment');
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
