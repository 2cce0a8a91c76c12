import type { SecretBox } from '../crypto/secret-box.js';
import { openSecrets } from '../objects/secrets.js';
import type { StoredObject } from '../store/types.js';
import { FileSink } from './file-sink.js';
import { DeliveryError, type AuditSink, type DeliveryFailure } from './sink.js';
import { WebhookSink } from './webhook-sink.js';

/**
 * A log stream object as the exporter needs it: typed config with the schema defaults applied
 * (admin writes store only what was sent), and its secrets opened.
 */
export interface ExportStream {
  id: string;
  name: string;
  resourceSetId: string;
  createdAt: string;
  /** Changes whenever the object does; a changed stream gets a fresh sink. */
  updatedAt: string;
  fromBeginning: boolean;
  /** How often an idle stream looks for new events (notify() wakes it sooner). */
  flushIntervalMs: number;
  sink:
    | { type: 'file'; fileName: string; maxBytes: number; maxFiles: number }
    | { type: 'webhook'; url: string; batchSize: number; timeoutMs: number; authorization?: string };
}

const DEFAULT_FLUSH_INTERVAL_MS = 1000;

/** Throws a DeliveryError (a message safe to show) when the stream cannot be exported. */
export function exportStreamOf(object: StoredObject, box: SecretBox): ExportStream {
  if (object.resourceSetId === null) throw new DeliveryError('log stream has no resource set');
  const type = object.spec.type;
  const config = (object.spec.config ?? {}) as Record<string, unknown>;
  const common = {
    id: object.id,
    name: object.name,
    resourceSetId: object.resourceSetId,
    createdAt: object.createdAt,
    updatedAt: object.updatedAt,
    fromBeginning: config.fromBeginning === true,
  };
  if (type === 'file') {
    return {
      ...common,
      flushIntervalMs: DEFAULT_FLUSH_INTERVAL_MS,
      sink: {
        type,
        fileName: String(config.fileName),
        maxBytes: numberOr(config.maxBytes, 100 * 1024 ** 2),
        maxFiles: numberOr(config.maxFiles, 5),
      },
    };
  }
  if (type === 'webhook') {
    let secrets: Record<string, string>;
    try {
      secrets = openSecrets(box, object.id, object.secrets);
    } catch {
      throw new DeliveryError('cannot decrypt the stream secrets (was the master key changed?)');
    }
    return {
      ...common,
      flushIntervalMs: numberOr(config.flushIntervalMs, DEFAULT_FLUSH_INTERVAL_MS),
      sink: {
        type,
        url: String(config.url),
        batchSize: numberOr(config.batchSize, 100),
        timeoutMs: numberOr(config.timeoutMs, 5000),
        ...(secrets.authorization === undefined ? {} : { authorization: secrets.authorization }),
      },
    };
  }
  throw new DeliveryError(`log stream type "${String(type)}" is not supported by this server`);
}

export interface SinkContext {
  dataDir: string;
  onFailure: (failure: DeliveryFailure) => void;
}

export function createSink(stream: ExportStream, context: SinkContext): AuditSink {
  const { sink } = stream;
  if (sink.type === 'file') return new FileSink({ dataDir: context.dataDir, ...sink });
  return new WebhookSink({ ...sink, onFailure: context.onFailure });
}

/** Two file streams must not append to one file; the stream with the smallest id keeps it. */
export function fileNameOwners(streams: readonly ExportStream[]): Map<string, string> {
  const owners = new Map<string, string>();
  for (const stream of [...streams].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (stream.sink.type === 'file' && !owners.has(stream.sink.fileName)) owners.set(stream.sink.fileName, stream.id);
  }
  return owners;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
