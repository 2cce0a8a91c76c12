/**
 * The `sub` of every JWT the control plane signs for a client workload (workload-jwt, and the
 * assertions of aws-sts, gcp-workload-identity-federation and azure-workload-identity-federation).
 * It names the resource set as well as the workload, so two tenants' workloads never share a
 * subject, and a relying party's condition can take a whole set (`resource-set:<id>:*`):
 *
 * - `workload-id` (default): `resource-set:<resource set id>:client-workload:<client workload id>`.
 *   Stable: ids never change and are never reused.
 * - `workload-name`: `resource-set:<resource set name>:client-workload:<client workload name>`.
 *   Readable, but it changes when either is renamed, and a freed name can be taken again.
 *
 * Names and ids never contain `:`, so the parts cannot run into each other.
 */
import type { CredentialRequest } from '../contracts.js';

export type WorkloadSubjectFormat = 'workload-id' | 'workload-name';

export function workloadSubject(request: Pick<CredentialRequest, 'clientWorkload' | 'resourceSet'>, format: WorkloadSubjectFormat = 'workload-id'): string {
  const { clientWorkload, resourceSet } = request;
  return format === 'workload-name'
    ? `resource-set:${resourceSet.name}:client-workload:${clientWorkload.name}`
    : `resource-set:${resourceSet.id}:client-workload:${clientWorkload.id}`;
}
