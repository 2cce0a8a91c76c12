/**
 * @tessera/sdk runs inside the workload: it proves the workload's identity to the Tessera
 * control plane and injects short-lived credentials into outgoing requests made with `fetch`,
 * undici and `node:http`, without changes to the application's code.
 *
 * - `init()` / `shutdown()`, or zero code with `node --import @tessera/sdk/register`.
 * - `withTessera(handler)` for serverless handlers.
 * - `new Tessera(options)` for explicit use without patching anything global: `tessera.fetch`,
 *   `tessera.dispatcher()`, `tessera.interceptor`, `tessera.getCredential()`.
 */
export { init, shutdown, getCredential, tessera, type InitOptions } from './init.js';
export { withTessera } from './serverless.js';
export { optionsFromEnv, ENVIRONMENT } from './config/env.js';
export { Tessera, type TesseraOptions, type FailMode, type CredentialGrant, type CredentialTargetInput } from './runtime/tessera.js';
export { consoleLogger, type LogLevel } from './runtime/logger.js';
export type { CloudLogger as TesseraLogger } from './cloud/logger.js';
export type { CollectorsOption, EvidenceCollectorSource } from './cloud/collectors.js';
export {
  TesseraError,
  TesseraAccessDeniedError,
  TesseraUnavailableError,
  TesseraConfigurationError,
  TesseraCloudError,
  type TesseraErrorCode,
  type AccessDeniedCode,
  type AccessDeniedDetails,
  type ConfigurationErrorCode,
  type SdkErrorCode,
} from './errors.js';
export { InjectionError, type InjectionErrorCode } from './inject/index.js';
export type { DirectoryEntry, EdgeCredential, Injection, IssuedCredential } from './cloud/index.js';
