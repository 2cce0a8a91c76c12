import { RESOURCE_SET_PATTERN } from '../cloud/edge-client.js';
import { TesseraConfigurationError } from '../errors.js';
import type { InitOptions } from '../init.js';
import { consoleLogger, type LogLevel } from '../runtime/logger.js';

/**
 * The SDK's environment variables. This table is the one documented in docs/sdk.md; keep them
 * in step (a test checks every name appears there).
 */
export const ENVIRONMENT = {
  TESSERA_CLOUD_URL: 'The Tessera cloud\'s public URL (required), e.g. `https://tessera.example.com`.',
  TESSERA_COLLECTORS:
    '`auto` (default) or a comma-separated list of evidence collectors: `kubernetes-service-account`, `github-actions`, `oidc`, `aws-iam`, `azure-managed-identity`, `gcp-identity-token`, `aws-ec2-instance-identity`.',
  TESSERA_RESOURCE_SET:
    'The resource set this workload attests into, by name or id (default: the set named `default`). Workloads of any other set must set it.',
  TESSERA_FAIL_MODE: '`closed` (default) or `open`: what a managed request does when the cloud is unreachable and no credential is cached.',
  TESSERA_LOG_LEVEL: '`debug`, `info`, `warn` (default) or `silent`; lines go to stderr. The control plane\'s `trace`, `error` and `fatal` are accepted (as `debug`, `warn`, `warn`).',
  TESSERA_INTERCEPT: 'What to intercept: `all` (default), `none`, or a comma-separated list of `fetch` (built-in fetch and undici) and `http` (node:http/https, and node:http2 sessions such as gRPC\'s).',
  TESSERA_ATTEST: '`eager` (default: attest at start) or `lazy` (at the first request that needs it).',
  TESSERA_START_TIMEOUT_MS:
    'How long the start waits for the first attestation before the application runs anyway (default 5000; `0`: not at all). Requests to managed targets then wait for it, at most `TESSERA_DEADLINE_MS`.',
  TESSERA_SKEW_SECONDS: 'Edge tokens and credentials count as expired this many seconds early (default 60).',
  TESSERA_DEADLINE_MS: 'Total time for one call to the cloud, retries included (default 10000).',
  TESSERA_REQUEST_TIMEOUT_MS: 'Time for one attempt of a call to the cloud (default 5000).',
  TESSERA_CACHE_MAX_ENTRIES: 'Credentials kept in memory (default 1000).',
  TESSERA_CACHE_REFRESH_AHEAD_SECONDS: 'Refresh a credential at least this long before it counts as expired (default 30).',
  TESSERA_METRICS: '`on` (default) or `off`: report request metrics (per server workload, outcome and status class: counts and latencies) to the cloud.',
  TESSERA_METRICS_FLUSH_INTERVAL_MS:
    'Time between two reports of request metrics (default 10000; the cloud may ask for longer). `0`: only at `flush()`, at the end of a serverless invocation and when the process ends.',
  TESSERA_EVENTS: 'Deprecated: the name of `TESSERA_METRICS` before request metrics (`TESSERA_METRICS` wins).',
  TESSERA_EVENTS_FLUSH_INTERVAL_MS: 'Deprecated: the name of `TESSERA_METRICS_FLUSH_INTERVAL_MS` before request metrics.',
  TESSERA_EVENTS_MAX_QUEUE: 'Deprecated, no effect: request metrics hold no queue of requests.',
  TESSERA_KUBERNETES_TOKEN_FILE: 'Projected service-account token for `kubernetes-service-account` (default `/var/run/secrets/tokens/tessera-token`).',
  TESSERA_OIDC_TOKEN_FILE: 'File holding an OIDC token for the `oidc` collector, re-read at every attestation.',
  TESSERA_OIDC_TOKEN: 'An OIDC token for the `oidc` collector, given directly (the file wins when both are set).',
  TESSERA_AZURE_RESOURCE: 'The App ID URI the `azure-managed-identity` collector requests a managed-identity token for; without it that collector stays off.',
  TESSERA_AZURE_CLIENT_ID: 'Client id of a user-assigned managed identity, for `azure-managed-identity` (default: the system-assigned one).',
  TESSERA_AZURE_IMDS_ENDPOINT: 'Azure instance metadata endpoint (default `http://169.254.169.254`).',
  TESSERA_GCP_METADATA_ENDPOINT: 'Google Cloud metadata server for `gcp-identity-token` (default `GCE_METADATA_HOST`, else `http://metadata.google.internal`).',
  TESSERA_AWS_STS_ENDPOINT:
    'STS endpoint the `aws-iam` collector signs GetCallerIdentity for; must be the trust provider\'s `stsEndpoint` (default `https://sts.<AWS_REGION>.amazonaws.com/` when `AWS_REGION`/`AWS_DEFAULT_REGION` is set, else `https://sts.amazonaws.com/`).',
  TESSERA_AWS_IAM:
    '`true`: the `aws-iam` collector is available even when the environment shows no AWS credentials (needed for EC2 instance roles with `auto`); `false`: it is never detected.',
  TESSERA_AWS_IMDS_ENDPOINT: 'AWS instance metadata endpoint for `aws-ec2-instance-identity` (default `http://169.254.169.254`; `AWS_EC2_METADATA_DISABLED=true` turns the collector off).',
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/** `init()` options from `TESSERA_*` variables; a malformed value is a `TesseraConfigurationError` naming the variable. */
export function optionsFromEnv(env: Env = process.env): InitOptions {
  const cloudUrl = text(env, 'TESSERA_CLOUD_URL');
  if (cloudUrl === undefined) throw invalid('TESSERA_CLOUD_URL is not set: it must name the Tessera cloud, e.g. https://tessera.example.com');
  const options: InitOptions = { cloudUrl };

  const collectors = text(env, 'TESSERA_COLLECTORS');
  if (collectors !== undefined && collectors !== 'auto') options.collectors = list(collectors, 'TESSERA_COLLECTORS');
  const resourceSet = text(env, 'TESSERA_RESOURCE_SET');
  if (resourceSet !== undefined && !RESOURCE_SET_PATTERN.test(resourceSet)) {
    throw invalid('TESSERA_RESOURCE_SET must be a resource set name or id: letters, digits, ".", "_" or "-", at most 128');
  }
  if (resourceSet !== undefined) options.resourceSet = resourceSet;
  const failMode = oneOf(env, 'TESSERA_FAIL_MODE', ['closed', 'open'] as const);
  if (failMode !== undefined) options.failMode = failMode;
  // The control plane's levels are accepted too, since one variable often configures both: the
  // SDK's most severe lines are warnings, so `error` and `fatal` keep those; `trace` is `debug`.
  const level = oneOf(env, 'TESSERA_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const);
  const sdkLevel: LogLevel = level === 'trace' ? 'debug' : level === 'error' || level === 'fatal' ? 'warn' : (level ?? 'warn');
  options.logger = consoleLogger(sdkLevel);
  const attest = oneOf(env, 'TESSERA_ATTEST', ['eager', 'lazy'] as const);
  if (attest !== undefined) options.attest = attest;

  const intercept = text(env, 'TESSERA_INTERCEPT');
  if (intercept !== undefined && intercept !== 'all') {
    const chosen = intercept === 'none' ? [] : list(intercept, 'TESSERA_INTERCEPT');
    for (const name of chosen) if (name !== 'fetch' && name !== 'http') throw invalid(`TESSERA_INTERCEPT: unknown "${name}"; use all, none, or fetch,http`);
    options.intercept = { fetch: chosen.includes('fetch'), http: chosen.includes('http') };
  }

  const skew = number(env, 'TESSERA_SKEW_SECONDS');
  if (skew !== undefined) options.skewSeconds = skew;
  const startTimeout = number(env, 'TESSERA_START_TIMEOUT_MS');
  if (startTimeout !== undefined) options.startTimeoutMs = startTimeout;
  const deadline = number(env, 'TESSERA_DEADLINE_MS', 1);
  if (deadline !== undefined) options.deadlineMs = deadline;
  const timeout = number(env, 'TESSERA_REQUEST_TIMEOUT_MS', 1);
  if (timeout !== undefined) options.requestTimeoutMs = timeout;

  const maxEntries = number(env, 'TESSERA_CACHE_MAX_ENTRIES', 1);
  const refreshAhead = number(env, 'TESSERA_CACHE_REFRESH_AHEAD_SECONDS');
  if (maxEntries !== undefined || refreshAhead !== undefined) {
    options.cache = { ...(maxEntries !== undefined ? { maxEntries } : {}), ...(refreshAhead !== undefined ? { refreshAheadSeconds: refreshAhead } : {}) };
  }

  // The TESSERA_EVENTS_* names are still read (checked the same way), the new names winning.
  number(env, 'TESSERA_EVENTS_MAX_QUEUE', 1);
  const legacy = oneOf(env, 'TESSERA_EVENTS', ['on', 'off'] as const);
  const metrics = oneOf(env, 'TESSERA_METRICS', ['on', 'off'] as const) ?? legacy;
  const legacyInterval = number(env, 'TESSERA_EVENTS_FLUSH_INTERVAL_MS', 1);
  const flushInterval = number(env, 'TESSERA_METRICS_FLUSH_INTERVAL_MS') ?? legacyInterval;
  if (metrics === 'off') options.metrics = false;
  else if (flushInterval !== undefined) options.metrics = { flushIntervalMs: flushInterval };
  return options;
}

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function list(value: string, name: string): string[] {
  const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) throw invalid(`${name} is empty`);
  return items;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[]): T | undefined {
  const value = text(env, name)?.toLowerCase();
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw invalid(`${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function number(env: Env, name: string, min = 0): number | undefined {
  const value = text(env, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw invalid(`${name} must be a whole number of at least ${min}`);
  return Number(value);
}

function invalid(message: string): TesseraConfigurationError {
  return new TesseraConfigurationError('invalid_options', message);
}
