import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { sourceIpCondition } from './condition/source-ip/index.js';
import { timeWindowCondition } from './condition/time-window/index.js';
import { validateConfig, validateProviderConfig } from './validate-config.js';

const schema = Type.Object(
  {
    url: Type.String({ minLength: 1 }),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5, default: 2 })),
    mode: Type.Optional(Type.Enum(['fast', 'safe'])),
    nested: Type.Optional(Type.Object({ name: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

describe('validateConfig', () => {
  it('accepts a valid value and fills defaults without touching the input', () => {
    const input = { url: 'https://example.test' };
    const result = validateConfig(schema, input);
    expect(result).toEqual({ ok: true, value: { url: 'https://example.test', retries: 2 } });
    expect(input).toEqual({ url: 'https://example.test' });
  });

  it('reports unknown properties, at any depth, once each', () => {
    const result = validateConfig(schema, { url: 'x', extra: 1, nested: { name: 'n', other: true } });
    expect(result).toEqual({
      ok: false,
      errors: [
        { path: '/extra', message: 'is not a known property' },
        { path: '/nested/other', message: 'is not a known property' },
      ],
    });
  });

  it('reports missing required properties with their path', () => {
    const result = validateConfig(schema, { nested: {} });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual({ path: '/url', message: 'is required' });
    expect(result.errors).toContainEqual({ path: '/nested/name', message: 'is required' });
  });

  it('reports wrong types and out-of-range values with their path', () => {
    const result = validateConfig(schema, { url: 42, retries: 9, mode: 'slow' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      { path: '/url', message: 'must be string' },
      { path: '/retries', message: 'must be <= 5' },
      { path: '/mode', message: 'must be one of "fast", "safe"' },
    ]);
  });

  it('reports a non-object at the root', () => {
    expect(validateConfig(schema, null)).toEqual({ ok: false, errors: [{ path: '', message: 'must be object' }] });
    expect(validateConfig(schema, undefined).ok).toBe(false);
  });

  it('escapes property names in paths (JSON pointer)', () => {
    const result = validateConfig(schema, { url: 'x', 'a/b~c': 1 });
    expect(result).toEqual({ ok: false, errors: [{ path: '/a~1b~0c', message: 'is not a known property' }] });
  });

  it('accepts plain JSON schemas too', () => {
    const json = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    expect(validateConfig(json, { a: 'x' })).toEqual({ ok: true, value: { a: 'x' } });
    expect(validateConfig(json, { b: 1 })).toEqual({
      ok: false,
      errors: [
        { path: '/a', message: 'is required' },
        { path: '/b', message: 'is not a known property' },
      ],
    });
  });

  it('reports a failed union once, not each branch', () => {
    const union = Type.Object({ kind: Type.Union([Type.Literal('a'), Type.Literal('b')]) }, { additionalProperties: false });
    expect(validateConfig(union, { kind: 'c' })).toEqual({
      ok: false,
      errors: [{ path: '/kind', message: 'must match a schema in anyOf' }],
    });
  });

  it('treats unevaluatedProperties: false like additionalProperties: false', () => {
    const json = { type: 'object', properties: { a: { type: 'string' } }, unevaluatedProperties: false };
    expect(validateConfig(json, { a: 'x', b: 1 })).toEqual({ ok: false, errors: [{ path: '/b', message: 'is not a known property' }] });
  });

  it('never echoes the value in messages (secrets are validated too)', () => {
    const secrets = Type.Object({ password: Type.String({ maxLength: 8 }) }, { additionalProperties: false });
    const result = validateConfig(secrets, { password: 'hunter2-hunter2' });
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });
});

describe('validateProviderConfig', () => {
  it('runs the provider validate hook after the schema', () => {
    expect(validateProviderConfig(sourceIpCondition, { allow: ['10.0.0.0/8'] }).ok).toBe(true);
    expect(validateProviderConfig(sourceIpCondition, {})).toEqual({
      ok: false,
      errors: [{ path: '', message: 'at least one of allow or deny must be non-empty' }],
    });
    expect(validateProviderConfig(timeWindowCondition, { timeZone: 'Mars/Olympus', start: '09:00', end: '17:00' })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'timeZone "Mars/Olympus" is not a known IANA time zone' }],
    });
  });

  it('does not call the hook when the schema already failed', () => {
    const result = validateProviderConfig(sourceIpCondition, { allow: 'not-a-list' });
    expect(result).toEqual({ ok: false, errors: [{ path: '/allow', message: 'must be array' }] });
  });

  it('returns the value with defaults applied', () => {
    const result = validateProviderConfig(timeWindowCondition, { start: '09:00', end: '17:00' });
    expect(result).toEqual({
      ok: true,
      value: { timeZone: 'UTC', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '09:00', end: '17:00' },
    });
  });
});
