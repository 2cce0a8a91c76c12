/**
 * Awkward request-targets for SigV4 tests: what an application passes to fetch, undici or
 * node:http, already valid on a request line. Each exercises one way the canonical form differs
 * from what is sent. Test support only.
 */

/** S3 object paths (`/bucket/key`): S3 decodes the key and encodes it once, without normalising. */
export const S3_PATHS: readonly string[] = [
  // The issue's example: `$`, an escaped space, `()`, `!'*@,` — all escaped in the canonical form.
  "/corpus/test$file%20(1)!'*@,.txt",
  // AWS's PUT Object example key.
  '/corpus/test$file.text',
  // A literal `+` is a plus in a path (never a space), canonically `%2B`.
  '/corpus/plus+sign+1',
  '/corpus/escaped%2Bplus',
  // Over-encoded unreserved characters are decoded: `%7E` signs as `~`, `%41` as `A`.
  '/corpus/over%7Eencoded%41',
  '/corpus/tilde~kept',
  // UTF-8, upper- and lower-case escapes.
  '/corpus/caf%C3%A9-%E6%97%A5%E6%9C%AC',
  '/corpus/lower%c3%a9hex',
  // Reserved characters left raw in the path.
  '/corpus/eq=amp&semi;colon:at@',
  '/corpus/brackets[0]',
  // An escaped slash inside a segment is a slash of the key.
  '/corpus/slash%2Finside',
  '/corpus/double//slash',
  '/corpus/trailing/',
  // S3 keys are opaque: dot segments are part of the key (fetch normalises them before sending).
  '/corpus/dot/./seg/../key',
  // A literal `%` and an escaped space beside a raw `+`.
  '/corpus/pct%25literal%20and+plus',
];

/** Query strings (after `?`): unsorted, repeated, empty, `+`, escapes, names that sort differently once escaped. */
export const QUERIES: readonly string[] = [
  'b=2&a=1',
  'a=2&a=1&a=',
  'empty=&flag',
  'q=a+b&r=a%20b&s=%2B',
  'x=%7e&y=~&z=%41',
  'unicode=%E6%97%A5&lower=%c3%a9',
  'value=a=b&amp=%26',
  // `x%3D` sorts before `x0` once escaped (`%` < `0`), after it decoded (`=` > `0`).
  'x0=1&x%3D=2',
  'Zed=1&alpha=2&_=3',
  'prefix=a%2Fb&delimiter=/',
];

/** Paths for services other than S3: escaped again, dot segments and empty segments removed. */
export const SERVICE_PATHS: readonly string[] = [
  '/',
  '/2015-03-31/functions/my-function/invocations',
  "/test$file%20(1)!'*@,.txt",
  '/plus+sign/over%7Eencoded',
  '/caf%C3%A9/%E6%97%A5',
  '/eq=amp&semi;colon:at@',
  '/slash%2Finside',
  '/double//slash//',
  '/trailing/',
  '/dot/./seg/../key',
  '/up/two/../..',
  // RFC 3986: a path ending in a dot segment keeps its trailing slash.
  '/dir/sub/..',
  '/dir/sub/.',
];

/** Every S3 path with and without a query; the queries on the first path. */
export function s3Targets(): string[] {
  return [...S3_PATHS, ...QUERIES.map((query) => `${S3_PATHS[0]}?${query}`), ...QUERIES.map((query) => `/corpus/listing?${query}`)];
}

export function serviceTargets(): string[] {
  return [...SERVICE_PATHS, ...QUERIES.map((query) => `/query?${query}`)];
}

/** The request-target fetch sends for `target`: WHATWG URL parsing removes dot segments. */
export function asFetchSends(target: string): string {
  const url = new URL(target, 'http://host.invalid');
  return `${url.pathname}${url.search}`;
}
