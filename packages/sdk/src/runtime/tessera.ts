import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { Dispatcher, fetch as undiciFetch } from 'undici';
import { CredentialCache, type CredentialKey, type IssuedCredential } from '../cache/credential-cache.js';
import type { CollectorsOption, EvidenceCollectorSource } from '../cloud/collectors.js';
import { EdgeClient, type Session } from '../cloud/edge-client.js';
import { RequestMetrics } from '../cloud/request-metrics.js';
import type { CloudLogger } from '../cloud/logger.js';
import type { CloudTransport } from '../cloud/transport.js';
import { Directory, type DirectoryEntry } from '../directory/directory.js';
import { normalizeHost, targetFromUrl } from '../directory/target.js';
import { directoryLogFields, UnmanagedOriginLog } from '../directory/unmanaged.js';
import { TesseraAccessDeniedError, TesseraCloudError, TesseraConfigurationError, TesseraUnavailableError, assertSupportedNode } from '../errors.js';
import type { EdgeCredential, Injection } from '../inject/types.js';
import { createTesseraInterceptor } from '../intercept/undici.js';
import { loadUndici } from '../load-undici.js';
import { channels, describeTarget } from './diagnostics.js';
import { MUST_WAIT, type Grant, type OutgoingRequest, type RequestGate } from './gate.js';
import { consoleLogger } from './logger.js';
import { TIMED_OUT, waitAtMost } from './bounded-wait.js';
import { DenialMemory } from './denials.js';
import { OutageLog } from './outage.js';
import { tracer } from './tracing.js';

export type FailMode = 'closed' | 'open';

export interface TesseraOptions {
  /** The Tessera cloud's public URL (its issuer), e.g. `https://tessera.example.com`. */
  cloudUrl: string | URL;
  /** `'auto'` (default): the first built-in collector this environment offers; or a list. */
  collectors?: CollectorsOption;
  /**
   * Where collector names (and `'auto'`'s collectors) are looked up instead of the built-ins:
   * an object with `listEvidenceCollectors()` and `getEvidenceCollector(type)`, such as a
   * `ProviderRegistry`. A list in `collectors` can mix built-in names and collector objects.
   */
  registry?: EvidenceCollectorSource;
  /**
   * The resource set this workload attests into, by name or id (default: the cloud's `default`
   * set). Only that set's trust providers and client workloads are considered.
   */
  resourceSet?: string;
  /**
   * `'closed'` (default): with the cloud unreachable and no cached credential, a managed request
   * fails with `TesseraUnavailableError` and is not sent. `'open'` sends it without a credential
   * and logs a warning: only for targets that stay safe without one.
   */
  failMode?: FailMode;
  /** Edge tokens and credentials count as expired this long before their expiry (default 60). */
  skewSeconds?: number;
  /**
   * Total time for one cloud call, retries included (default 10 000 ms). A request waiting for
   * the first attestation or for a credential waits at most this long, then fails closed.
   */
  deadlineMs?: number;
  /** Bound on a single cloud call attempt (default 5 000 ms). */
  requestTimeoutMs?: number;
  cache?: {
    /** Credentials kept, least recently used evicted first (default 1 000). */
    maxEntries?: number;
    /** Refresh at least this long before the skewed expiry (default 30 s). */
    refreshAheadSeconds?: number;
  };
  /**
   * Request metrics, sent to `/edge/v1/metrics` once per interval: per server workload, outcome
   * and status class, how many requests and a latency histogram. `false` sends none.
   */
  metrics?:
    | false
    | {
        /** Time between reports (default 10 000 ms; the control plane may ask for longer); 0: only on flush() and close(). */
        flushIntervalMs?: number;
      };
  /**
   * @deprecated The name of `metrics` before request metrics: `false` turns them off,
   * `flushIntervalMs` is their interval; `maxQueue` has no effect. `metrics` wins when both are set.
   */
  events?:
    | false
    | {
        maxQueue?: number;
        flushIntervalMs?: number;
      };
  /**
   * `'eager'` (default) attests as soon as the instance exists; `'lazy'` at the first request
   * that needs the directory (serverless: nothing runs at cold start until it must).
   */
  attest?: 'eager' | 'lazy';
  /** Default: warnings and errors to the console, prefixed `tessera:`. */
  logger?: CloudLogger;
  /** Sent as `tessera-sdk-instance` and recorded in audit events; default a random UUID. */
  instanceId?: string;
  /** How the SDK reaches the cloud; default `node:http(s)` with its own keep-alive agent. */
  transport?: CloudTransport;
}

