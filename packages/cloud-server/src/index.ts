export { buildApp, type AppOptions, type TesseraApp, BODY_LIMIT } from './app.js';
export { startServer, type RunningServer, type StartOptions } from './server.js';
export { resolveServerConfig, type ServerConfig } from './config.js';
export { ApiError, type ApiErrorCode } from './api/errors.js';
export { openStore } from './store/index.js';
export type { Store, StoredObject, AuditEvent, ObjectKind } from './store/types.js';
export { SecretBox, generateMasterKey, loadMasterKey } from './crypto/secret-box.js';
export { KeyRing } from './keys/key-ring.js';
export { ADMIN_ROLES, type AdminRole } from './auth/roles.js';
