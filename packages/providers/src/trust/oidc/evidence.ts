/** What both halves of `oidc` agree on: its names and the evidence's bounds. Imports nothing. */
export const OIDC_TYPE = 'oidc';
export const OIDC_EVIDENCE_TYPE = 'jwt';
