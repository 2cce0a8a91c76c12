import { describe, expect, it } from 'vitest';
import { ConditionError, ConfigError, CredentialError, TesseraError, TrustError } from './errors.js';

describe('TesseraError', () => {
  it('carries a stable code, a name and the cause', () => {
    const cause = new Error('low level');
    const error = new TesseraError('invalid_config', 'bad value', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('invalid_config');
    expect(error.name).toBe('TesseraError');
    expect(error.message).toBe('bad value');
    expect(error.cause).toBe(cause);
    expect(error.provider).toBeUndefined();
  });

  it('prefixes the message with the provider, SPIRE-style', () => {
    expect(new CredentialError('credential_provider_error', 'upstream refused', { provider: 'api-key' }).message).toBe(
      'credential(api-key): upstream refused',
    );
    expect(new TrustError('evidence_expired', 'token expired', { provider: 'github-actions' }).message).toBe(
      'trust(github-actions): token expired',
    );
    expect(new ConditionError('invalid_config', 'bad zone', { provider: 'time-window' }).message).toBe(
      'condition(time-window): bad zone',
    );
    expect(new ConfigError('duplicate_provider_type', 'taken', { provider: 'basic' }).message).toBe('config(basic): taken');
    expect(new TrustError('evidence_invalid', 'bad', { provider: 'k8s' }).provider).toBe('k8s');
  });

  it('subclasses are TesseraErrors, and not each other', () => {
    const trust = new TrustError('evidence_invalid', 'bad signature');
    expect(trust).toBeInstanceOf(TesseraError);
    expect(trust).toBeInstanceOf(TrustError);
    expect(trust).not.toBeInstanceOf(CredentialError);
    expect(trust.name).toBe('TrustError');
    expect(new CredentialError('credential_provider_error', 'x')).not.toBeInstanceOf(TrustError);
    expect(new ConditionError('condition_error', 'x')).toBeInstanceOf(TesseraError);
    expect(new ConfigError('unknown_provider_type', 'x')).toBeInstanceOf(TesseraError);
    expect(new Error('plain')).not.toBeInstanceOf(TesseraError);
    expect(null).not.toBeInstanceOf(TesseraError);
    expect({ code: 'invalid_config' }).not.toBeInstanceOf(TesseraError);
  });

  it('narrows on code in a switch', () => {
    const error: unknown = new TrustError('evidence_expired', 'expired');
    if (!(error instanceof TesseraError)) throw new Error('not branded');
    let outcome = '';
    switch (error.code) {
      case 'evidence_expired':
        outcome = 'reattest';
        break;
      default:
        outcome = 'fail';
    }
    expect(outcome).toBe('reattest');
  });

  it('instanceof works across a duplicate copy of the package', () => {
    // What a second copy of errors.ts (another version in node_modules) would define:
    // unrelated classes that only share the Symbol.for brands.
    class CopyTesseraError extends Error {
      get [Symbol.for('tessera.error')]() {
        return true;
      }
    }
    class CopyTrustError extends CopyTesseraError {
      get [Symbol.for('tessera.error.trust')]() {
        return true;
      }
    }
    const fromCopy = new CopyTrustError('from the other copy');
    expect(fromCopy).toBeInstanceOf(TesseraError);
    expect(fromCopy).toBeInstanceOf(TrustError);
    expect(fromCopy).not.toBeInstanceOf(CredentialError);
    expect(new CopyTesseraError('x')).not.toBeInstanceOf(TrustError);

    // And the reverse: the copy's own hasInstance recognises our errors.
    const copyHasInstance = (value: unknown) =>
      typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[Symbol.for('tessera.error.trust')] === true;
    expect(copyHasInstance(new TrustError('evidence_invalid', 'x'))).toBe(true);
    expect(copyHasInstance(new ConfigError('invalid_config', 'x'))).toBe(false);
  });
});
