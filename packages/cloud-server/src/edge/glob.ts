/**
 * Claim globs: `*` matches any run of characters (including none); everything else is literal.
 * Compiled once per snapshot; values are matched whole.
 *
 * No RegExp: a backtracking engine takes time exponential in the number of stars
 * (`*a*a*a*a*a*a*a*a*b` against forty `a` froze the server for seconds). The literal parts are
 * matched instead: the first as a prefix, the last as a suffix, and each one between at its
 * leftmost occurrence after the previous one. Leftmost is always safe with `*` as the only
 * wildcard (any later occurrence leaves less room for the rest), so nothing is ever retried and
 * the work is a few `indexOf` scans over the value.
 */
export function compileGlob(pattern: string): (value: string) => boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return (value) => value === pattern;
  const prefix = parts[0]!;
  const suffix = parts[parts.length - 1]!;
  // Empty parts come from runs of stars (`**` is `*`), and match anywhere.
  const middle = parts.slice(1, -1).filter((part) => part !== '');
  const minLength = prefix.length + suffix.length + middle.reduce((sum, part) => sum + part.length, 0);
  return (value) => {
    if (value.length < minLength || !value.startsWith(prefix) || !value.endsWith(suffix)) return false;
    const end = value.length - suffix.length;
    let position = prefix.length;
    for (const part of middle) {
      const found = value.indexOf(part, position);
      if (found < 0 || found + part.length > end) return false;
      position = found + part.length;
    }
    return true;
  };
}

/** More wildcards than any real identity needs; `**` counts once. */
export const MAX_GLOB_WILDCARDS = 8;

/** Why `pattern` is not accepted as a claim glob, or undefined when it is. Checked on every admin write. */
export function globProblem(pattern: string): string | undefined {
  const wildcards = pattern.match(/\*+/g)?.length ?? 0;
  if (wildcards > MAX_GLOB_WILDCARDS) {
    return `a glob may have at most ${MAX_GLOB_WILDCARDS} wildcards (* or a run of *), this one has ${wildcards}`;
  }
  return undefined;
}
