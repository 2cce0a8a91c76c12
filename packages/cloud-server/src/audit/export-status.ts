import type { StoredObject } from '../store/types.js';

/** Pino-shaped: the server passes its logger's child. */
export interface ExporterLogger {
  debug(details: object, message: string): void;
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** What `AuditExporter.status()` reports per log stream. */
export interface LogStreamExportStatus {
  streamId: string;
  name: string;
  type: string;
  resourceSetId: string | null;
  /** standby: another replica holds the lease; invalid: the stream cannot be exported as configured. */
  state: 'starting' | 'standby' | 'idle' | 'delivering' | 'failing' | 'stopped' | 'invalid';
  leaseHeld: boolean;
  lastDeliveredId: string | null;
  lastDeliveredAt: string | null;
  /** Events delivered by this process since the stream's runner started. */
  delivered: number;
  consecutiveFailures: number;
  /** Never holds a secret or an event payload. */
  lastError: string | null;
}

/** The status of a stream that cannot be exported as configured. */
export function invalidStatus(object: StoredObject, message: string): LogStreamExportStatus {
  return {
    streamId: object.id,
    name: object.name,
    type: String(object.spec.type),
    resourceSetId: object.resourceSetId,
    state: 'invalid',
    leaseHeld: false,
    lastDeliveredId: null,
    lastDeliveredAt: null,
    delivered: 0,
    consecutiveFailures: 0,
    lastError: message,
  };
}
