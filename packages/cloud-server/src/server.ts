import { createProviderRegistry, type ProviderRegistry } from '@tessera/providers';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { AuditExporter } from './audit/exporter.js';
import { DestinationGuard, providerDestinationGuard } from './egress/destination-guard.js';
import { AuditRetention } from './audit/retention.js';
import { MetricsRetention } from './metrics/retention.js';
import { bootstrap } from './bootstrap.js';
import type { ServerConfig } from './config.js';
import { SecretBox, loadMasterKey, verifyMasterKey } from './crypto/secret-box.js';
import { KeyRing } from './keys/key-ring.js';
import { ObjectService } from './objects/service.js';
import { typedSchemaLookup } from './objects/registry-schemas.js';
import { openStore } from './store/index.js';
import { loadPlugins } from './plugins.js';
import { StdoutLog } from './stdout-log.js';
import { loggerOptions } from './logger-options.js';
import type { Store } from './store/types.js';

export interface RunningServer {
  app: FastifyInstance;
  store: Store;
  /** Exports audit events to the log streams (status() for diagnostics). */
  auditExporter: AuditExporter;
  /** The public URL: the OIDC issuer (the listening URL unless --public-url was given). */
  url: string;
  /** Where the server listens. */
  listeningUrl: string;
  /** The bootstrap admin key, when this start generated one. */
  bootstrapAdminKey?: string;
  /** Drains in-flight requests, then closes the store. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  config: ServerConfig;
  env?: NodeJS.ProcessEnv;
  /** A registry with custom providers; defaults to the built-ins. */
  registry?: ProviderRegistry;
  /** Where log lines go; defaults to stdout. */
  output?: StdoutLog;
}

/** Everything `tessera-cloud start` does short of installing signal handlers. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config } = options;
  const env = options.env ?? process.env;
  const embedded = config.databaseUrl === undefined;
  const master = await loadMasterKey({ env, createIfMissing: embedded, ...(embedded ? { dataDir: config.dataDir } : {}) });
  const box = new SecretBox(master.key);
  const store = await openStore({ dataDir: config.dataDir, ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}) });
  let app: FastifyInstance | undefined;
  try {
    await verifyMasterKey(store, box);
    const registry = options.registry ?? createProviderRegistry();
    await loadPlugins(config.plugins, registry);
    const keyRing = new KeyRing({ store, box });
    await keyRing.ensureActiveKey();
    const streamGuard = new DestinationGuard({ allow: config.logStreamAllow });
    const service = new ObjectService({ store, box, schemas: typedSchemaLookup(registry, streamGuard) });

    let listeningUrl = '';
    let exporter: AuditExporter | undefined;
    const built = await buildApp({
      store,
      box,
      keyRing,
      registry,
      publicUrl: () => config.publicUrl ?? listeningUrl,
      onAuditEvents: () => exporter?.notify(),
      streamGuard,
      providerGuard: providerDestinationGuard(config.providerEgressAllow, { privateNetworks: config.providerEgressPrivate }),
      trustedProxies: config.trustedProxies,
      timeouts: config.timeouts,
      replayCacheSizes: { proofs: config.replayCacheSize, nonces: config.replayCacheSize },
      requestMetrics: { reportIntervalSeconds: config.metricsIntervalSeconds },
      logger: loggerOptions(config.logLevel, options.output ?? new StdoutLog()),
    });
    app = built.app;
    exporter = new AuditExporter({
      store,
      box,
      dataDir: config.dataDir,
      guard: streamGuard,
      logger: app.log.child({ component: 'audit-export' }),
      ...exportTuning(env),
    });
    const address = await app.listen({ host: config.host, port: config.port });
    listeningUrl = address;
    // Only once the server listens: a first start that fails earlier (port taken, bad flag) must
    // not create a key that nobody ever sees.
    const boot = await bootstrap(store, service, config.bootstrapAdminKey);
    // The default resource set it may have created is where SDKs attest unless they name another.
    await built.reloadPolicies();
    exporter.start();
    const auditExporter = exporter;
    const retention =
      config.auditRetentionMs === undefined
        ? undefined
        : new AuditRetention({ store, maxAgeMs: config.auditRetentionMs, logger: app.log.child({ component: 'audit-retention' }) });
    retention?.start();
    // Runs without --metrics-retention too: report ids of ended processes must go.
    const metricsRetention = new MetricsRetention({
      store,
      ...(config.metricsRetentionMs !== undefined ? { maxAgeMs: config.metricsRetentionMs } : {}),
      logger: app.log.child({ component: 'request-metrics-retention' }),
    });
    metricsRetention.start();
    let closing: Promise<void> | undefined;
    return {
      app,
      store,
      auditExporter,
      url: config.publicUrl ?? address,
      listeningUrl: address,
      ...(boot.generatedKey ? { bootstrapAdminKey: boot.generatedKey } : {}),
      close: () =>
        (closing ??= (async () => {
          built.beginShutdown();
          // The exporter finishes its delivery in flight while requests drain; both need the store.
          await Promise.all([built.app.close(), auditExporter.stop(), retention?.stop(), metricsRetention.stop()]);
          await store.close();
        })()),
    };
  } catch (error) {
    await app?.close().catch(() => {});
    await store.close().catch(() => {});
    throw error;
  }
}

/**
 * The lease TTL decides how soon exports resume after a crash (SIGKILL) when the new process
 * cannot release the dead one's lease; operators (and the end-to-end tests) may shorten it.
 */
function exportTuning(env: NodeJS.ProcessEnv): { leaseTtlMs?: number } {
  const ttl = Number(env.TESSERA_AUDIT_LEASE_TTL_MS);
  return Number.isInteger(ttl) && ttl >= 1000 ? { leaseTtlMs: ttl } : {};
}
