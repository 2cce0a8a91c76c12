export { EdgeClient, type EdgeClientOptions, type Session, type CredentialTarget } from './edge-client.js';
export { RequestMetrics, LATENCY_BOUNDS_MS, type RequestMetricsOptions, type MetricsReport, type MetricsSeries, type MetricsSender } from './request-metrics.js';
export type { CollectorsOption } from './collectors.js';
export type { CloudLogger } from './logger.js';
export type { CloudTransport, CloudRequest, CloudResponse } from './transport.js';
export type { DirectoryEntry, Injection, EdgeCredential, IssuedCredential } from './wire.js';
