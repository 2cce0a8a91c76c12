/** What both halves of `azure-managed-identity` agree on: its names and the evidence's bounds. Imports nothing. */
export const AZURE_MANAGED_IDENTITY_TYPE = 'azure-managed-identity';
export const AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE = 'azure-managed-identity';
