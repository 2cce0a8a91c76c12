import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { DESTINATION_KEYWORD, changedDestinations, destination, destinationPaths } from './destination.js';

const schema = Type.Object(
  {
    endpoint: Type.Optional(Type.String({ ...destination })),
    auth: Type.Object({ issuer: Type.String({ ...destination }), audience: Type.String() }),
    mirrors: Type.Optional(Type.Array(Type.Object({ host: Type.String({ ...destination }), weight: Type.Integer() }))),
    routes: Type.Optional(Type.Record(Type.String(), Type.String({ ...destination }))),
    target: Type.Optional(Type.Union([Type.String({ ...destination }), Type.Array(Type.String({ ...destination }))])),
    'a/b': Type.Optional(Type.String({ ...destination })),
    timeoutMs: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

describe('destination fields', () => {
  it('are declared with one schema annotation, kept by TypeBox and readable in plain JSON Schema', () => {
    expect(Type.String({ ...destination })).toMatchObject({ [DESTINATION_KEYWORD]: true });
    expect(destinationPaths({ type: 'object', properties: { url: { type: 'string', 'x-tessera-destination': true } } } as never)).toEqual(['/url']);
  });

  it('are found in nested objects and unions; inside arrays and records the whole container counts', () => {
    expect(destinationPaths(schema)).toEqual(['/auth/issuer', '/a~1b', '/endpoint', '/mirrors', '/routes', '/target']);
    expect(destinationPaths(Type.Object({ name: Type.String() }))).toEqual([]);
  });

  it('count as changed when a value changes, appears or goes (falling back to a default)', () => {
    const base = { endpoint: 'https://a.example.com', auth: { issuer: 'https://i.example.com', audience: 'x' }, mirrors: [{ host: 'm', weight: 1 }], timeoutMs: 5 };
    expect(changedDestinations(schema, base, { ...base, timeoutMs: 9, auth: { ...base.auth, audience: 'y' } })).toEqual([]);
    expect(changedDestinations(schema, base, { ...base, endpoint: 'https://b.example.com' })).toEqual(['/endpoint']);
    const { endpoint: _removed, ...withoutEndpoint } = base;
    expect(changedDestinations(schema, base, withoutEndpoint)).toEqual(['/endpoint']);
    expect(changedDestinations(schema, base, { ...base, auth: { ...base.auth, issuer: 'https://evil.example' } })).toEqual(['/auth/issuer']);
    expect(changedDestinations(schema, base, { ...base, mirrors: [{ host: 'm', weight: 2 }] })).toEqual(['/mirrors']);
    expect(changedDestinations(schema, base, { ...base, 'a/b': 'x', target: ['t'] })).toEqual(['/a~1b', '/target']);
  });
});
