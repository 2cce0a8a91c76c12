import { describe, expect, it } from 'vitest';
import { SessionRate } from './session-rate.js';

describe('SessionRate', () => {
  it('lets a burst through, then one report per second, and says how long to wait', () => {
    let now = 0;
    const rate = new SessionRate({ burst: 3, perSecond: 1, now: () => now });
    expect([1, 2, 3, 4].map(() => rate.take('a').allowed)).toEqual([true, true, true, false]);
    expect(rate.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(rate.take('b').allowed).toBe(true); // another process has its own bucket
    now += 1000;
    expect(rate.take('a').allowed).toBe(true);
    expect(rate.take('a').allowed).toBe(false);
    now += 60_000;
    expect([1, 2, 3, 4].map(() => rate.take('a').allowed)).toEqual([true, true, true, false]); // never more than the burst
  });

  it('is bounded: forgets only buckets that have refilled, and refuses a new process rather than forget a busy one', () => {
    let now = 0;
    const rate = new SessionRate({ burst: 2, perSecond: 1, maxSessions: 2, now: () => now });
    rate.take('a');
    rate.take('b');
    expect(rate.take('c')).toEqual({ allowed: false, retryAfterSeconds: 2 });
    now += 500; // a and b are half a token short of full: still in use
    expect(rate.take('c').allowed).toBe(false);
    expect(rate.take('a').allowed).toBe(true); // known processes go on
    now += 500; // b is full again, a is not
    expect(rate.take('c').allowed).toBe(true);
    expect(rate.take('c').allowed).toBe(true);
    expect(rate.take('c').allowed).toBe(false); // c's own bucket, not a fresh one
    expect(rate.take('a').allowed).toBe(true); // a was kept
  });
});
