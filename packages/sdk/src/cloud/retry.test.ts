import { describe, expect, it } from 'vitest';
import { TesseraUnavailableError } from '../errors.js';
import { parseRetryAfter, withRetry } from './retry.js';
import { TransportError, type CloudResponse } from './transport.js';

/** A clock that only moves when the policy sleeps. */
function fakeTime() {
  let now = 0;
  const waits: number[] = [];
  return { waits, now: () => now, sleep: async (ms: number) => void (waits.push(ms), (now += ms)) };
}

const answers = (...list: Array<CloudResponse | Error>) => {
  let calls = 0;
  const attempt = async () => {
    const next = list[Math.min(calls++, list.length - 1)]!;
    if (next instanceof Error) throw next;
    return next;
  };
  return { attempt, calls: () => calls };
};

describe('withRetry', () => {
  it('backs off with full jitter, doubling from 100 ms up to 2 s', async () => {
    const time = fakeTime();
    const { attempt } = answers({ status: 503, body: undefined });
    const error = await withRetry(attempt, { what: 'POST x' }, { ...time, random: () => 0.999999, deadlineMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TesseraUnavailableError);
    expect(time.waits.slice(0, 7).map(Math.round)).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
    expect(time.now()).toBeLessThanOrEqual(10_000);
    expect((error as Error).message).toMatch(/POST x failed \d+ times over \d+\.\d s \(deadline 10 s\); last: HTTP 503/);
  });

  it('starts no attempt with under 100 ms left: the error keeps the last real failure', async () => {
    const time = fakeTime();
    const { attempt, calls } = answers({ status: 503, body: { code: 'unavailable' } });
    const error = await withRetry(attempt, { what: 'x' }, { ...time, random: () => 0.999999, deadlineMs: 350 }).catch((e: unknown) => e);
    expect(calls()).toBe(2); // at 0 and 100 ms; a third at 300 ms would have had 50 ms
    expect((error as Error).message).toMatch(/failed 2 times .*last: HTTP 503 unavailable$/);
  });

  it('retries network errors, 429 and 502-504, then returns the answer', async () => {
    const time = fakeTime();
    const refused = new TransportError('connect ECONNREFUSED 127.0.0.1:1', true);
    const { attempt, calls } = answers(refused, { status: 502, body: {} }, { status: 504, body: {} }, { status: 429, body: {} }, { status: 200, body: { ok: true } });
    const retries: unknown[] = [];
    expect(await withRetry(attempt, { what: 'x' }, { ...time, random: () => 0.5, onRetry: (failure) => retries.push(failure) })).toEqual({ status: 200, body: { ok: true } });
    expect(calls()).toBe(5);
    // Each failed attempt is reported with what it met, for the SDK's logs.
    expect(retries).toEqual([
      { what: 'x', attempt: 1, reason: 'connect ECONNREFUSED 127.0.0.1:1', delayMs: 50 },
      { what: 'x', attempt: 2, reason: 'HTTP 502', delayMs: 100 },
      { what: 'x', attempt: 3, reason: 'HTTP 504', delayMs: 200 },
      { what: 'x', attempt: 4, reason: 'HTTP 429', delayMs: 400 },
    ]);
  });

  it('returns other statuses at once, and rethrows errors that are not transient', async () => {
    for (const status of [400, 401, 403, 404, 500]) {
      const { attempt, calls } = answers({ status, body: {} });
      expect((await withRetry(attempt, { what: 'x' }, fakeTime())).status).toBe(status);
      expect(calls()).toBe(1);
    }
    const oversized = answers(new TransportError('the answer exceeds 1048576 bytes', false));
    await expect(withRetry(oversized.attempt, { what: 'x' }, fakeTime())).rejects.toThrow(TransportError);
  });

  it('honours Retry-After, capped, and gives up rather than sleep past the deadline', async () => {
    const time = fakeTime();
    const { attempt } = answers({ status: 429, body: {}, retryAfter: '3' }, { status: 200, body: {} });
    await withRetry(attempt, { what: 'x' }, time);
    expect(time.waits).toEqual([3000]);
    const capped = fakeTime();
    await withRetry(answers({ status: 503, body: {}, retryAfter: '3600' }, { status: 200, body: {} }).attempt, { what: 'x' }, capped);
    expect(capped.waits).toEqual([5000]);
    const late = fakeTime();
    const error = await withRetry(answers({ status: 503, body: {}, retryAfter: '20' }).attempt, { what: 'x' }, { ...late, deadlineMs: 4000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TesseraUnavailableError);
    expect(late.waits).toEqual([]);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT')).toBeUndefined();
  });
});
