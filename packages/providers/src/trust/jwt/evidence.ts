/** What the JWT collectors and verifiers agree on. Imports nothing: collectors load it in the workload. */

/** Larger tokens are refused before any parsing, and never read from a token file or an answer. */
export const MAX_JWT_EVIDENCE_BYTES = 16 * 1024;
