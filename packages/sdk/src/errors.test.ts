import { describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError, TesseraCloudError, TesseraConfigurationError, TesseraError, TesseraUnavailableError } from './errors.js';

describe('SDK errors', () => {
  it('are TesseraErrors with stable codes and their own names', () => {
    const denied = new TesseraAccessDeniedError('condition_failed', 'denied', { condition: { id: 'c', name: 'office-hours', type: 'time-window', reason: 'closed' } });
    expect(denied).toBeInstanceOf(TesseraError);
    expect(denied).toBeInstanceOf(Error);
    expect(denied).toMatchObject({ name: 'TesseraAccessDeniedError', code: 'condition_failed', details: { condition: { name: 'office-hours' } } });
    const cause = new Error('connect ECONNREFUSED');
    expect(new TesseraUnavailableError('down', { cause })).toMatchObject({ code: 'cloud_unavailable', cause });
    expect(new TesseraConfigurationError('no_evidence_collector', 'none').code).toBe('no_evidence_collector');
    expect(new TesseraCloudError('bad', { status: 400, cloudCode: 'invalid_request' })).toMatchObject({ code: 'cloud_error', status: 400 });
  });

  it('tell each other apart, also across duplicate copies of the SDK (Symbol.for brands)', () => {
    const unavailable = new TesseraUnavailableError('down');
    expect(unavailable).not.toBeInstanceOf(TesseraAccessDeniedError);
    expect(new TesseraError('invalid_config', 'x')).not.toBeInstanceOf(TesseraUnavailableError);
    // What an error thrown by another copy of this module looks like: same brands, other classes.
    const foreign = Object.create(null, {
      [Symbol.for('tessera.error')]: { value: true },
      [Symbol.for('tessera.error.sdk.access_denied')]: { value: true },
    });
    expect(foreign).toBeInstanceOf(TesseraAccessDeniedError);
    expect(foreign).toBeInstanceOf(TesseraError);
    expect(foreign).not.toBeInstanceOf(TesseraCloudError);
  });
});
