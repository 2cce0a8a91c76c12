import type { SecretBox } from '../crypto/secret-box.js';
import { openSecrets } from '../objects/secrets.js';
import type { StoredObject } from '../store/types.js';
import { FileSink } from './file-sink.js';
import { DeliveryError, type AuditSink, type DeliveryFailure } from './sink.js';
import type { DestinationGuard } from '../egress/destination-guard.js';
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
  /** Where webhook streams may connect to. */
  guard: DestinationGuard;
  onFailure: (failure: DeliveryFailure) => void;
  /** A file stream takes over its files from the shared folder of earlier versions (see legacyFileOwners). */
  adoptLegacyFiles?: boolean;
}

export function createSink(stream: ExportStream, context: SinkContext): AuditSink {
  const { sink } = stream;
  if (sink.type === 'file') {
    return new FileSink({ dataDir: context.dataDir, resourceSetId: stream.resourceSetId, ...sink, adoptLegacyFiles: context.adoptLegacyFiles === true });
  }
  return new WebhookSink({ ...sink, guard: context.guard, onFailure: context.onFailure });
}

/**
 * File streams that cannot write because an older stream (smaller id) of their set has their
 * file name, by stream id → the owner's id. A name's rotated files count as the name
 * (`audit.1.jsonl` is `audit.jsonl` rotated once): writes refuse such names, but streams stored
 * before that rule may still have them.
 */
export function fileNameConflicts(streams: readonly ExportStream[]): Map<string, string> {
  const owners = ownersBy(streams, (stream, fileName) => `${stream.resourceSetId}/${fileName.replace(/(\.[0-9]+)*\.jsonl$/, '')}`);
  const conflicts = new Map<string, string>();
  for (const [stream, owner] of owners) if (stream !== owner) conflicts.set(stream, owner);
  return conflicts;
}

/**
 * Before each set had a folder of its own, all file streams shared `<dataDir>/audit/`, and of
 * the streams with one name, the one with the smallest id wrote the file: it is the one to move it.
 */
export function legacyFileOwners(streams: readonly ExportStream[]): Set<string> {
  return new Set(ownersBy(streams, (_stream, fileName) => fileName).values());
}

/** For each file stream, the id of the file stream with the smallest id that has the same key. */
function ownersBy(streams: readonly ExportStream[], keyOf: (stream: ExportStream, fileName: string) => string): Map<string, string> {
  const firstByKey = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const stream of [...streams].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (stream.sink.type !== 'file') continue;
    const key = keyOf(stream, stream.sink.fileName);
    if (!firstByKey.has(key)) firstByKey.set(key, stream.id);
    owners.set(stream.id, firstByKey.get(key)!);
  }
  return owners;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
