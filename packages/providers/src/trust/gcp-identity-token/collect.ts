/**
 * Collector half of `gcp-identity-token`: asks the GCP metadata server for an ID token of the
 * VM's (or service's) default service account, with this cloud as audience:
 *
 *   GET {metadata}/computeMetadata/v1/instance/service-accounts/default/identity
 *       ?audience=<cloud URL>&format=full&licenses=FALSE          Metadata-Flavor: Google
 *
 * The metadata server is found at the `metadataEndpoint` option, else `$TESSERA_GCP_METADATA_ENDPOINT`,
 * else `$GCE_METADATA_HOST` (as Google's own libraries honour it; a bare `host[:port]` means
 * http), else `http://metadata.google.internal`. Both answers must carry `Metadata-Flavor: Google`,
 * so a captive portal or a stray web server is never taken for a metadata server.
 *
 * `detect()` is true at once when the endpoint was set explicitly (option or
 * TESSERA_GCP_METADATA_ENDPOINT); otherwise it probes `/computeMetadata/v1/` with a 300 ms
 * timeout. Off GCP that probe fails quietly; its answer is kept (a "yes" for the collector's
 * lifetime, a "no" for a minute) so repeated attestations do not pay for it again.
 */
import { type EvidenceCollector, defineEvidenceCollector } from '../../collector-contract.js';
import { TrustError } from '../../errors.js';
import { fetchBounded, KeySourceError } from '../../http/bounded-fetch.js';
import { MAX_JWT_EVIDENCE_BYTES } from '../jwt/evidence.js';
import { GCP_IDENTITY_TOKEN_EVIDENCE_TYPE, GCP_IDENTITY_TOKEN_TYPE } from './evidence.js';

export const GCP_METADATA_ENDPOINT_ENV = 'TESSERA_GCP_METADATA_ENDPOINT';
export const GCE_METADATA_HOST_ENV = 'GCE_METADATA_HOST';
export const DEFAULT_GCP_METADATA_ENDPOINT = 'http://metadata.google.internal';
/** Longest wait of the detection probe: off GCP, start-up must not stall on it. */
export const GCP_DETECT_TIMEOUT_MS = 300;
const NEGATIVE_DETECTION_TTL_MS = 60_000;

export interface GcpIdentityTokenCollectorOptions {
  /** Metadata server base URL; default `$TESSERA_GCP_METADATA_ENDPOINT`, `$GCE_METADATA_HOST`, `http://metadata.google.internal`. */
  metadataEndpoint?: string;
  /** Environment to read the variables from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Fetch for the metadata requests (default the global fetch). */
  fetch?: typeof fetch;
  /** Timeout of the token request, default 5000 ms. */
  timeoutMs?: number;
  /** Timeout of the detection probe, default (and at most) 300 ms. */
  detectTimeoutMs?: number;
}

const WHAT = 'GCP identity token';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function fail(code: 'trust_provider_error' | 'evidence_invalid' | 'invalid_config', message: string): TrustError {
  return new TrustError(code, message, { provider: GCP_IDENTITY_TOKEN_TYPE });
}

interface MetadataTarget {
  /** Base URL without a trailing slash, or the problem with the configured value. */
  base: string | { problem: string };
  /** Set by the option or TESSERA_GCP_METADATA_ENDPOINT: the operator said this is GCP. */
  explicit: boolean;
}

