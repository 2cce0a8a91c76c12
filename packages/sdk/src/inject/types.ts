/**
 * The shapes the edge API hands the SDK, as far as injection needs them. They mirror the
 * cloud's `credentialView()` and the server-workload `injection` field exactly.
 */

/** How the server workload wants its credential placed on the request. */
export type Injection =
  | { kind: 'header'; name: string; /** Contains `{token}`; the cloud defaults it to `Bearer {token}`. */ format?: string }
  | { kind: 'basic' }
  | { kind: 'query'; name: string }
  | { kind: 'aws-sigv4'; region: string; service: string };

export type InjectionKind = Injection['kind'];

/** A credential as issued by `POST /edge/v1/credentials` (its expiry travels beside it). */
export type EdgeCredential =
  | { kind: 'token'; token: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'aws'; accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/** A plain header object, as `fetch` and `http.request` options carry it. */
export type HeaderObject = Record<string, string | string[] | number | undefined>;

/** undici's flat `[name, value, name, value]` form. */
export type FlatHeaders = Array<string | string[]>;

/** Anything iterable over `[name, value]` pairs: `Headers`, `Map`, a generator ... */
export type HeaderPairs = Iterable<readonly [string, string | string[]]>;

/** The three header representations interceptors meet (see shared/NOTES-node.md). */
export type HeadersInput = HeaderObject | FlatHeaders | HeaderPairs;

/** What injection reads and rewrites: the request-target (path and query) and the headers. */
export interface InjectableRequest<H extends HeadersInput = HeadersInput> {
  /** Path plus query, as sent on the request line: `/v1/items?page=2`. */
  path: string;
  /** Absent headers come back as a plain object. */
  headers?: H | null;
}

export interface InjectedRequest<H extends HeadersInput = HeadersInput> {
  path: string;
  headers: H;
}
