import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeAuditEvent } from '../../test/support/store-backends.js';
import type { AuditEvent } from '../store/types.js';
import { BACKOFF_CAP_MS, backoffDelay, type DeliveryFailure } from './sink.js';
import { WebhookSink, type WebhookSinkOptions } from './webhook-sink.js';
import { DestinationGuard } from '../egress/destination-guard.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: { events: AuditEvent[] };
}

const SECRET = 'Bearer webhook-secret-value';

describe('WebhookSink', () => {
  let server: http.Server;
  let url: string;
  let received: Received[];
  /** Status of the next answers; 200 once the list is empty. */
  let script: Array<number | 'hang' | 'big' | 'close'>;

  beforeEach(async () => {
    received = [];
    script = [];
    server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const step = script.shift() ?? 200;
        if (step === 'hang') return; // never answers
        received.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
        if (step === 'close') {
          response.writeHead(200, { connection: 'close' });
          response.end();
          return;
        }
        if (step === 'big') {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end('x'.repeat(8 * 1024 * 1024));
          return;
        }
        response.writeHead(step, step >= 300 && step < 400 ? { location: 'http://127.0.0.1:9/elsewhere' } : {});
        response.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest?token=query-secret`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const delays: number[] = [];
  const failures: DeliveryFailure[] = [];
  const sink = (options: Partial<WebhookSinkOptions> = {}) => {
    delays.length = 0;
    failures.length = 0;
    return new WebhookSink({
      url,
      batchSize: 100,
      timeoutMs: 2000,
      // The receiver is on loopback, which streams may reach only when the operator allows it.
      guard: new DestinationGuard({ allow: ['127.0.0.1'] }),
      sleep: async (ms) => void delays.push(ms),
      random: () => 0.5,
      onFailure: (failure) => failures.push(failure),
      ...options,
    });
  };
  const signal = new AbortController().signal;

  it('posts {"events":[...]} in batches of batchSize, in order, as JSON with the authorization header', async () => {
    const events = Array.from({ length: 250 }, (_, index) => makeAuditEvent({ data: { index } }));
    await sink({ authorization: SECRET }).deliver(events, signal);
    expect(received.map((each) => each.body.events.length)).toEqual([100, 100, 50]);
    expect(received.flatMap((each) => each.body.events)).toEqual(events);
    for (const { headers } of received) {
      expect(headers['content-type']).toBe('application/json');
      expect(headers.authorization).toBe(SECRET);
    }
  });

  it('sends no authorization header when the secret is not set', async () => {
    await sink().deliver([makeAuditEvent()], signal);
    expect(received[0]!.headers.authorization).toBeUndefined();
  });

  it('retries non-2xx answers with growing, jittered delays until delivered', async () => {
    script = [503, 500, 429, 404, 302];
    const event = makeAuditEvent();
    await sink({ authorization: SECRET }).deliver([event], signal);
    expect(received).toHaveLength(6); // five failures, then the 200
    expect(received.every((each) => each.body.events[0]!.id === event.id)).toBe(true);
    expect(failures.map((failure) => failure.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(failures[0]!.message).toMatch(/HTTP 503/);
    expect(failures[4]!.message).toMatch(/HTTP 302/); // redirects are not followed
    // random() = 0.5: three quarters of 500 ms · 2^(attempt-1).
    expect(delays).toEqual([375, 750, 1500, 3000, 6000]);
    expect(failures.map((failure) => failure.delayMs)).toEqual(delays);
    for (const failure of failures) {
      expect(failure.message).not.toContain('webhook-secret-value');
      expect(failure.message).not.toContain('query-secret');
    }
  });

  it('keeps its backoff within base and cap, with jitter', () => {
    expect(backoffDelay(1, () => 0)).toBe(250);
    expect(backoffDelay(1, () => 1)).toBe(500);
    expect(backoffDelay(6, () => 0)).toBe(8000);
    expect(backoffDelay(7, () => 0)).toBe(BACKOFF_CAP_MS / 2); // 32 s capped at 30 s
    expect(backoffDelay(7, () => 0.999)).toBeLessThanOrEqual(BACKOFF_CAP_MS);
    expect(backoffDelay(1000, () => 0)).toBe(BACKOFF_CAP_MS / 2);
    expect(backoffDelay(1000, () => 1)).toBe(BACKOFF_CAP_MS);
  });

  it('retries network errors and timeouts, naming neither the path nor the secret', async () => {
    script = ['hang'];
    await sink({ timeoutMs: 200 }).deliver([makeAuditEvent()], signal);
    expect(failures[0]!.message).toMatch(/timeout/);

    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    let attempts = 0;
    const controller = new AbortController();
    const down = sink({
      url: `http://127.0.0.1:${port}/path-secret`,
      authorization: SECRET,
      sleep: async () => {
        if (++attempts === 3) controller.abort(new Error('stopping'));
      },
    });
    await expect(down.deliver([makeAuditEvent()], controller.signal)).rejects.toThrow('stopping');
    expect(failures).toHaveLength(3);
    expect(failures[0]!.message).toBe(`POST to 127.0.0.1:${port} failed: ECONNREFUSED`);
  });

  it('stops retrying when the signal aborts during a backoff wait', async () => {
    script = [503, 503, 503, 503];
    const controller = new AbortController();
    const target = sink({ sleep: undefined }); // the real, abortable sleep
    const delivery = target.deliver([makeAuditEvent()], controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort(new Error('shutdown'));
    await expect(delivery).rejects.toThrow('shutdown');
    expect(received).toHaveLength(1);
  });

  it('does not read a large response body', async () => {
    script = ['big'];
    const started = Date.now();
    await sink().deliver([makeAuditEvent()], signal);
    expect(failures).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('refuses a URL with credentials in it', () => {
    expect(() => sink({ url: 'https://user:pass@example.com/hook' })).toThrow(/must not contain credentials/);
  });

  describe('destinations', () => {
    const port = () => (server.address() as AddressInfo).port;
    /** A resolver that answers each lookup of a name with the next address of a script. */
    const scripted = (...answers: string[]) => {
      const asked: string[] = [];
      const resolve = async (hostname: string) => {
        asked.push(hostname);
        const address = answers.length > 1 ? answers.shift()! : answers[0]!;
        return [{ address, family: address.includes(':') ? 6 : 4 }];
      };
      return { asked, resolve };
    };

    it('refuses loopback (the control plane itself) unless the operator allowed it, before sending anything', () => {
      for (const target of [`http://127.0.0.1:${port()}/ingest`, `http://localhost:${port()}/api/v1/admin-keys`, `http://[::1]:${port()}/`]) {
        expect(() => sink({ url: target, guard: new DestinationGuard() }), target).toThrow(/loopback/);
      }
      expect(received).toEqual([]);
    });

    it('refuses at connect time a name that resolves to a private address, keeping the batch for a retry', async () => {
      const dns = scripted('10.0.0.7', '127.0.0.1');
      const event = makeAuditEvent();
      await sink({ url: `http://siem.localhost:${port()}/ingest`, guard: new DestinationGuard({ allow: ['127.0.0.1'], resolve: dns.resolve }) }).deliver([event], signal);
      expect(dns.asked).toEqual(['siem.localhost', 'siem.localhost']);
      expect(failures).toHaveLength(1);
      expect(failures[0]!.message).toBe(`POST to siem.localhost:${port()} failed: siem.localhost resolves to a private address, which log streams may not reach`);
      expect(received.map((each) => each.body.events[0]!.id)).toEqual([event.id]);
    });

    it('checks every new connection, so a name that rebinds to the metadata address is refused and nothing is lost', async () => {
      // Answers: the receiver, then 169.254.169.254 twice (IPv4 and IPv4-mapped IPv6), then the receiver again.
      const dns = scripted('127.0.0.1', '169.254.169.254', '::ffff:169.254.169.254', '127.0.0.1');
      script = ['close', 'close'];
      const target = sink({ url: `http://rebind.localhost:${port()}/ingest`, guard: new DestinationGuard({ allow: ['127.0.0.1'], resolve: dns.resolve }) });
      const [first, second] = [makeAuditEvent(), makeAuditEvent()];
      await target.deliver([first], signal);
      await target.deliver([second], signal);
      const refused = `POST to rebind.localhost:${port()} failed: rebind.localhost resolves to a link-local address, which log streams may not reach`;
      expect(failures.map((failure) => failure.message)).toEqual([refused, refused]);
      expect(received.map((each) => each.body.events[0]!.id)).toEqual([first.id, second.id]);
      await target.close();
    });
  });
});
