import { TesseraError } from '@tessera/providers';
import { Headers as UndiciHeaders } from 'undici';
import { describe, expect, it } from 'vitest';
import { applyInjection, injectAwsSigv4, injectBasic, injectHeader, injectQuery } from './inject.js';
import { InjectionError } from './injection-error.js';
import type { EdgeCredential, HeadersInput, Injection } from './types.js';

const SECRET = 'sk_live_s3cr3t';
const token: EdgeCredential = { kind: 'token', token: SECRET };
const basic: EdgeCredential = { kind: 'basic', username: 'svc', password: SECRET };
const aws: EdgeCredential = { kind: 'aws', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET };
const bearer: Injection = { kind: 'header', name: 'Authorization', format: 'Bearer {token}' };
const basicValue = `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`;

/** Every representation, each with an application-set `authorization` in another case. */
const representations: Array<[string, () => HeadersInput]> = [
  ['plain object', () => ({ authorization: 'app-value', accept: 'application/json' })],
  ['flat array', () => ['AUTHORIZATION', 'app-value', 'accept', 'application/json']],
  ['Headers', () => new Headers({ authorization: 'app-value', accept: 'application/json' })],
  ['undici Headers', () => new UndiciHeaders({ authorization: 'app-value', accept: 'application/json' })],
  ['Map', () => new Map([['Authorization', 'app-value'], ['accept', 'application/json']])],
  ['generator', () => (function* () { yield ['authorization', 'app-value'] as const; yield ['accept', 'application/json'] as const; })()],
];

/** Pairs out of any representation, to assert on uniformly. */
function pairs(headers: HeadersInput): Array<[string, string]> {
  if (Array.isArray(headers)) {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < headers.length; i += 2) out.push([String(headers[i]), String(headers[i + 1])]);
    return out;
  }
  if (Symbol.iterator in headers) return [...(headers as Iterable<[string, string]>)].map(([k, v]) => [k, String(v)]);
  return Object.entries(headers).map(([k, v]) => [k, String(v)]);
}

function valuesOf(headers: HeadersInput, name: string): string[] {
  return pairs(headers).filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

function sameRepresentation(input: HeadersInput, output: HeadersInput): void {
  expect(Array.isArray(output)).toBe(Array.isArray(input));
  expect(Object.getPrototypeOf(output)).toBe(Array.isArray(input) || input instanceof Map || Object.prototype.toString.call(input) === '[object Headers]' ? Object.getPrototypeOf(input) : Object.getPrototypeOf(output));
  if (!Array.isArray(input) && Symbol.iterator in input) expect(Symbol.iterator in output).toBe(true);
}

describe.each(representations)('header representation: %s', (_label, make) => {
  it.each([
    ['header + token', token, bearer, `Bearer ${SECRET}`],
    ['header + basic', basic, { kind: 'header', name: 'authorization', format: 'Basic {token}' } as Injection, basicValue],
    ['basic + basic', basic, { kind: 'basic' } as Injection, basicValue],
  ])('%s replaces the application header, never duplicates it', (_case, credential, injection, expected) => {
    const input = make();
    const before = Array.isArray(input) ? [...input] : undefined;
    const out = applyInjection({ path: '/v1', headers: input }, credential, injection);
    sameRepresentation(input, out.headers);
    expect(valuesOf(out.headers, 'authorization')).toEqual([expected]);
    expect(valuesOf(out.headers, 'accept')).toEqual(['application/json']);
    expect(out.path).toBe('/v1');
    if (before) expect(input).toEqual(before); // input untouched
  });

  it('query injection leaves the headers as they are', () => {
    const input = make();
    const out = applyInjection({ path: '/v1', headers: input }, token, { kind: 'query', name: 'key' });
    expect(out.headers).toBe(input);
    expect(out.path).toBe(`/v1?key=${SECRET}`);
  });
});

describe('injectHeader', () => {
  it('uses Bearer {token} when the format is absent, and creates headers when there are none', () => {
    const out = injectHeader({ path: '/' }, token, { kind: 'header', name: 'authorization' });
    expect(out.headers).toEqual({ authorization: `Bearer ${SECRET}` });
  });

  it('keeps $-patterns in a token literal and fills every {token}', () => {
    const tricky: EdgeCredential = { kind: 'token', token: "a$&b$'c$1" };
    const out = injectHeader({ path: '/', headers: {} }, tricky, { kind: 'header', name: 'x-api-key', format: '{token}|{token}' });
    expect(out.headers).toEqual({ 'x-api-key': "a$&b$'c$1|a$&b$'c$1" });
  });

  it('keeps a __proto__ header an own property and does not touch the prototype', () => {
    const input = JSON.parse('{"__proto__": "x", "Authorization": "old"}') as Record<string, string>;
    const out = injectHeader({ path: '/', headers: input }, token, bearer).headers as Record<string, string>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out).sort()).toEqual(['Authorization', '__proto__']);
  });

  it('refuses a format without {token}', () => {
    expect(() => injectHeader({ path: '/' }, token, { kind: 'header', name: 'x', format: 'Bearer' })).toThrow(
      expect.objectContaining({ code: 'invalid_injection' }),
    );
  });
});