/** What `getCredential` hands code that places a credential itself. */
export interface CredentialGrant {
  readonly credential: EdgeCredential;
  readonly injection: Injection;
  readonly expiresAt: Date;
  readonly serverWorkload: { readonly id: string; readonly name: string };
  readonly policyId: string;
}

/** A target for `getCredential`: a URL, or its parts. */
export type CredentialTargetInput = string | URL | { scheme: 'http' | 'https'; host: string; port?: number; path?: string; method?: string };

/**
 * The SDK's own calls (attesting, fetching credentials, collecting evidence through `fetch`)
 * run inside this context; every interceptor lets them pass untouched. One store for all
 * instances: one instance's cloud call must not wait on another instance's directory.
 */
const ownWork = new AsyncLocalStorage<true>();

const FAIL_OPEN_WARN_INTERVAL_MS = 60_000;
const RENEW_RETRY_MS = 30_000;
/** The last flush of a closing instance waits this long at most. */
const CLOSE_FLUSH_MS = 2_000;
/** After the cloud refuses this workload's evidence, ask again no sooner than this. */
const ATTEST_REFUSAL_BACKOFF_MS = 10_000;

/**
 * One Tessera client: proves this workload's identity, keeps the directory of targets it may
 * call, caches short-lived credentials, and decides for every outgoing request whether it is
 * managed. Interceptors consult it through the `RequestGate` methods; `getCredential` serves code
 * that places a credential itself.
 */
export class Tessera implements RequestGate {
  readonly cloudUrl: string;
  readonly failMode: FailMode;
  readonly #edge: EdgeClient;
  readonly #cache: CredentialCache;
  readonly #metrics: RequestMetrics | undefined;
  readonly #logger: CloudLogger;
  readonly #outage: OutageLog;
  /** The cloud's recent refusals per target: retries fail at once, without a cloud call. */
  readonly #denials = new DenialMemory();
  readonly #deadlineMs: number;
  /** At debug level: why requests leave without a credential. */
  readonly #unmanaged: UnmanagedOriginLog | undefined;
  /** An empty directory that only knows the control plane, for requests before attestation. */
  readonly #controlPlane: Directory;
  #directory: Directory | undefined;
  #session: Session | undefined;
  /** Directory entry → its credential cache key under the current session (see #key). */
  #keys = new WeakMap<DirectoryEntry, CredentialKey>();
  #attesting: Promise<Directory> | undefined;
  /** A refused attestation, answered again without asking the cloud until `until`. */
  #refusedAttestation: { error: Error; until: number } | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #lastFailOpenWarning = -Infinity;
  #closed = false;
  #interceptor: Dispatcher.DispatcherComposeInterceptor | undefined;
  #agent: Dispatcher | undefined;

