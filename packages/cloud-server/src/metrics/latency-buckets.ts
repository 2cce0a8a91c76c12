/**
 * The fixed latency histogram of request metrics: 13 upper bounds on a 1-2.5-5 log scale, from
 * 1 ms to 10 s, and a last bucket for everything slower. A bucket counts the requests whose
 * latency is at most its bound and above the previous one. The SDK uses the same bounds
 * (packages/sdk/src/cloud/request-metrics.ts); changing them needs a new migration and a new
 * report format, so they never change.
 */
export const LATENCY_BOUNDS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000] as const;

/** Buckets per histogram: one per bound, and one past the last. */
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/** The store's column of each bucket, in bucket order (as migration 3 created them). */
export const LATENCY_COLUMNS = [
  'latency_le_1ms',
  'latency_le_2_5ms',
  'latency_le_5ms',
  'latency_le_10ms',
  'latency_le_25ms',
  'latency_le_50ms',
  'latency_le_100ms',
  'latency_le_250ms',
  'latency_le_500ms',
  'latency_le_1s',
  'latency_le_2_5s',
  'latency_le_5s',
  'latency_le_10s',
  'latency_gt_10s',
] as const;

/** The bucket a latency falls into. */
export function latencyBucket(ms: number): number {
  let index = 0;
  while (index < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[index]!) index += 1;
  return index;
}
