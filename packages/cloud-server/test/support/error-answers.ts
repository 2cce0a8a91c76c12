import { readFileSync } from 'node:fs';

/** What must never appear in an error answer: a stack frame, an error class, a path of this machine or a source location. */
export const LEAK_PATTERNS: readonly RegExp[] = [/\n\s*at /, /\bat \S+ \(/, /Error:/, /\/(work|home|root|usr|opt|tmp|var)\//, /node_modules/, /\.[cm]?[jt]s:\d+/];

/** The error codes the API reference tables list, admin and edge. */
export function documentedErrorCodes(): Set<string> {
  const codes = new Set<string>();
  for (const page of ['admin-api.md', 'edge-api.md']) {
    const text = readFileSync(new URL(`../../../../docs/${page}`, import.meta.url), 'utf8');
    for (const match of text.matchAll(/^\| `([a-z_]+)` \| [0-9]{3} \|/gm)) codes.add(match[1]!);
  }
  return codes;
}
