import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraConfigurationError } from './errors.js';
import { init, shutdown } from './init.js';
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
