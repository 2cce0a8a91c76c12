import { replaceHeader } from './headers.js';
import { InjectionError } from './injection-error.js';
import { setQueryParameter } from './query.js';
import type { EdgeCredential, HeadersInput, InjectableRequest, InjectedRequest, Injection } from './types.js';

type Of<K extends Injection['kind']> = Extract<Injection, { kind: K }>;

/**
 * Pure functions that place an issued credential on a request description. They return a new
 * path and headers (same header representation as given) and never modify the input.
 */

/** Place the credential as the server workload says. aws-sigv4 throws: see injectAwsSigv4 and signAwsSigv4. */
export function applyInjection<H extends HeadersInput>(
  request: InjectableRequest<H>,
  credential: EdgeCredential,
  injection: Injection,
): InjectedRequest<H> {
  switch (injection.kind) {
    case 'header':
      return injectHeader(request, credential, injection);
    case 'basic':
      return injectBasic(request, credential, injection);
    case 'query':
      return injectQuery(request, credential, injection);
    case 'aws-sigv4':
      return injectAwsSigv4(request, credential, injection);
    default: {
      const kind = String((injection as { kind?: unknown }).kind);
      throw new InjectionError('injection_unsupported', kind as Injection['kind'], 'unknown injection kind');
    }
  }
}

/** The credential in the header the server workload names (see headerPlacement). */
export function injectHeader<H extends HeadersInput>(
  request: InjectableRequest<H>,
  credential: EdgeCredential,
  injection: Of<'header'>,
): InjectedRequest<H> {
  const { name, value } = preparedHeader(credential, injection);
  return { path: request.path, headers: replaceHeader(request.headers, name, value) };
}

/** `Authorization: Basic base64(username:password)` (RFC 7617, UTF-8). Needs a basic credential. */
export function injectBasic<H extends HeadersInput>(
  request: InjectableRequest<H>,
  credential: EdgeCredential,
  injection: Of<'basic'> = { kind: 'basic' },
): InjectedRequest<H> {
  const { name, value } = preparedHeader(credential, injection);
  return { path: request.path, headers: replaceHeader(request.headers, name, value) };
}

/** A header placement, made once per credential: its name and complete value, checked. */
interface PreparedHeader {
  readonly injection: Injection;
  readonly name: string;
  readonly value: string;
}

/**
 * Every managed request with a cached credential places the same header: the value (format,
 * base64 of a basic pair) and its CR/LF/NUL check are worked out at the credential's first use
 * and kept with it. A refusal (InjectionError) is not kept: it is thrown anew each time.
 */
const preparedHeaders = new WeakMap<EdgeCredential, PreparedHeader>();

function preparedHeader(credential: EdgeCredential, injection: Of<'header'> | Of<'basic'>): PreparedHeader {
  const known = preparedHeaders.get(credential);
  if (known !== undefined && known.injection === injection) return known;
  const prepared = { injection, ...headerPlacement(credential, injection) };
  preparedHeaders.set(credential, prepared);
  return prepared;
}

/**
 * `name: format` with `{token}` replaced (`Authorization: Bearer {token}` by default). A basic
 * credential fills `{token}` with base64(`username:password`), so a server that wants Basic
 * under another header (`Proxy-Authorization: Basic {token}`) can be described; an AWS
 * credential cannot be placed in a header. Basic injection: `Authorization: Basic ...`.
 */
function headerPlacement(credential: EdgeCredential, injection: Of<'header'> | Of<'basic'>): { name: string; value: string } {
  if (injection.kind === 'basic') {
    if (credential.kind !== 'basic') throw mismatch('basic', credential.kind);
    return { name: 'authorization', value: `Basic ${basicToken(credential, 'basic')}` };
  }
  const format = injection.format ?? 'Bearer {token}';
  if (!format.includes('{token}')) throw new InjectionError('invalid_injection', 'header', 'the header format has no {token} placeholder');
  let token: string;
  if (credential.kind === 'token') token = credential.token;
  else if (credential.kind === 'basic') token = basicToken(credential, 'header');
  else throw mismatch('header', credential.kind);
  // split/join, not replace(): a `$&` or `$'` inside a token must stay literal.
  const value = format.split('{token}').join(token);
  checkHeaderValue(value, 'header');
  return { name: injection.name, value };
}

/** `?name=token`, replacing any parameter of that name. Needs a token credential. */
export function injectQuery<H extends HeadersInput>(
  request: InjectableRequest<H>,
  credential: EdgeCredential,
  injection: Of<'query'>,
): InjectedRequest<H> {
  if (credential.kind !== 'token') throw mismatch('query', credential.kind);
  return { path: setQueryParameter(request.path, injection.name, credential.token), headers: request.headers ?? ({} as H) };
}

/**
 * Always throws: a SigV4 signature covers the method, the whole URL, chosen headers and a hash
 * of the body, so it is computed on the complete request by `signAwsSigv4` (sigv4.ts), not here.
 */
export function injectAwsSigv4(_request: unknown, _credential: EdgeCredential, _injection: Of<'aws-sigv4'>): never {
  throw new InjectionError(
    'injection_unsupported',
    'aws-sigv4',
    'aws-sigv4 is applied by the SigV4 signer, which signs the complete request; header/query injection cannot place it',
  );
}

/**
 * The headers (lower case) a credential placed by this injection lives in: what must be dropped
 * before a fresh credential goes on, and what must never follow a redirect elsewhere. A query
 * parameter is in the path, so none.
 */
export function credentialHeaderNames(injection: Injection): readonly string[] {
  switch (injection.kind) {
    case 'header': {
      let names = headerNames.get(injection);
      if (names === undefined) headerNames.set(injection, (names = Object.freeze([injection.name.toLowerCase()])));
      return names;
    }
    case 'basic':
      return AUTHORIZATION;
    case 'aws-sigv4':
      return SIGV4_HEADERS;
    default:
      return NONE;
  }
}

/** Asked for every managed request (redirect stripping): made once per injection. */
const headerNames = new WeakMap<Injection, readonly string[]>();
const AUTHORIZATION: readonly string[] = Object.freeze(['authorization']);
const SIGV4_HEADERS: readonly string[] = Object.freeze(['authorization', 'x-amz-date', 'x-amz-security-token']);
const NONE: readonly string[] = Object.freeze([]);

function basicToken(credential: Extract<EdgeCredential, { kind: 'basic' }>, injection: Injection['kind']): string {
  // RFC 7617: the user-id cannot contain a colon; the server would split it at the wrong place.
  if (credential.username.includes(':')) throw new InjectionError('invalid_credential_value', injection, 'the username contains ":"');
  const pair = `${credential.username}:${credential.password}`;
  if (/[\r\n\0]/.test(pair)) throw new InjectionError('invalid_credential_value', injection, 'the credential contains CR, LF or NUL');
  return Buffer.from(pair, 'utf8').toString('base64');
}

/**
 * CR, LF and NUL would split the header (request smuggling) and make `Headers.set` throw an
 * error whose message quotes the value — the credential. Refuse first, naming no value.
 */
function checkHeaderValue(value: string, injection: Injection['kind']): void {
  if (/[\r\n\0]/.test(value)) throw new InjectionError('invalid_credential_value', injection, 'the credential contains CR, LF or NUL');
}

function mismatch(injection: Injection['kind'], credential: EdgeCredential['kind']): InjectionError {
  return new InjectionError('credential_kind_mismatch', injection, `a ${credential} credential cannot be placed by ${injection} injection`);
}