  constructor(options: TesseraOptions) {
    assertSupportedNode();
    if (typeof options !== 'object' || options === null) throw invalid('options must be an object with at least cloudUrl');
    const failMode = options.failMode ?? 'closed';
    if (failMode !== 'closed' && failMode !== 'open') throw invalid("failMode must be 'closed' or 'open'");
    const attest = options.attest ?? 'eager';
    if (attest !== 'eager' && attest !== 'lazy') throw invalid("attest must be 'eager' or 'lazy'");
    const cache = options.cache ?? {};
    const maxEntries = cache.maxEntries ?? 1000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw invalid('cache.maxEntries must be a positive integer');
    const refreshAhead = cache.refreshAheadSeconds ?? 30;
    if (!Number.isFinite(refreshAhead) || refreshAhead < 0) throw invalid('cache.refreshAheadSeconds must be 0 or more');

    this.failMode = failMode;
    this.#logger = options.logger ?? consoleLogger('warn');
    this.#outage = new OutageLog(this.#logger, { failOpen: failMode === 'open' });
    outages.set(this, this.#outage);
    this.#deadlineMs = options.deadlineMs ?? 10_000;
    this.#unmanaged = this.#logger.debugEnabled === false ? undefined : new UnmanagedOriginLog(this.#logger);
    this.#edge = new EdgeClient({
      cloudUrl: options.cloudUrl instanceof URL ? options.cloudUrl.href : options.cloudUrl,
      ...(options.collectors !== undefined ? { collectors: options.collectors } : {}),
      ...(options.registry !== undefined ? { registry: options.registry } : {}),
      ...(options.resourceSet !== undefined ? { resourceSet: options.resourceSet } : {}),
      ...(options.skewSeconds !== undefined ? { skewSeconds: options.skewSeconds } : {}),
      ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.instanceId !== undefined ? { instanceId: options.instanceId } : {}),
      ...(options.transport !== undefined ? { transport: options.transport } : {}),
      logger: this.#logger,
      retry: {
        onRetry: (failure) => {
          this.#outage.lastFailure = failure.reason;
          this.#logger.debug('tessera: a call to the control plane failed; trying again', { call: failure.what, attempt: failure.attempt, reason: failure.reason, inMs: failure.delayMs });
        },
      },
    });
    this.cloudUrl = this.#edge.cloudUrl;
    this.#controlPlane = new Directory([], { controlPlane: this.cloudUrl });
    this.#cache = new CredentialCache({
      max: maxEntries,
      skewSeconds: options.skewSeconds ?? 60,
      refreshAheadSeconds: refreshAhead,
      onRefreshError: (error) => this.#logger.warn('tessera: refreshing a credential ahead of expiry failed; the cached one is used until it expires', { reason: reasonOf(error) }),
    });
    const metrics = options.metrics ?? options.events;
    if (metrics !== false) {
      const flushIntervalMs = metrics?.flushIntervalMs;
      if (flushIntervalMs !== undefined && !(Number.isFinite(flushIntervalMs) && flushIntervalMs >= 0)) throw invalid('metrics.flushIntervalMs must be 0 or more milliseconds');
      this.#metrics = new RequestMetrics({
        sender: {
          // Reports need an edge token; they never start an attestation of their own (which, for
          // a refused workload, would only be refused again). Kept until there is a session.
          sendMetrics: (report) =>
            this.#session === undefined
              ? Promise.reject(new TesseraUnavailableError('not attested yet'))
              : this.#cloudCall(() => this.#edge.sendMetrics(report)),
        },
        ...(flushIntervalMs !== undefined ? { flushIntervalMs } : {}),
        logger: this.#logger,
      });
    }
    if (attest === 'eager') {
      this.#attest().catch((error: unknown) => {
        // A refusal and an outage are logged where they are seen (#attest, the outage log).
        if (error instanceof TesseraAccessDeniedError || error instanceof TesseraUnavailableError) return;
        this.#logger.warn('tessera: the first attestation failed; requests to managed targets wait for the next one', { reason: reasonOf(error) });
      });
    }
  }

  /**
   * The attested workload and the targets it may call; attests if it has not yet, waiting at
   * most `deadlineMs` (then `TesseraUnavailableError`).
   */
  async ready(): Promise<{ clientWorkload: { id: string; name: string }; targets: readonly DirectoryEntry[] }> {
    const directory = await this.#currentDirectory();
    const session = this.#session!;
    return { clientWorkload: session.clientWorkload, targets: directory.entries };
  }

  /** Requests left out of the request metrics so far (too many keys, refused by the cloud). */
  get droppedRequests(): number {
    return this.#metrics?.dropped ?? 0;
  }

  /** @deprecated `droppedRequests`. */
  get droppedEvents(): number {
    return this.droppedRequests;
  }

  // ---- RequestGate -------------------------------------------------------------------------

  tryAdmit(request: OutgoingRequest): Grant | undefined | typeof MUST_WAIT {
    if (ownWork.getStore() === true) return undefined;
    const directory = this.#directory;
    if (directory === undefined) return this.#controlPlane.isControlPlane(origin(request)) ? undefined : MUST_WAIT;
    const entry = this.#lookup(directory, request);
    if (entry === undefined) return undefined;
    if (this.#closed) return MUST_WAIT; // admit() refuses it
    const issued = this.#cache.peek(this.#key(entry), this.#fetcher(entry, request));
    return issued === undefined ? MUST_WAIT : { entry, issued, startedAt: performance.now() };
  }

  async admit(request: OutgoingRequest): Promise<Grant | undefined> {
    if (ownWork.getStore() === true) return undefined;
    let directory = this.#directory;
    if (this.#closed) {
      if (directory !== undefined && directory.lookup(request) === undefined) return undefined;
      throw new TesseraUnavailableError('Tessera has been shut down: managed requests can no longer be sent');
    }
    if (directory === undefined) {
      if (this.#controlPlane.isControlPlane(origin(request))) return undefined;
      try {
        directory = await this.#bounded(this.#attest());
      } catch (error) {
        return this.#failed(request, error, 'the directory of managed targets is not known (no attestation yet)', 0);
      }
    }
    const entry = this.#lookup(directory, request);
    if (entry === undefined) return undefined;
    const startedAt = performance.now();
    try {
      const issued = await this.#bounded(this.#cache.get(this.#key(entry), this.#fetcher(entry, request)));
      return { entry, issued, startedAt };
    } catch (error) {
      return this.#failed(request, error, `no credential for ${entry.name || entry.serverWorkloadId}`, performance.now() - startedAt, entry);
    }
  }

  /** The directory's verdict on a request; at debug level, an unmanaged origin says why, once. */
  #lookup(directory: Directory, request: OutgoingRequest): DirectoryEntry | undefined {
    const entry = directory.lookup(request);
    if (entry === undefined) this.#unmanaged?.note(directory, request);
    return entry;
  }

  rejected(grant: Grant): void {
    this.#cache.drop(this.#key(grant.entry), grant.issued);
  }

  finished(grant: Grant, request: OutgoingRequest, statusCode: number | undefined, error?: unknown): void {
    try {
      const latencyMs = performance.now() - grant.startedAt;
      const outcome = statusCode === undefined ? 'error' : 'allow';
      this.#metrics?.record(grant.entry.serverWorkloadId, grant.entry, outcome, statusCode, statusCode === undefined ? 'request_failed' : undefined, latencyMs);
      if (channels.finished.hasSubscribers) {
        channels.finished.publish({ target: describeTarget(request), serverWorkload: grant.entry.name, statusCode, latencyMs, outcome, ...(error ? { error } : {}) });
      }
    } catch {
      // Reporting must never disturb the request it reports on.
    }
  }

  bypassed(): boolean {
    return ownWork.getStore() === true;
  }

  // ---- explicit use ------------------------------------------------------------------------

  /**
   * A credential for code that places it itself (a database driver, a message client). Throws
   * `TesseraAccessDeniedError` with code `no_server_workload` when the target is not in this
   * workload's directory, and whatever the cloud refuses with otherwise.
   */
  async getCredential(target: CredentialTargetInput): Promise<CredentialGrant> {
    if (this.#closed) throw new TesseraUnavailableError('Tessera has been shut down');
    const request = toOutgoing(target);
    const directory = await this.#currentDirectory();
    const entry = directory.lookup(request);
    if (entry === undefined) {
      throw new TesseraAccessDeniedError('no_server_workload', `${describeTarget(request)} is not a target this workload may call through Tessera`);
    }
    const issued = await this.#bounded(this.#cache.get(this.#key(entry), this.#fetcher(entry, request)));
    return Object.freeze({
      credential: issued.credential,
      injection: issued.injection,
      expiresAt: new Date(issued.expiresAt),
      serverWorkload: Object.freeze({ id: entry.serverWorkloadId, name: entry.name }),
      policyId: issued.policyId,
    });
  }

  /**
   * The undici interceptor for this instance, for a dispatcher of your own:
   * `new Pool(origin).compose(tessera.interceptor)`. Nothing global is changed.
   */
  get interceptor(): Dispatcher.DispatcherComposeInterceptor {
    return (this.#interceptor ??= createTesseraInterceptor(this));
  }

  /** `base` (default: an undici `Agent` of this instance) with Tessera composed on top. */
  dispatcher(base?: Dispatcher): Dispatcher {
    return (base ?? (this.#agent ??= new (loadUndici().Agent)())).compose(this.interceptor);
  }

  /**
   * `fetch` that applies Tessera without patching anything global (npm undici's fetch over
   * `dispatcher()`). A `dispatcher` passed in `init` gets Tessera composed onto it.
   */
  readonly fetch = (input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]): ReturnType<typeof undiciFetch> => {
    const dispatcher = init?.dispatcher === undefined ? this.dispatcher() : this.dispatcher(init.dispatcher);
    return loadUndici().fetch(input, { ...init, dispatcher });
  };

  /**
   * Sends the request metrics counted so far (serverless handlers call this before returning),
   * waiting at most `deadlineMs`; what the cloud did not take is sent with a later report.
   * Never rejects.
   */
  async flush(): Promise<void> {
    if (this.#metrics !== undefined) await waitAtMost(this.#metrics.flush(), this.#deadlineMs);
  }

  /**
   * Stops renewing, sends the last request metrics (waiting at most 2 s: a process that ends must
   * not wait out an outage) and closes the connection to the cloud.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#renewTimer);
    if (this.#metrics !== undefined) await waitAtMost(this.#metrics.close(), CLOSE_FLUSH_MS);
    this.#cache.clear();
    this.#edge.close();
    await this.#agent?.close();
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * What a request waits for (the first attestation, a credential), at most `deadlineMs`, and
   * with the process kept up meanwhile. The work goes on after a timeout; its answer is kept.
   */
  async #bounded<T>(work: Promise<T>): Promise<T> {
    const outcome = await waitAtMost(work, this.#deadlineMs);
    if (outcome === TIMED_OUT) throw new TesseraUnavailableError(`no answer from the Tessera control plane within ${this.#deadlineMs} ms`);
    return outcome;
  }

  /**
   * Runs one call to the control plane as the SDK's own work (never intercepted) and tells the
   * outage log whether an answer came. A refusal or an unusable answer is an answer; only a call
   * that got none within its deadline (TesseraUnavailableError) counts towards an outage.
   */
  #cloudCall<T>(call: () => Promise<T>): Promise<T> {
    return ownWork.run(true, call).then(
      (value) => {
        this.#outage.answered();
        return value;
      },
      (error: unknown) => {
        if (error instanceof TesseraUnavailableError) this.#outage.unreachable(error);
        else if (error instanceof TesseraAccessDeniedError || error instanceof TesseraCloudError) this.#outage.answered();
        throw error;
      },
    );
  }

  /** The credential cache's key of a directory entry, made once per session (every managed request asks). */
  #key(entry: DirectoryEntry): CredentialKey {
    let key = this.#keys.get(entry);
    if (key === undefined) {
      key = { clientWorkloadId: this.#session?.clientWorkload.id ?? '', serverWorkloadId: entry.serverWorkloadId };
      this.#keys.set(entry, key);
    }
    return key;
  }

  async #currentDirectory(): Promise<Directory> {
    return this.#directory ?? (await this.#bounded(this.#attest()));
  }

  /**
   * One attestation at a time; adopts the session's directory and schedules its renewal. After a
   * refusal (the cloud does not accept this workload's evidence), the same answer is given for
   * the next seconds without asking again: retrying at once cannot change it.
   */
  #attest(): Promise<Directory> {
    const refused = this.#refusedAttestation;
    if (refused !== undefined && Date.now() < refused.until) return Promise.reject(refused.error);
    return (this.#attesting ??= this.#cloudCall(() => tracer.span('tessera.attest', {}, () => this.#edge.session()))
      .then(
        (session) => {
          this.#refusedAttestation = undefined;
          return this.#adopt(session);
        },
        (error: unknown) => {
          if (error instanceof TesseraAccessDeniedError) {
            this.#refusedAttestation = { error, until: Date.now() + ATTEST_REFUSAL_BACKOFF_MS };
            this.#logger.warn('tessera: the cloud refused this workload\'s evidence', { reason: error.code, message: error.message });
          }
          // Before the first session nothing else would try again: keep trying in the background,
          // so that the end of an outage is seen (and logged) without waiting for a request.
          if (error instanceof TesseraUnavailableError && this.#session === undefined) this.#scheduleRenewal(RENEW_RETRY_MS);
          if (channels.attest.hasSubscribers) channels.attest.publish({ error });
          throw error;
        },
      )
      .finally(() => {
        this.#attesting = undefined;
      }));
  }

  #adopt(session: Session): Directory {
    if (session !== this.#session || this.#directory === undefined) {
      this.#session = session;
      this.#keys = new WeakMap(); // the client workload may have changed
      this.#denials.clear(); // a new session may come with new policies
      this.#directory = new Directory(session.directory, { controlPlane: this.cloudUrl });
      this.#logger.debug('tessera: directory of targets', directoryLogFields(this.#directory));
      if (this.#metrics !== undefined) this.#metrics.reportIntervalSeconds = session.reportIntervalSeconds;
      if (channels.attest.hasSubscribers) {
        channels.attest.publish({ clientWorkload: session.clientWorkload.name, collector: session.collector, targets: session.directory.length, expiresAt: session.expiresAt });
      }
      this.#scheduleRenewal(this.#edge.renewAt - Date.now());
    }
    return this.#directory;
  }

  /** Renew in the background, so the directory follows admin changes even if no managed call asks. */
  #scheduleRenewal(delayMs: number): void {
    if (this.#closed) return;
    this.#logger.debug('tessera: edge token renewal scheduled', { inSeconds: Math.round(Math.max(1_000, delayMs) / 1000) });
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => {
      this.#attest().catch((error: unknown) => {
        // An outage is logged once by the outage log, not at every renewal attempt.
        if (!(error instanceof TesseraUnavailableError)) {
          this.#logger.warn('tessera: renewing the edge token failed; cached credentials stay in use until they expire', { reason: reasonOf(error) });
        }
        this.#scheduleRenewal(RENEW_RETRY_MS);
      });
    }, Math.max(1_000, delayMs));
    this.#renewTimer.unref(); // never keeps the process alive
  }

  /** What the credential cache calls on a miss: a refusal still remembered, or the cloud. */
  #fetcher(entry: DirectoryEntry, request: OutgoingRequest): () => Promise<IssuedCredential> {
    return () => {
      const remembered = this.#denials.recall(denialKey(this.#key(entry)), describeTarget(request));
      return remembered !== undefined ? Promise.reject(remembered) : this.#fetchCredential(entry, request);
    };
  }

  #fetchCredential(entry: DirectoryEntry, request: OutgoingRequest): Promise<IssuedCredential> {
    const started = performance.now();
    const key = denialKey(this.#key(entry));
    return this.#cloudCall(() =>
      tracer.span('tessera.credential', { 'tessera.server_workload': entry.name }, async () => {
        const issued = await this.#edge.credentials({
          scheme: request.scheme === 'https' ? 'https' : 'http',
          host: normalizeHost(request.host),
          port: request.port,
          path: request.path,
          method: request.method,
        });
        // A re-attestation inside the call may have brought a new directory.
        const session = this.#edge.current;
        if (session !== undefined && session !== this.#session) this.#adopt(session);
        this.#logger.debug('tessera: credential fetched', { serverWorkload: entry.name, policyId: issued.policyId, expiresAt: new Date(issued.expiresAt).toISOString() });
        if (channels.credential.hasSubscribers) {
          channels.credential.publish({ serverWorkload: entry.name, policyId: issued.policyId, expiresAt: new Date(issued.expiresAt), durationMs: performance.now() - started });
        }
        return issued;
      }),
    ).catch((error: unknown) => {
      if (error instanceof TesseraAccessDeniedError) this.#denials.remember(key, error);
      throw error;
    });
  }

  /**
   * Attesting or fetching a credential failed. A refusal (this workload's evidence, or this
   * target, was denied) and a set-up mistake reach the caller as they are: they are answers, and
   * fail-open never overrides them. Only when the cloud could not be reached is there no
   * decision: then fail closed, or (explicitly) open.
   */
  #failed(request: OutgoingRequest, error: unknown, what: string, latencyMs: number, entry?: DirectoryEntry): undefined {
    if (error instanceof TesseraAccessDeniedError) {
      this.#report(entry, request, 'deny', latencyMs, error.code);
      if (channels.denied.hasSubscribers) channels.denied.publish({ target: describeTarget(request), reason: error.code, error });
      throw error;
    }
    if (!(error instanceof TesseraUnavailableError)) {
      // A set-up mistake, or an answer the SDK cannot use (TesseraCloudError): not an outage.
      this.#report(entry, request, 'error', latencyMs, typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'error');
      if (channels.denied.hasSubscribers) channels.denied.publish({ target: describeTarget(request), reason: reasonOf(error), error });
      throw error;
    }
    return this.#cannotDecide(request, error, what, entry);
  }

  /** No decision could be had from the cloud: fail closed, or (explicitly) open. */
  #cannotDecide(request: OutgoingRequest, error: TesseraUnavailableError, what: string, entry: DirectoryEntry | undefined): undefined {
    const unavailable = new TesseraUnavailableError(`Tessera cannot decide on ${describeTarget(request)}: ${what}; ${error.message}`, { cause: error });
    if (this.failMode === 'open') {
      const now = Date.now();
      if (now - this.#lastFailOpenWarning >= FAIL_OPEN_WARN_INTERVAL_MS) {
        this.#lastFailOpenWarning = now;
        this.#logger.warn('tessera: FAIL-OPEN — the cloud is unreachable, so managed requests are sent WITHOUT a credential', {
          target: describeTarget(request),
          reason: reasonOf(error),
        });
      }
      if (channels.failOpen.hasSubscribers) channels.failOpen.publish({ target: describeTarget(request), error: unavailable });
      this.#outage.sentWithoutCredential(error);
      return undefined;
    }
    this.#outage.failedClosed(error);
    this.#report(entry, request, 'error', 0, 'cloud_unavailable');
    if (channels.denied.hasSubscribers) channels.denied.publish({ target: describeTarget(request), reason: 'cloud_unavailable', error: unavailable });
    throw unavailable;
  }

  /** A request that was not sent: to a server workload of the directory, or to a target not known to be one. */
  #report(entry: DirectoryEntry | undefined, request: OutgoingRequest, outcome: 'deny' | 'error', latencyMs: number, reason: string): void {
    const target = entry ?? { scheme: request.scheme, host: normalizeHost(request.host), port: request.port };
    this.#metrics?.record(entry?.serverWorkloadId, target, outcome, undefined, reason, latencyMs);
  }
}

