import { describe, expect, it } from 'vitest';
import { TesseraCloudError, TesseraUnavailableError } from '../errors.js';
import type { EdgeEvent } from './edge-client.js';
import { EventQueue } from './event-queue.js';

const event = (i = 0): EdgeEvent => ({
  time: new Date().toISOString(),
  target: { scheme: 'https', host: 'api.example.com', port: 443, path: `/v1/${i}` },
  outcome: 'allow',
  statusClass: '2xx',
  latencyMs: 4,
});

function recorder(fail?: () => Error) {
  const batches: EdgeEvent[][] = [];
  return { batches, sender: { sendEvents: async (events: readonly EdgeEvent[]) => { if (fail) throw fail(); batches.push([...events]); } } };
}

describe('EventQueue', () => {
  it('sends batches of at most 500', async () => {
    const { batches, sender } = recorder();
    const queue = new EventQueue({ sender, flushIntervalMs: 0, maxSize: 2000 });
    for (let i = 0; i < 1200; i++) queue.push(event(i));
    await queue.close();
    expect(batches.map((b) => b.length).reduce((a, b) => a + b)).toBe(1200);
    expect(Math.max(...batches.map((b) => b.length))).toBe(500);
    expect(batches.flat()[1199]!.target.path).toBe('/v1/1199');
  });

  it('under steady traffic sends only full batches; the timer or a flush sends the rest', async () => {
    const { batches, sender } = recorder();
    const queue = new EventQueue({ sender, flushIntervalMs: 0, maxSize: 5000, batchSize: 100 });
    for (let i = 0; i < 250; i++) {
      queue.push(event(i));
      if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve)); // sends complete meanwhile
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((b) => b.length)).toEqual([100, 100]);
    expect(queue.size).toBe(50);
    await queue.flush();
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
  });

  it('is bounded: a full queue drops and counts, without throwing', () => {
    const { sender } = recorder();
    const queue = new EventQueue({ sender, flushIntervalMs: 0, maxSize: 3, batchSize: 500 });
    const accepted = Array.from({ length: 5 }, (_, i) => queue.push(event(i)));
    expect(accepted).toEqual([true, true, true, false, false]);
    expect(queue.size).toBe(3);
    expect(queue.dropped).toBe(2);
  });

  it('cleans events up to what the edge API accepts, and drops what cannot be', async () => {
    const { batches, sender } = recorder();
    const queue = new EventQueue({ sender, flushIntervalMs: 0 });
    expect(queue.push({ ...event(), target: { scheme: 'https', host: 'api.example.com', port: 443, path: '/v1?api_key=secret' }, latencyMs: -3, reason: 'Not A Code' })).toBe(true);
    expect(queue.push({ ...event(), target: { scheme: 'https', host: 'bad host', port: 443 } })).toBe(false);
    expect(queue.push(null as unknown as EdgeEvent)).toBe(false);
    await queue.flush();
    expect(batches[0]).toEqual([{ ...event(), time: expect.any(String), target: { scheme: 'https', host: 'api.example.com', port: 443, path: '/v1' }, latencyMs: 0 }]);
    expect(queue.dropped).toBe(2);
  });

  it('keeps events for the next flush while the cloud is unavailable, drops them when refused', async () => {
    let failure: Error | undefined = new TesseraUnavailableError('down');
    const sent: EdgeEvent[] = [];
    const queue = new EventQueue({ flushIntervalMs: 0, sender: { sendEvents: async (events) => { if (failure) throw failure; sent.push(...events); } } });
    queue.push(event(1));
    await queue.flush();
    expect(queue.size).toBe(1);
    failure = undefined;
    await queue.flush();
    expect(sent).toHaveLength(1);
    failure = new TesseraCloudError('refused', { status: 400 });
    queue.push(event(2));
    await queue.flush();
    expect(queue.size).toBe(0);
    expect(queue.dropped).toBe(1);
  });

  it('an outage is not a warning at every flush; lost events are, at most once a minute', async () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (message: string, fields?: Record<string, unknown>) => warnings.push(`${message} ${JSON.stringify(fields)}`) };
    let failure: Error = new TesseraUnavailableError('down');
    const queue = new EventQueue({ flushIntervalMs: 0, maxSize: 2, logger, sender: { sendEvents: async () => { throw failure; } } });
    for (let i = 0; i < 5; i += 1) {
      queue.push(event(i));
      await queue.flush();
    }
    expect(queue.size).toBe(2);
    expect(queue.dropped).toBe(3); // the queue was full: only these are lost, and they are counted
    expect(warnings).toEqual([]);
    failure = new TesseraCloudError('refused', { status: 400 });
    await queue.flush();
    queue.push(event(6));
    await queue.flush();
    expect(queue.dropped).toBe(6);
    expect(warnings).toEqual(['tessera: edge events not delivered {"reason":"cloud_error","dropped":5}']);
  });

  it('flushes on its timer', async () => {
    const { batches, sender } = recorder();
    const queue = new EventQueue({ sender, flushIntervalMs: 20 });
    queue.push(event());
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(batches).toHaveLength(1);
    await queue.close();
  });
});