function parseBase(value: string, source: string): string | { problem: string } {
  // Google's libraries take GCE_METADATA_HOST as `host[:port]` and add http:// themselves.
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  if (!URL.canParse(text)) return { problem: `${source} must be a URL or host[:port]` };
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: `${source} must use http or https` };
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    return { problem: `${source} must not contain credentials, a query or a fragment` };
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export function createGcpIdentityTokenCollector(options: GcpIdentityTokenCollectorOptions = {}): EvidenceCollector {
  const detections = new Map<string, { found: boolean; atMs: number }>();
  const fetchImpl = (): typeof fetch => options.fetch ?? fetch;

  // Resolved on each call, so a variable set after start-up (tests, wrappers) is honoured.
  const target = (): MetadataTarget => {
    const env = options.env ?? process.env;
    if (options.metadataEndpoint !== undefined) return { base: parseBase(options.metadataEndpoint, 'metadataEndpoint'), explicit: true };
    const fromTessera = env[GCP_METADATA_ENDPOINT_ENV];
    if (fromTessera) return { base: parseBase(fromTessera, GCP_METADATA_ENDPOINT_ENV), explicit: true };
    const fromGoogle = env[GCE_METADATA_HOST_ENV];
    if (fromGoogle) return { base: parseBase(fromGoogle, GCE_METADATA_HOST_ENV), explicit: false };
    return { base: DEFAULT_GCP_METADATA_ENDPOINT, explicit: false };
  };

  async function probe(base: string): Promise<boolean> {
    const timeoutMs = Math.min(options.detectTimeoutMs ?? GCP_DETECT_TIMEOUT_MS, GCP_DETECT_TIMEOUT_MS);
    try {
      const response = await fetchImpl()(`${base}/computeMetadata/v1/`, {
        headers: { 'metadata-flavor': 'Google' },
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.headers.get('metadata-flavor') === 'Google';
    } catch {
      return false; // off GCP: DNS failure, refused, timed out — all mean "not here", quietly
    }
  }

  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: GCP_IDENTITY_TOKEN_TYPE,
    evidenceType: GCP_IDENTITY_TOKEN_EVIDENCE_TYPE,
    async detect() {
      const { base, explicit } = target();
      if (typeof base !== 'string') return false;
      if (explicit) return true;
      const known = detections.get(base);
      if (known !== undefined && (known.found || Date.now() - known.atMs < NEGATIVE_DETECTION_TTL_MS)) return known.found;
      const found = await probe(base);
      detections.set(base, { found, atMs: Date.now() });
      return found;
    },
    async collect(ctx) {
      const { base } = target();
      if (typeof base !== 'string') throw fail('invalid_config', base.problem);
      if (ctx.audience.length === 0) throw fail('invalid_config', 'no audience to request the token for');
      const query = new URLSearchParams({ audience: ctx.audience, format: 'full', licenses: 'FALSE' });
      const url = `${base}/computeMetadata/v1/instance/service-accounts/default/identity?${query}`;
      const timeout = AbortSignal.timeout(options.timeoutMs ?? 5000);
      const signal = ctx.signal === undefined ? timeout : AbortSignal.any([timeout, ctx.signal]);
      let flavor: string | null = null;
      // fetchBounded gives the body only; this records the header that proves the origin.
      const recording: typeof fetch = async (input, init) => {
        const response = await fetchImpl()(input, init);
        flavor = response.headers.get('metadata-flavor');
        return response;
      };
      let body: Uint8Array;
      try {
        body = await fetchBounded(url, { 'metadata-flavor': 'Google' }, { fetch: recording, what: WHAT, maxBytes: MAX_JWT_EVIDENCE_BYTES + 2, signal });
      } catch (error) {
        if (error instanceof KeySourceError) throw fail('trust_provider_error', error.message);
        throw fail('trust_provider_error', `${WHAT} request failed`);
      }
      if (flavor !== 'Google') throw fail('trust_provider_error', `${WHAT} response lacks "Metadata-Flavor: Google": not a GCP metadata server`);
      let token: string;
      try {
        token = new TextDecoder('utf-8', { fatal: true }).decode(body).trim();
      } catch {
        throw fail('evidence_invalid', `${WHAT} response is not text`);
      }
      if (token.length === 0 || token.length > MAX_JWT_EVIDENCE_BYTES || !COMPACT_JWS.test(token)) {
        throw fail('evidence_invalid', `${WHAT} response is not a JWT of at most 16 KiB`);
      }
      return { type: GCP_IDENTITY_TOKEN_EVIDENCE_TYPE, token };
    },
  });
}

/** The built-in instance: active on GCP (the metadata server answers) or with an explicit endpoint. */
export const gcpIdentityTokenCollector = /* @__PURE__ */ createGcpIdentityTokenCollector();
