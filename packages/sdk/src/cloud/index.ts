export { EdgeClient, type EdgeClientOptions, type Session, type CredentialTarget, type EdgeEvent } from './edge-client.js';
export { EventQueue, type EventQueueOptions, type EventSender } from './event-queue.js';
export type { CollectorsOption } from './collectors.js';
export type { CloudLogger } from './logger.js';
export type { CloudTransport, CloudRequest, CloudResponse } from './transport.js';
export type { DirectoryEntry, Injection, EdgeCredential, IssuedCredential } from './wire.js';
