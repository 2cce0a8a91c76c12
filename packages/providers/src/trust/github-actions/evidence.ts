/** What both halves of `github-actions` agree on: its names and the evidence's bounds. Imports nothing. */
export const GITHUB_ACTIONS_TYPE = 'github-actions';
export const GITHUB_ACTIONS_EVIDENCE_TYPE = 'github-actions-token';
