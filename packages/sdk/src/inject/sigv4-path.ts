/**
 * The canonical URI a SigV4 signature covers, computed from the path as it goes on the request
 * line. The path itself is sent unchanged: only what is signed is canonical.
 *
 * - S3 decodes the path into its object key and signs the key URI-encoded once: every byte but
 *   `A-Za-z0-9-._~` and `/` as `%XX`. So `$`, `(`, `+` sent raw are signed `%24`, `%28`, `%2B`;
 *   `%7E` sent over-encoded is signed `~`; `%2F` is a slash of the key. Keys are opaque: dot
 *   segments and double slashes stay.
 * - Every other service removes dot segments and empty segments (RFC 3986, and AWS's test suite)
 *   and URI-encodes each segment of the path as received, so an escape already in it is
 *   encoded again (`%20` → `%2520`).
 *
 * Node and undici send a request-target as latin1, one byte per character, so characters are
 * read as bytes (a character past U+00FF, which they would refuse anyway, as its UTF-8 bytes).
 */
export function canonicalPath(path: string, service: string): string {
  if (path === '') return '/';
  if (service === 's3') return encode(decoded(path), true);
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const directory = segments.length > 0 && (path.endsWith('/') || path.endsWith('/.') || path.endsWith('/..'));
  return `/${segments.map((segment) => encode(bytesOf(segment), false)).join('/')}${directory ? '/' : ''}`;
}

/** `%XX` as its byte; anything else (a `+`, a stray `%`) as itself. */
function decoded(path: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    if (path[i] === '%' && isHex(path.charCodeAt(i + 1)) && isHex(path.charCodeAt(i + 2))) {
      bytes.push(Number.parseInt(path.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...bytesOf(path[i]!));
    }
  }
  return bytes;
}

function bytesOf(text: string): number[] {
  const bytes: number[] = [];
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code <= 0xff) bytes.push(code);
    else bytes.push(...Buffer.from(char, 'utf8'));
  }
  return bytes;
}

function encode(bytes: number[], keepSlash: boolean): string {
  let out = '';
  for (const byte of bytes) {
    if (isUnreserved(byte) || (keepSlash && byte === 0x2f)) out += String.fromCharCode(byte);
    else out += `%${byte < 0x10 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
  }
  return out;
}

/** RFC 3986 unreserved: `A-Z a-z 0-9 - . _ ~`. */
function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e
  );
}

function isHex(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}
