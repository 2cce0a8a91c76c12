/**
 * @tessera/sdk runs inside the workload: it proves the workload's identity to the Tessera
 * control plane and injects short-lived credentials into outgoing requests.
 *
 * This release carries the error types shared with the providers, so applications can already
 * branch on `err.code`; interception, evidence collection and the credential cache follow.
 */
export { TesseraError, type TesseraErrorCode } from '@tessera/providers';
