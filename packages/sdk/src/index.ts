/**
 * @tessera/sdk runs inside the workload: it proves the workload's identity to the Tessera
 * control plane and injects short-lived credentials into outgoing requests.
 *
 * This release carries the errors applications branch on and the types of what the control plane
 * hands the SDK. Its building blocks — the edge client (attestation with a DPoP-bound token,
 * retries, events), the target directory, the credential cache and credential injection — live in
 * their folders and are wired into `fetch`, undici and `node:http` interception next.
 */
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
