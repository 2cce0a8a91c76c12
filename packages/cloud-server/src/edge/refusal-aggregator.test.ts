import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuditEvent } from '../store/types.js';
import { auditAttest } from './edge-audit.js';
import { EdgeError } from './errors.js';
import { RefusalAggregator } from './refusal-aggregator.js';

/** An AuditWriter stand-in that keeps what it was given, and can be made to fail. */
class Recorder {
  events: AuditEvent[] = [];
  failing = false;
  async append(event: AuditEvent): Promise<void> {
    if (this.failing) throw new Error('store unavailable');
    this.events.push(event);
  }
  async appendMany(events: AuditEvent[]): Promise<void> {
    if (this.failing) throw new Error('store unavailable');
    this.events.push(...events);
  }
}

const START = Date.parse('2030-01-01T10:00:00.000Z');

function refusal(sourceIp: string, code: 'evidence_invalid' | 'invalid_dpop_proof' = 'evidence_invalid', sdkInstance?: string): AuditEvent {
  return auditAttest(new Date(), { sourceIp, sdkInstance }, 'jwt', undefined, new EdgeError(code, `refused: ${code}`));
}

/** Past the end of the current minute (and the timer's 50 ms after it). */
const nextMinute = () => vi.advanceTimersByTimeAsync(60_100);
const total = (events: AuditEvent[]) => events.reduce((sum, event) => sum + (event.data.count as number), 0);

describe('RefusalAggregator', () => {
  let writer: Recorder;
  let aggregator: RefusalAggregator;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    vi.setSystemTime(START);
    writer = new Recorder();
    aggregator = new RefusalAggregator(writer, { now: () => new Date() });
  });
  afterEach(async () => {
    await aggregator.close();
    vi.useRealTimers();
  });

  it('records the first refusal per address and reason at once, and the repeats as one event with their count when the minute ends', async () => {
    for (let i = 0; i < 500; i++) {
      await aggregator.record(refusal('203.0.113.9', 'invalid_dpop_proof', `i-${i}`));
      vi.advanceTimersByTime(100); // 500 refusals over 50 seconds
    }
    await aggregator.record(refusal('203.0.113.9'));
    await aggregator.record(refusal('198.51.100.7'));
    expect(writer.events.map((e) => [e.reason, e.data.sourceIp, e.data.count])).toEqual([
      ['invalid_dpop_proof', '203.0.113.9', 1],
      ['evidence_invalid', '203.0.113.9', 1],
      ['evidence_invalid', '198.51.100.7', 1],
    ]);
    expect(writer.events[0]!.data.sdkInstance).toBe('i-0');

    await vi.advanceTimersByTimeAsync(10_100); // the minute ends
    expect(writer.events).toHaveLength(4);
    const summary = writer.events[3]!;
    expect(summary).toMatchObject({ kind: 'edge.attest', outcome: 'deny', reason: 'invalid_dpop_proof', resourceSetId: null, clientWorkloadId: null });
    expect(summary.data).toEqual({
      evidenceType: 'jwt',
      trustProviderIds: [],
      sourceIp: '203.0.113.9',
      message: 'refused: invalid_dpop_proof',
      count: 499,
      firstAt: '2030-01-01T10:00:00.100Z',
      lastAt: '2030-01-01T10:00:49.900Z',
    });
    // Written now, so that exporters (which read in id order) see it after what they have read.
    expect(summary.time).toBe('2030-01-01T10:01:00.050Z');
    expect(summary.id > writer.events[2]!.id).toBe(true);
    expect(total(writer.events)).toBe(502);
  });

  it('starts again each minute, and writes nothing more when there were no repeats', async () => {
    await aggregator.record(refusal('203.0.113.9'));
    await nextMinute();
    await aggregator.record(refusal('203.0.113.9'));
    await aggregator.record(refusal('203.0.113.9'));
    await nextMinute();
    expect(writer.events.map((e) => e.data.count)).toEqual([1, 1, 1]);
  });

  it('counts refusals past its budget of single events, and from addresses past its limit, without losing any', async () => {
    aggregator = new RefusalAggregator(writer, { now: () => new Date(), maxSingleEventsPerMinute: 3, maxKeysPerMinute: 5 });
    // An attacker rotating through 50 addresses, 4 refusals each.
    for (let round = 0; round < 4; round++) {
      for (let host = 0; host < 50; host++) await aggregator.record(refusal(`2001:db8::${host}`));
    }
    expect(writer.events).toHaveLength(3);
    await nextMinute();
    // 3 single events, then summaries: 2 more addresses counted apart, the other 45 together.
    expect(writer.events).toHaveLength(3 + 5 + 1);
    const shared = writer.events.find((e) => e.data.sourceIp === null)!;
    expect(shared.data.count).toBe(45 * 4);
    expect(writer.events.slice(3, 6).map((e) => e.data.count)).toEqual([3, 3, 3]);
    expect(total(writer.events)).toBe(200);
  });

  it('writes what it counted at close, and records each refusal after that one by one', async () => {
    await aggregator.record(refusal('203.0.113.9'));
    await aggregator.record(refusal('203.0.113.9'));
    await aggregator.record(refusal('203.0.113.9'));
    await aggregator.close();
    expect(writer.events.map((e) => e.data.count)).toEqual([1, 2]);
    await aggregator.record(refusal('203.0.113.9'));
    expect(writer.events.map((e) => e.data.count)).toEqual([1, 2, 1]);
  });

  it('keeps summaries it could not write and writes them with the next minute', async () => {
    const errors: unknown[] = [];
    aggregator = new RefusalAggregator(writer, { now: () => new Date(), onError: (error) => errors.push(error) });
    await aggregator.record(refusal('203.0.113.9'));
    for (let i = 0; i < 9; i++) await aggregator.record(refusal('203.0.113.9'));
    writer.failing = true;
    await nextMinute();
    expect(errors).toHaveLength(1);
    writer.failing = false;
    // Refusals keep coming in the next minute; the failed summary waits for the next flush.
    for (let i = 0; i < 5; i++) await aggregator.record(refusal('203.0.113.9'));
    await nextMinute();
    expect(total(writer.events)).toBe(15);
    expect(writer.events.map((e) => e.data.count)).toEqual([1, 1, 9, 4]); // the retry came 5 s into the next minute
  });
});
