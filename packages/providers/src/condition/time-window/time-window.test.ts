import { describe, expect, it } from 'vitest';
import type { ConditionContext } from '../../contracts.js';
import { ConditionError } from '../../errors.js';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { type TimeWindowConfig, timeWindowCondition as condition } from './index.js';

function at(iso: string): ConditionContext {
  return {
    now: new Date(iso),
    sourceIp: '192.0.2.1',
    clientWorkload: { id: 'c1', name: 'billing', claims: {} },
    serverWorkload: { id: 's1', name: 'payments', host: 'payments.test', port: 443, scheme: 'https' },
    claims: {},
  };
}

async function passes(config: TimeWindowConfig, iso: string): Promise<boolean> {
  return (await condition.evaluate(at(iso), config)).passed;
}

const officeHours: TimeWindowConfig = { timeZone: 'Europe/Paris', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00' };

describe('time-window condition', () => {
  it('passes inside the window and explains itself outside it', async () => {
    // Monday 2 June 2025, Paris is UTC+2 (CEST).
    await expect(condition.evaluate(at('2025-06-02T07:00:00Z'), officeHours)).resolves.toEqual({
      passed: true,
      reason: 'inside the allowed window Mon–Fri 09:00–17:00 Europe/Paris',
    });
    await expect(condition.evaluate(at('2025-06-02T06:59:00Z'), officeHours)).resolves.toEqual({
      passed: false,
      reason: 'outside the allowed window Mon–Fri 09:00–17:00 Europe/Paris',
    });
  });

  it('includes start and excludes end', async () => {
    expect(await passes(officeHours, '2025-06-02T14:59:59Z')).toBe(true); // 16:59:59
    expect(await passes(officeHours, '2025-06-02T15:00:00Z')).toBe(false); // 17:00
  });

  it('checks the day in the zone, not in UTC', async () => {
    expect(await passes(officeHours, '2025-06-07T10:00:00Z')).toBe(false); // Saturday
    // Monday 00:00 in Auckland (UTC+12 in June) is still Sunday in UTC.
    const aucklandMonday: TimeWindowConfig = { timeZone: 'Pacific/Auckland', days: ['mon'], start: '00:00', end: '00:00' };
    expect(await passes(aucklandMonday, '2025-06-01T11:59:00Z')).toBe(false); // Sun 23:59
    expect(await passes(aucklandMonday, '2025-06-01T12:00:00Z')).toBe(true); // Mon 00:00
    expect(await passes(aucklandMonday, '2025-06-02T11:59:00Z')).toBe(true); // Mon 23:59
    expect(await passes(aucklandMonday, '2025-06-02T12:00:00Z')).toBe(false); // Tue 00:00
    // Friday evening in Los Angeles is Saturday in UTC.
    const la: TimeWindowConfig = { ...officeHours, timeZone: 'America/Los_Angeles', end: '20:00' };
    expect(await passes(la, '2025-06-07T02:00:00Z')).toBe(true); // Fri 19:00 PDT
  });

  it('follows the zone offset across DST (winter and summer)', async () => {
    expect(await passes(officeHours, '2025-01-06T08:00:00Z')).toBe(true); // Mon 09:00 CET
    expect(await passes(officeHours, '2025-01-06T07:59:00Z')).toBe(false); // Mon 08:59 CET
    expect(await passes(officeHours, '2025-03-28T08:00:00Z')).toBe(true); // Fri before the change, 09:00 CET
    expect(await passes(officeHours, '2025-03-31T07:00:00Z')).toBe(true); // Mon after the change, 09:00 CEST
    expect(await passes(officeHours, '2025-03-31T15:00:00Z')).toBe(false); // 17:00 CEST
  });

  it('handles the spring-forward gap (Paris, 30 March 2025, 02:00 → 03:00)', async () => {
    const gap: TimeWindowConfig = { timeZone: 'Europe/Paris', start: '02:00', end: '03:00' };
    expect(await passes(gap, '2025-03-30T00:59:00Z')).toBe(false); // 01:59 CET
    expect(await passes(gap, '2025-03-30T01:00:00Z')).toBe(false); // 03:00 CEST: 02:xx never happened
    const around: TimeWindowConfig = { timeZone: 'Europe/Paris', start: '01:30', end: '03:30' };
    expect(await passes(around, '2025-03-30T00:30:00Z')).toBe(true); // 01:30 CET
    expect(await passes(around, '2025-03-30T01:15:00Z')).toBe(true); // 03:15 CEST
    expect(await passes(around, '2025-03-30T01:30:00Z')).toBe(false); // 03:30 CEST
  });

  it('handles the fall-back repeat (Paris, 26 October 2025, 03:00 → 02:00)', async () => {
    const repeated: TimeWindowConfig = { timeZone: 'Europe/Paris', start: '02:00', end: '03:00' };
    expect(await passes(repeated, '2025-10-25T23:59:00Z')).toBe(false); // 01:59 CEST
    expect(await passes(repeated, '2025-10-26T00:30:00Z')).toBe(true); // 02:30 CEST, first time
    expect(await passes(repeated, '2025-10-26T01:30:00Z')).toBe(true); // 02:30 CET, second time
    expect(await passes(repeated, '2025-10-26T02:00:00Z')).toBe(false); // 03:00 CET
  });

  it('crosses midnight, with the day check on the day the window started', async () => {
    const fridayNight: TimeWindowConfig = { days: ['fri'], start: '22:00', end: '06:00' }; // UTC by default
    expect(await passes(fridayNight, '2025-06-06T21:59:00Z')).toBe(false); // Fri 21:59
    expect(await passes(fridayNight, '2025-06-06T22:00:00Z')).toBe(true); // Fri 22:00
    expect(await passes(fridayNight, '2025-06-07T00:00:00Z')).toBe(true); // Sat 00:00, Friday's window
    expect(await passes(fridayNight, '2025-06-07T05:59:00Z')).toBe(true); // Sat 05:59
    expect(await passes(fridayNight, '2025-06-07T06:00:00Z')).toBe(false); // Sat 06:00
    expect(await passes(fridayNight, '2025-06-07T22:30:00Z')).toBe(false); // Saturday's window: not allowed
    expect(await passes(fridayNight, '2025-06-06T03:00:00Z')).toBe(false); // Fri 03:00 is Thursday's window
    expect(await passes(fridayNight, '2025-06-06T12:00:00Z')).toBe(false); // the gap between end and start
  });

  it('treats start === end as a 24-hour window', async () => {
    const allDay: TimeWindowConfig = { days: ['sat', 'sun'], start: '00:00', end: '00:00' };
    expect(await passes(allDay, '2025-06-07T00:00:00Z')).toBe(true); // Sat 00:00
    expect(await passes(allDay, '2025-06-08T23:59:59Z')).toBe(true); // Sun 23:59
    expect(await passes(allDay, '2025-06-09T00:00:00Z')).toBe(false); // Mon 00:00
    expect(await passes(allDay, '2025-06-06T23:59:00Z')).toBe(false); // Fri 23:59
  });

  it('defaults to UTC and every day', async () => {
    const defaults = validateProviderConfig<TimeWindowConfig>(condition, { start: '08:00', end: '09:00' });
    if (!defaults.ok) throw new Error('expected valid');
    expect(defaults.value).toMatchObject({ timeZone: 'UTC', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] });
    await expect(condition.evaluate(at('2025-06-08T08:30:00Z'), { start: '08:00', end: '09:00' })).resolves.toEqual({
      passed: true,
      reason: 'inside the allowed window every day 08:00–09:00 UTC',
    });
  });

  it('names the days compactly in reasons', async () => {
    const reason = async (days: TimeWindowConfig['days']) =>
      (await condition.evaluate(at('2025-06-04T12:00:00Z'), { days, start: '00:00', end: '01:00' })).reason;
    expect(await reason(['sat', 'sun', 'mon'])).toBe('outside the allowed window Sat–Mon 00:00–01:00 UTC');
    expect(await reason(['fri', 'mon', 'wed'])).toBe('outside the allowed window Mon, Wed, Fri 00:00–01:00 UTC');
    expect(await reason(['sun', 'sat'])).toBe('outside the allowed window Sat, Sun 00:00–01:00 UTC');
  });

  it('refuses an unknown time zone as invalid_config', async () => {
    const config: TimeWindowConfig = { timeZone: 'Mars/Olympus_Mons', start: '09:00', end: '17:00' };
    expect(condition.validate?.(config)).toEqual(['timeZone "Mars/Olympus_Mons" is not a known IANA time zone']);
    const evaluation = condition.evaluate(at('2025-06-02T10:00:00Z'), config);
    await expect(evaluation).rejects.toBeInstanceOf(ConditionError);
    await expect(evaluation).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'condition(time-window): timeZone "Mars/Olympus_Mons" is not a known IANA time zone',
    });
    expect(condition.validate?.({ ...config, timeZone: 'europe/paris' })).toEqual([]);
  });

  it.each(['24:00', '9:5', '9:05', '12:60', '12:00:00', '', ' 09:00', '0900'])('refuses the time %j', async (time) => {
    const config = { timeZone: 'UTC', start: time, end: '17:00' };
    const result = validateConfig(condition.configSchema, config);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toEqual(['/start']);
    expect(condition.validate?.(config)).toEqual(['start must be a 24-hour time HH:MM between 00:00 and 23:59']);
    await expect(condition.evaluate(at('2025-06-02T10:00:00Z'), config)).rejects.toMatchObject({ code: 'invalid_config' });
  });

  it('accepts the edges of the day', () => {
    expect(validateProviderConfig(condition, { start: '00:00', end: '23:59' }).ok).toBe(true);
  });

  it('refuses duplicate, unknown or no days, and unknown fields', () => {
    const errors = (config: unknown) => {
      const result = validateConfig(condition.configSchema, config);
      return result.ok ? [] : result.errors;
    };
    expect(errors({ days: ['mon', 'mon'], start: '09:00', end: '17:00' })).toEqual([
      { path: '/days', message: 'must not have duplicate items' },
    ]);
    expect(errors({ days: ['monday'], start: '09:00', end: '17:00' })[0]?.path).toBe('/days/0');
    expect(errors({ days: [], start: '09:00', end: '17:00' })[0]?.path).toBe('/days');
    expect(errors({ start: '09:00', end: '17:00', zone: 'UTC' })).toEqual([{ path: '/zone', message: 'is not a known property' }]);
  });

  it('refuses an invalid request time', async () => {
    await expect(condition.evaluate(at('not a date'), officeHours)).rejects.toMatchObject({ code: 'condition_error' });
  });
});