describe('injectQuery', () => {
  it.each([
    ['/v1', '/v1?key=T'],
    ['/v1?a=1&b=2', '/v1?a=1&b=2&key=T'],
    ['/v1?key=old&a=1', '/v1?key=T&a=1'],
    ['/v1?a=1&key=old&b=%20x+y&key=again', '/v1?a=1&key=T&b=%20x+y'],
    ['/v1?k%65y=old', '/v1?key=T'], // an encoded name is the same parameter
    ['/v1?keys=1&mykey=2', '/v1?keys=1&mykey=2&key=T'],
    ['/v1?a=1#frag', '/v1?a=1&key=T#frag'],
    ['/v1?', '/v1?key=T'],
    ['', '/?key=T'],
  ])('%s → %s', (path, expected) => {
    expect(injectQuery({ path }, { kind: 'token', token: 'T' }, { kind: 'query', name: 'key' }).path).toBe(expected);
  });

  it('encodes the value', () => {
    const out = injectQuery({ path: '/x?a=1' }, { kind: 'token', token: 'a b&c=d/é+' }, { kind: 'query', name: 'api_key' });
    expect(out.path).toBe('/x?a=1&api_key=a%20b%26c%3Dd%2F%C3%A9%2B');
    expect(new URL(`http://h${out.path}`).searchParams.get('api_key')).toBe('a b&c=d/é+');
  });
});

describe('injectBasic', () => {
  it('encodes username:password as UTF-8 base64', () => {
    const out = injectBasic({ path: '/' }, { kind: 'basic', username: 'zoë', password: 'pässword' });
    expect(out.headers).toEqual({ authorization: `Basic ${Buffer.from('zoë:pässword', 'utf8').toString('base64')}` });
  });
});

describe('errors', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['token with basic injection', () => injectBasic({ path: '/' }, token), 'credential_kind_mismatch'],
    ['basic with query injection', () => injectQuery({ path: '/' }, basic, { kind: 'query', name: 'k' }), 'credential_kind_mismatch'],
    ['aws with header injection', () => injectHeader({ path: '/' }, aws, bearer), 'credential_kind_mismatch'],
    ['aws-sigv4', () => injectAwsSigv4({ path: '/' }, aws, { kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' }), 'injection_unsupported'],
    ['aws-sigv4 via applyInjection', () => applyInjection({ path: '/' }, aws, { kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' }), 'injection_unsupported'],
    ['unknown kind', () => applyInjection({ path: '/' }, token, { kind: 'cookie' } as unknown as Injection), 'injection_unsupported'],
    ['CR/LF in a token', () => injectHeader({ path: '/', headers: new Headers() }, { kind: 'token', token: `${SECRET}\r\nx-evil: 1` }, bearer), 'invalid_credential_value'],
    ['NUL in a password', () => injectBasic({ path: '/' }, { kind: 'basic', username: 'svc', password: `${SECRET}\0` }), 'invalid_credential_value'],
    ['colon in a username', () => injectBasic({ path: '/' }, { kind: 'basic', username: 'a:b', password: SECRET }), 'invalid_credential_value'],
  ];

  it.each(cases)('%s → typed error without the secret', (_label, run, code) => {
    let caught: unknown;
    try {
      run();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InjectionError);
    expect(caught).toBeInstanceOf(TesseraError);
    const error = caught as InjectionError;
    expect(error.code).toBe(code);
    expect(error.name).toBe('InjectionError');
    expect(error.message).toMatch(/^inject\(/);
    expect(`${error.message} ${error.stack} ${JSON.stringify(error)}`).not.toContain(SECRET);
    expect(error.message).not.toContain('AKIAEXAMPLE');
  });

  it('names the SigV4 signer for aws-sigv4', () => {
    expect(() => applyInjection({ path: '/' }, aws, { kind: 'aws-sigv4', region: 'r', service: 's' })).toThrow(/SigV4 signer/);
  });
});

describe('the header value, worked out once per credential', () => {
  it('follows the injection it is placed by: the same credential under another header or format', () => {
    const credential: EdgeCredential = { kind: 'token', token: 'tok-1' };
    const first = applyInjection({ path: '/', headers: {} }, credential, bearer);
    expect(first.headers).toEqual({ Authorization: 'Bearer tok-1' });
    const other: Injection = { kind: 'header', name: 'X-Api-Key', format: '{token}' };
    expect(applyInjection({ path: '/', headers: {} }, credential, other).headers).toEqual({ 'X-Api-Key': 'tok-1' });
    expect(applyInjection({ path: '/', headers: { a: '1' } }, credential, bearer).headers).toEqual({ a: '1', Authorization: 'Bearer tok-1' });
  });

  it('a credential with CR or LF is refused at every request, never placed from an earlier attempt', () => {
    const bad: EdgeCredential = { kind: 'token', token: 'x\r\nInjected: 1' };
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(() => applyInjection({ path: '/', headers: {} }, bad, bearer)).toThrow(InjectionError);
    }
  });

  it('a __proto__ header set by the application stays a header beside the credential', () => {
    const headers = JSON.parse('{"__proto__": "kept", "accept": "x"}') as Record<string, string>;
    const out = applyInjection({ path: '/', headers }, token, bearer).headers as Record<string, string>;
    expect(Object.getOwnPropertyNames(out)).toEqual(['__proto__', 'accept', 'Authorization']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});
