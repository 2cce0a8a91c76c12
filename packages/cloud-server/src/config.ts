import { resolve } from 'node:path';
import { parseRuleList } from '@tessera/providers';
import { validatePresetKey } from './bootstrap.js';
import { DEFAULT_REPLAY_CACHE_SIZE } from './edge/replay-cache.js';

export interface ServerConfig {
  host: string;
  port: number;
  /** Explicit public URL; otherwise http://host:port once listening. */
  publicUrl?: string;
  dataDir: string;
  databaseUrl?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  bootstrapAdminKey?: string;
  shutdownTimeoutMs: number;
  /** Proxies whose X-Forwarded-For is believed (IPs or CIDRs). */
  trustedProxies: string[];
  /** Modules that register custom providers. */
  plugins: string[];
  /** Addresses or CIDR ranges that log streams may reach although loopback, private or link-local. */
  logStreamAllow: string[];
  /** Addresses or CIDR ranges that providers may reach although loopback, link-local or reserved. */
  providerEgressAllow: string[];
  /** Whether providers may reach private addresses without an allow-list entry (default: yes). */
  providerEgressPrivate: 'allow' | 'refuse';
  /** Audit events older than this are deleted (once exported by their log streams); undefined keeps them all. */
  auditRetentionMs?: number;
  /** Request metrics older than this are deleted; undefined keeps them all. Default: the audit retention. */
  metricsRetentionMs?: number;
  /** The longest SDKs wait between two reports of request metrics, and the least: they report no more often. */
  metricsIntervalSeconds: number;
  timeouts: ServerTimeouts;
  /** Most ids each replay cache (DPoP proof ids, used nonces) remembers. */
  replayCacheSize: number;
}

/** How long the HTTP server waits on a client, in milliseconds. */
export interface ServerTimeouts {
  /** For the request line and headers, from the moment the connection opens (or the previous response ends). */
  headersMs: number;
  /** For the whole request, headers and body; the time taken to answer does not count. */
  requestMs: number;
  /** Before an idle keep-alive connection is closed. */
  keepAliveMs: number;
  /** Before a connection on which nothing moves either way is closed. */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 72_000, idleMs: 120_000 };

export const DEFAULT_DATA_DIR = '.tessera';

/** Flags win over TESSERA_* variables, which win over defaults. */
export interface ServerFlags {
  host?: string;
  port?: string;
  'public-url'?: string;
  data?: string;
  'database-url'?: string;
  'log-level'?: string;
  'trusted-proxy'?: string[];
  plugin?: string[];
  'log-stream-allow'?: string[];
  'provider-egress-allow'?: string[];
  'provider-egress-private'?: string;
  'audit-retention'?: string;
  'metrics-retention'?: string;
  'metrics-interval'?: string;
  'headers-timeout-ms'?: string;
  'request-timeout-ms'?: string;
  'keep-alive-timeout-ms'?: string;
  'idle-timeout-ms'?: string;
  'replay-cache-size'?: string;
}

const list = (value: string | undefined) => (value ? value.split(',').map((v) => v.trim()).filter(Boolean) : []);

/** A whole number from a flag or its variable, within [min, max]; the default when neither is set. */
function wholeNumber(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = /^[0-9]{1,10}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!(value >= min && value <= max)) throw new Error(`--${flag} must be a whole number from ${min} to ${max}`);
  return value;
}

function resolveTimeouts(flags: ServerFlags, env: NodeJS.ProcessEnv): ServerTimeouts {
  const hour = 3_600_000;
  const timeouts: ServerTimeouts = {
    headersMs: wholeNumber('headers-timeout-ms', flags['headers-timeout-ms'] ?? env.TESSERA_HEADERS_TIMEOUT_MS, DEFAULT_TIMEOUTS.headersMs, 100, hour),
    requestMs: wholeNumber('request-timeout-ms', flags['request-timeout-ms'] ?? env.TESSERA_REQUEST_TIMEOUT_MS, DEFAULT_TIMEOUTS.requestMs, 100, hour),
    keepAliveMs: wholeNumber('keep-alive-timeout-ms', flags['keep-alive-timeout-ms'] ?? env.TESSERA_KEEP_ALIVE_TIMEOUT_MS, DEFAULT_TIMEOUTS.keepAliveMs, 100, hour),
    idleMs: wholeNumber('idle-timeout-ms', flags['idle-timeout-ms'] ?? env.TESSERA_IDLE_TIMEOUT_MS, DEFAULT_TIMEOUTS.idleMs, 100, hour),
  };
  // Node refuses a headers timeout longer than the request timeout (the headers are part of the request).
  if (timeouts.headersMs > timeouts.requestMs) throw new Error('--headers-timeout-ms must not be longer than --request-timeout-ms');
  return timeouts;
}

