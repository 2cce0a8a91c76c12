import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraConfigurationError } from './errors.js';
import { init, shutdown } from './init.js';
import { installNodeHttpInterception } from './intercept/node-http/index.js';
import { captureLogs, createWorld, type World } from '../test/support/world.js';

let world: World;

beforeAll(async () => {
  world = await createWorld();
});

afterEach(async () => {
  await shutdown();
  world.proxy.faults.length = 0;
  world.proxy.always = undefined;
});

afterAll(async () => {
  await world?.close();
});

describe('init()', () => {
  it('waits for the first attestation at most startTimeoutMs, then says so with the last failure', async () => {
    const { logger, lines } = captureLogs();
    world.proxy.always = { status: 503 };
    const started = Date.now();
    await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, deadlineMs: 20_000, startTimeoutMs: 300, events: false });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(lines.filter((line) => line.startsWith('tessera: not attested within 300 ms'))).toEqual([
      expect.stringContaining('"lastFailure":"HTTP 503 unavailable"'),
    ]);
  });

  it('refuses a start timeout that is not 0 or more milliseconds', async () => {
    await expect(init({ cloudUrl: world.proxy.url, startTimeoutMs: -1 })).rejects.toBeInstanceOf(TesseraConfigurationError);
  });

  it('node:http interception logs through the configured logger', async () => {
    const { logger, lines } = captureLogs();
    await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, events: false });
    // Options the interceptor cannot read (a getter that fails once): sent untouched, with a warning.
    let reads = 0;
    const options = {
      host: '127.0.0.1',
      port: world.unmanaged.port,
      path: '/unreadable',
      get method() {
        reads += 1;
        if (reads === 1) throw new Error('not now');
        return 'GET';
      },
    };
    const status = await new Promise<number>((resolve, reject) => {
      http.request(options, (res) => resolve(res.resume().statusCode!)).on('error', reject).end();
    });
    expect(status).toBe(200);
    expect(world.unmanaged.received.at(-1)!.url).toBe('/unreadable');
    expect(lines).toContain('tessera: node:http interception could not read a request; it is sent untouched {"error":"Error"}');
  });
});

describe('init() and shutdown() patch and restore the globals', () => {
  const originals = () => ({
    httpRequest: http.request,
    httpGet: http.get,
    httpsRequest: https.request,
    httpsGet: https.get,
    connect: http2.connect,
    defineProperty: Object.defineProperty,
  });

  it('init → shutdown → init → shutdown: each shutdown puts back the exact original functions', async () => {
    const before = originals();
    await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger: captureLogs().logger, events: false });
    expect(http.request).not.toBe(before.httpRequest);
    expect(http2.connect).not.toBe(before.connect);
    expect(Object.defineProperty).not.toBe(before.defineProperty);
    await shutdown();
    expect(originals()).toEqual(before);
    await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger: captureLogs().logger, events: false });
    const status = await new Promise<number>((resolve, reject) => {
      http.request({ host: '127.0.0.1', port: world.unmanaged.port, path: '/again' }, (res) => resolve(res.resume().statusCode!)).on('error', reject).end();
    });
    expect(status).toBe(200);
    await shutdown();
    expect(originals()).toEqual(before);
  });

  it('refused when node:http is intercepted already (another copy of the SDK): nothing it installed stays', async () => {
    const before = originals();
    const other = installNodeHttpInterception({ tryAdmit: () => undefined, admit: async () => undefined, rejected() {}, finished() {}, bypassed: () => false });
    const patchedByOther = http.request;
    try {
      const error = await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger: captureLogs().logger, events: false }).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(TesseraConfigurationError);
      expect((error as TesseraConfigurationError).code).toBe('already_patched');
      // The undici interception it installed first is gone again, and the other copy's patch stands.
      expect(Object.defineProperty).toBe(before.defineProperty);
      expect(http.request).toBe(patchedByOther);
      expect(http2.connect).toBe(before.connect);
    } finally {
      other();
    }
    expect(originals()).toEqual(before);
    // And a start after it works.
    await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger: captureLogs().logger, events: false });
  });
});
