/** What both halves of `kubernetes-service-account` agree on: its names and the evidence's bounds. Imports nothing. */
export const KUBERNETES_TYPE = 'kubernetes-service-account';
export const KUBERNETES_EVIDENCE_TYPE = 'kubernetes-token';