/** Each instance's outage log, for `init()`'s start report (not part of the package's API). */
const outages = new WeakMap<Tessera, OutageLog>();

/** What the last failed attempt of a call to the control plane met, if one failed. */
export function lastCloudFailure(instance: Tessera): string | undefined {
  return outages.get(instance)?.lastFailure;
}

function denialKey(key: CredentialKey): string {
  return `${key.clientWorkloadId}\n${key.serverWorkloadId}`;
}

function origin(request: OutgoingRequest): { scheme: string; host: string; port: number } {
  return { scheme: request.scheme, host: request.host, port: request.port };
}

function toOutgoing(target: CredentialTargetInput): OutgoingRequest {
  if (typeof target === 'string' || target instanceof URL) {
    let parsed;
    try {
      parsed = targetFromUrl(target);
    } catch {
      throw invalid('getCredential needs an http(s) URL or { scheme, host, port?, path?, method? }');
    }
    if (parsed.scheme !== 'http' && parsed.scheme !== 'https') throw invalid('getCredential needs an http(s) URL');
    return { ...parsed, method: 'GET' };
  }
  if (typeof target !== 'object' || target === null || (target.scheme !== 'http' && target.scheme !== 'https') || typeof target.host !== 'string' || target.host === '') {
    throw invalid('getCredential needs an http(s) URL or { scheme, host, port?, path?, method? }');
  }
  const port = target.port ?? (target.scheme === 'https' ? 443 : 80);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('getCredential: port must be 1-65535');
  return { scheme: target.scheme, host: normalizeHost(target.host), port, path: target.path ?? '/', method: (target.method ?? 'GET').toUpperCase() };
}

function invalid(message: string): TesseraConfigurationError {
  return new TesseraConfigurationError('invalid_options', message);
}

/** An error's code, for log fields: never its message, which could quote a remote answer. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'error';
}
