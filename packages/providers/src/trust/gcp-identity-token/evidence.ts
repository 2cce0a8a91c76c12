/** What both halves of `gcp-identity-token` agree on: its names and the evidence's bounds. Imports nothing. */
export const GCP_IDENTITY_TOKEN_TYPE = 'gcp-identity-token';
export const GCP_IDENTITY_TOKEN_EVIDENCE_TYPE = 'gcp-identity-token';
