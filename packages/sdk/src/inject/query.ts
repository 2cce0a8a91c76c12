/**
 * Set one query parameter on a request path (`/v1/items?page=2`), replacing every parameter of
 * that name in place of the first and appending it when absent. The other parameters keep
 * their order and their exact bytes: re-serialising through URLSearchParams would rewrite their
 * encoding (`%20` → `+`), which can break signatures and caches downstream.
 */
export function setQueryParameter(path: string, name: string, value: string): string {
  const hashAt = path.indexOf('#');
  const beforeHash = hashAt < 0 ? path : path.slice(0, hashAt);
  const hash = hashAt < 0 ? '' : path.slice(hashAt);
  const questionAt = beforeHash.indexOf('?');
  const pathname = questionAt < 0 ? beforeHash : beforeHash.slice(0, questionAt);
  const query = questionAt < 0 ? '' : beforeHash.slice(questionAt + 1);

  const pair = `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  const parts: string[] = [];
  let placed = false;
  for (const part of query === '' ? [] : query.split('&')) {
    const equalsAt = part.indexOf('=');
    if (decodeName(equalsAt < 0 ? part : part.slice(0, equalsAt)) !== name) {
      parts.push(part);
    } else if (!placed) {
      parts.push(pair);
      placed = true;
    }
  }
  if (!placed) parts.push(pair);
  return `${pathname || '/'}?${parts.join('&')}${hash}`;
}

/** `api%5Fkey` and `api_key` name one parameter (form decoding, as servers apply it). */
function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}
