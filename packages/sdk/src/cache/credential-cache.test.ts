import { describe, expect, it, vi } from 'vitest';
import { CredentialCache, type CredentialCacheOptions, type IssuedCredential } from './credential-cache.js';

const key = { clientWorkloadId: 'client-1', serverWorkloadId: 'server-1' };
const MINUTE = 60_000;

function setup(options: CredentialCacheOptions = {}) {
  let now = 1_000_000;
  const clock = { advance: (ms: number) => (now += ms), now: () => now };
  const cache = new CredentialCache({ now: clock.now, ...options });
  let serial = 0;
  /** Issues `token-N` valid for `lifetimeMs` from the clock's current time. */
  const issue = (lifetimeMs = 10 * MINUTE): IssuedCredential => ({
    credential: { kind: 'token', token: `token-${++serial}` },
    injection: { kind: 'header', name: 'authorization', format: 'Bearer {token}' },
    expiresAt: now + lifetimeMs,
    serverWorkloadId: key.serverWorkloadId,
    policyId: 'policy-1',
  });
  return { cache, clock, issue };
}

const token = (issued: IssuedCredential) => (issued.credential.kind === 'token' ? issued.credential.token : undefined);

/** Let settled promises run their callbacks. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('CredentialCache', () => {
  it('fetches on a miss, then serves the hit without calling the cloud', async () => {
    const { cache, issue } = setup();
    const fetcher = vi.fn(async () => issue());
    expect(token(await cache.get(key, fetcher))).toBe('token-1');
    expect(token(await cache.get(key, fetcher))).toBe('token-1');
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(cache.peek(key)?.policyId).toBe('policy-1');
  });

  it('keeps clients and servers apart', async () => {
    const { cache, issue } = setup();
    const fetcher = vi.fn(async () => issue());
    await cache.get(key, fetcher);
    await cache.get({ ...key, clientWorkloadId: 'client-2' }, fetcher);
    await cache.get({ ...key, serverWorkloadId: 'server-2' }, fetcher);
    expect(fetcher).toHaveBeenCalledTimes(3);
  });

  it('shares one fetch between 20 concurrent misses', async () => {
    const { cache, issue } = setup();
    let release!: () => void;
    const fetcher = vi.fn(() => new Promise<IssuedCredential>((resolve) => (release = () => resolve(issue()))));
    const waiting = Array.from({ length: 20 }, () => cache.get(key, fetcher));
    release();
    const results = await Promise.all(waiting);
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(new Set(results).size).toBe(1);
  });

  it('rejects every waiter of a failed miss with the same error and caches nothing', async () => {
    const { cache, issue } = setup();
    const failure = new Error('cloud unreachable');
    const failing = vi.fn(async () => Promise.reject(failure));
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => cache.get(key, failing)));
    expect(failing).toHaveBeenCalledTimes(1);
    for (const outcome of outcomes) expect(outcome).toEqual({ status: 'rejected', reason: failure });
    expect(cache.size).toBe(0);
    expect(token(await cache.get(key, async () => issue()))).toBe('token-1');
  });

  it('turns a fetcher that throws synchronously into a rejection', async () => {
    const { cache } = setup();
    await expect(cache.get(key, () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(cache.size).toBe(0);
  });

  it('counts a credential as expired the skew before its real expiry', async () => {
    const { cache, clock, issue } = setup({ skewSeconds: 60 });
    const fetcher = vi.fn(async () => issue(10 * MINUTE));
    await cache.get(key, fetcher);
    clock.advance(9 * MINUTE - 1); // 1 ms before expiresAt − 60 s: still usable (refresh window)
    expect(cache.peek(key)).toBeDefined();
    clock.advance(1);
    expect(cache.peek(key)).toBeUndefined();
    expect(token(await cache.get(key, fetcher))).toBe('token-2');
  });

  it('hands a credential shorter-lived than the skew to its waiters but does not cache it', async () => {
    const { cache, issue } = setup({ skewSeconds: 60 });
    const fetcher = vi.fn(async () => issue(30_000));
    expect(token(await cache.get(key, fetcher))).toBe('token-1');
    expect(cache.size).toBe(0);
    expect(token(await cache.get(key, fetcher))).toBe('token-2');
  });

  it('serves the old credential while refreshing in the background, then the new one', async () => {
    // 10 min lifetime, 60 s skew → 9 min usable; the window is max(25% = 135 s, 30 s) = 135 s.
    const { cache, clock, issue } = setup();
    await cache.get(key, async () => issue());
    let release!: () => void;
    const refresher = vi.fn(() => new Promise<IssuedCredential>((resolve) => (release = () => resolve(issue()))));
    clock.advance(9 * MINUTE - 136_000);
    expect(token(await cache.get(key, refresher))).toBe('token-1'); // before the window
    expect(refresher).not.toHaveBeenCalled();
    clock.advance(2_000);
    expect(token(await cache.get(key, refresher))).toBe('token-1'); // in the window: old value, refresh starts
    expect(token(await cache.get(key, refresher))).toBe('token-1'); // one refresh at a time
    expect(cache.peek(key, refresher)).toBeDefined();
    expect(refresher).toHaveBeenCalledTimes(1);
    release();
    await flush();
    expect(token(await cache.get(key, refresher))).toBe('token-2');
  });

  it('refreshes refreshAheadSeconds early when that is more than a quarter, at most half the lifetime', async () => {
    const { cache, clock, issue } = setup({ refreshAheadSeconds: 200 });
    await cache.get(key, async () => issue(5 * MINUTE)); // 240 s usable; window min(max(60, 200), 120) = 120 s
    const refresher = vi.fn(async () => issue());
    clock.advance(119_000);
    cache.peek(key, refresher);
    expect(refresher).not.toHaveBeenCalled();
    clock.advance(2_000);
    cache.peek(key, refresher);
    expect(refresher).toHaveBeenCalledTimes(1);
  });

  it('keeps the old credential after a failed refresh until it truly expires, and backs off', async () => {
    const onRefreshError = vi.fn();
    const { cache, clock, issue } = setup({ onRefreshError, refreshRetrySeconds: 5 });
    await cache.get(key, async () => issue());
    const failure = new Error('cloud unreachable');
    const failing = vi.fn(async () => Promise.reject(failure));
    clock.advance(8 * MINUTE); // inside the window, 60 s before the skewed expiry
    expect(token(await cache.get(key, failing))).toBe('token-1');
    await flush();
    expect(onRefreshError).toHaveBeenCalledWith(failure, key);
    expect(token(await cache.get(key, failing))).toBe('token-1'); // still valid: served, no new call yet
    expect(failing).toHaveBeenCalledTimes(1);
    clock.advance(5_000);
    await cache.get(key, failing);
    await flush();
    expect(failing).toHaveBeenCalledTimes(2); // retried after the back-off
    clock.advance(55_000); // now at the skewed expiry: the cloud is down and nothing valid is left
    await expect(cache.get(key, failing)).rejects.toBe(failure);
  });

  it('a miss after expiry joins a refresh that is still running', async () => {
    const { cache, clock, issue } = setup();
    await cache.get(key, async () => issue());
    let release!: () => void;
    const refresher = vi.fn(() => new Promise<IssuedCredential>((resolve) => (release = () => resolve(issue()))));
    clock.advance(8 * MINUTE);
    await cache.get(key, refresher);
    clock.advance(2 * MINUTE); // the old one has expired meanwhile
    const waiting = cache.get(key, refresher);
    release();
    expect(token(await waiting)).toBe('token-2');
    expect(refresher).toHaveBeenCalledTimes(1);
  });

  it('drop() forgets the credential (after a 401) so the next get asks the cloud', async () => {
    const { cache, issue } = setup();
    const fetcher = vi.fn(async () => issue());
    const first = await cache.get(key, fetcher);
    expect(cache.drop(key, first)).toBe(true);
    expect(token(await cache.get(key, fetcher))).toBe('token-2');
    expect(cache.drop(key)).toBe(true);
    expect(cache.drop(key)).toBe(false);
  });

  it('drop(key, rejected) keeps a newer credential fetched meanwhile', async () => {
    const { cache, issue } = setup();
    const old = await cache.get(key, async () => issue());
    cache.drop(key, old);
    const fresh = await cache.get(key, async () => issue());
    expect(cache.drop(key, old)).toBe(false); // a second request answered 401 with the old one
    expect(cache.peek(key)).toBe(fresh);
  });

  it('drop() detaches an in-flight fetch: its waiters get it, the cache does not keep it', async () => {
    const { cache, issue } = setup();
    let release!: () => void;
    const slow = () => new Promise<IssuedCredential>((resolve) => (release = () => resolve(issue())));
    const waiting = cache.get(key, slow);
    cache.drop(key);
    const fetcher = vi.fn(async () => issue());
    const second = await cache.get(key, fetcher); // not joined to the detached flight
    expect(fetcher).toHaveBeenCalledTimes(1);
    release();
    const detached = await waiting;
    expect(detached).not.toBe(second);
    expect(cache.peek(key)).toBe(second); // the detached answer did not overwrite it
  });

  it('evicts the least recently used entry beyond max', async () => {
    const { cache, issue } = setup({ max: 2 });
    const keyOf = (server: string) => ({ clientWorkloadId: 'c', serverWorkloadId: server });
    await cache.get(keyOf('a'), async () => issue());
    await cache.get(keyOf('b'), async () => issue());
    cache.peek(keyOf('a')); // a is now more recent than b
    await cache.get(keyOf('c'), async () => issue());
    expect(cache.size).toBe(2);
    expect(cache.peek(keyOf('a'))).toBeDefined();
    expect(cache.peek(keyOf('b'))).toBeUndefined();
  });

  it('evicts the least recently used entry of any client workload, and counts entries across them', async () => {
    const { cache, issue } = setup({ max: 3 });
    const a = { clientWorkloadId: 'c1', serverWorkloadId: 's' };
    const b = { clientWorkloadId: 'c2', serverWorkloadId: 's' };
    const c = { clientWorkloadId: 'c1', serverWorkloadId: 't' };
    for (const each of [a, b, c]) await cache.get(each, async () => issue());
    cache.peek(a);
    cache.peek(c);
    await cache.get({ clientWorkloadId: 'c3', serverWorkloadId: 's' }, async () => issue());
    expect(cache.size).toBe(3);
    expect(cache.peek(b)).toBeUndefined();
    expect(cache.peek(a)).toBeDefined();
    expect(cache.drop(a)).toBe(true);
    expect(cache.drop(a)).toBe(false);
    expect(cache.size).toBe(2);
  });

  it('clear() forgets everything', async () => {
    const { cache, issue } = setup();
    await cache.get(key, async () => issue());
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.peek(key)).toBeUndefined();
  });
});
