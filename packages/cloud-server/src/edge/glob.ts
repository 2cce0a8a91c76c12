/**
 * Claim globs: `*` matches any run of characters (including none); everything else is literal.
 * Compiled once per snapshot; values are matched whole.
 */
export function compileGlob(pattern: string): (value: string) => boolean {
  if (!pattern.includes('*')) return (value) => value === pattern;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const regex = new RegExp(`^${source}$`, 's');
  return (value) => regex.test(value);
}