export function resolveServerConfig(flags: ServerFlags, env: NodeJS.ProcessEnv): ServerConfig {
  const rawPort = flags.port ?? (env.TESSERA_PORT || undefined) ?? '8080';
  const port = /^[0-9]{1,5}$/.test(rawPort) ? Number(rawPort) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be an integer from 0 to 65535');
  const publicUrl = flags['public-url'] ?? env.TESSERA_PUBLIC_URL;
  if (publicUrl !== undefined) {
    const url = URL.parse(publicUrl);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash) {
      throw new Error('--public-url must be an http(s) URL without query or fragment');
    }
  }
  const logLevel = (flags['log-level'] ?? env.TESSERA_LOG_LEVEL ?? 'info') as ServerConfig['logLevel'];
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new Error('--log-level must be one of fatal, error, warn, info, debug, trace, silent');
  }
  const databaseUrl = flags['database-url'] ?? env.TESSERA_DATABASE_URL;
  if (databaseUrl && !/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    // Name only the scheme: the rest of the URL may hold a password.
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(databaseUrl)?.[1] ?? '(none)';
    throw new Error(`--database-url: unsupported scheme "${scheme}"; use postgres://… or leave it unset for the embedded store`);
  }
  if (env.TESSERA_BOOTSTRAP_ADMIN_KEY) validatePresetKey(env.TESSERA_BOOTSTRAP_ADMIN_KEY);
  const logStreamAllow = flags['log-stream-allow']?.length ? flags['log-stream-allow'] : list(env.TESSERA_LOG_STREAM_ALLOW);
  const providerEgressAllow = flags['provider-egress-allow']?.length ? flags['provider-egress-allow'] : list(env.TESSERA_PROVIDER_EGRESS_ALLOW);
  const badAllow = [...parseRuleList('--log-stream-allow', logStreamAllow).issues, ...parseRuleList('--provider-egress-allow', providerEgressAllow).issues];
  if (badAllow.length > 0) throw new Error(badAllow.join('; '));
  const providerEgressPrivate = flags['provider-egress-private'] ?? env.TESSERA_PROVIDER_EGRESS_PRIVATE ?? 'allow';
  if (providerEgressPrivate !== 'allow' && providerEgressPrivate !== 'refuse') throw new Error('--provider-egress-private must be allow or refuse');
  const retention = flags['audit-retention'] ?? env.TESSERA_AUDIT_RETENTION;
  const auditRetentionMs = retention === undefined ? undefined : parseRetention('audit-retention', retention);
  const metricsRetention = flags['metrics-retention'] ?? env.TESSERA_METRICS_RETENTION;
  const metricsRetentionMs = metricsRetention === undefined ? auditRetentionMs : parseRetention('metrics-retention', metricsRetention);
  return {
    host: flags.host ?? env.TESSERA_HOST ?? '127.0.0.1',
    port,
    ...(publicUrl !== undefined ? { publicUrl: publicUrl.replace(/\/+$/, '') } : {}),
    dataDir: resolve(flags.data ?? env.TESSERA_DATA_DIR ?? DEFAULT_DATA_DIR),
    ...(databaseUrl ? { databaseUrl } : {}),
    logLevel,
    ...(env.TESSERA_BOOTSTRAP_ADMIN_KEY ? { bootstrapAdminKey: env.TESSERA_BOOTSTRAP_ADMIN_KEY } : {}),
    shutdownTimeoutMs: 10_000,
    trustedProxies: flags['trusted-proxy']?.length ? flags['trusted-proxy'] : list(env.TESSERA_TRUSTED_PROXIES),
    plugins: flags.plugin?.length ? flags.plugin : list(env.TESSERA_PLUGINS),
    logStreamAllow,
    providerEgressAllow,
    providerEgressPrivate,
    ...(auditRetentionMs !== undefined ? { auditRetentionMs } : {}),
    ...(metricsRetentionMs !== undefined ? { metricsRetentionMs } : {}),
    metricsIntervalSeconds: wholeNumber('metrics-interval', flags['metrics-interval'] ?? env.TESSERA_METRICS_INTERVAL, 10, 1, 86_400),
    timeouts: resolveTimeouts(flags, env),
    replayCacheSize: wholeNumber('replay-cache-size', flags['replay-cache-size'] ?? env.TESSERA_REPLAY_CACHE_SIZE, DEFAULT_REPLAY_CACHE_SIZE, 1000, 100_000_000),
  };
}

const RETENTION_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30d`, `12h`, `90m`: at least an hour (shorter would delete what an operator has not looked at yet). */
function parseRetention(flag: string, value: string): number {
  const match = /^([1-9][0-9]{0,5})([mhd])$/.exec(value);
  const ms = match ? Number(match[1]) * RETENTION_UNITS_MS[match[2] as keyof typeof RETENTION_UNITS_MS] : 0;
  if (ms < RETENTION_UNITS_MS.h) throw new Error(`--${flag} must be a duration such as 30d, 12h or 90m, of at least 1h`);
  return ms;
}
