import { resolve } from 'node:path';
import { parseRuleList } from '@tessera/providers';
import { validatePresetKey } from './bootstrap.js';

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
  /** Audit events older than this are deleted (once exported by their log streams); undefined keeps them all. */
  auditRetentionMs?: number;
}

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
  'audit-retention'?: string;
}

const list = (value: string | undefined) => (value ? value.split(',').map((v) => v.trim()).filter(Boolean) : []);

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
  const badAllow = parseRuleList('--log-stream-allow', logStreamAllow).issues;
  if (badAllow.length > 0) throw new Error(badAllow.join('; '));
  const retention = flags['audit-retention'] ?? env.TESSERA_AUDIT_RETENTION;
  const auditRetentionMs = retention === undefined ? undefined : parseRetention(retention);
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
    ...(auditRetentionMs !== undefined ? { auditRetentionMs } : {}),
  };
}

const RETENTION_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30d`, `12h`, `90m`: at least an hour (shorter would delete what an operator has not looked at yet). */
function parseRetention(value: string): number {
  const match = /^([1-9][0-9]{0,5})([mhd])$/.exec(value);
  const ms = match ? Number(match[1]) * RETENTION_UNITS_MS[match[2] as keyof typeof RETENTION_UNITS_MS] : 0;
  if (ms < RETENTION_UNITS_MS.h) throw new Error('--audit-retention must be a duration such as 30d, 12h or 90m, of at least 1h');
  return ms;
}
