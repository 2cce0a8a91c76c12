import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError } from './errors.js';
import { shutdown, tessera } from './init.js';
import { withTessera } from './serverless.js';
import { API_KEY, createWorld, headerValues, type World } from '../test/support/world.js';

let world: World;

beforeAll(async () => {
  world = await createWorld();
});

afterAll(async () => {
  await shutdown();
  await world?.close();
});

describe('withTessera', () => {
  it('starts once per instance, attests lazily, and reports the request metrics before the handler returns', async () => {
    const attests = world.proxy.count('/edge/v1/attest');
    const options = { cloudUrl: world.proxy.url, collectors: [world.collector()], metrics: { flushIntervalMs: 0 } };
    let invocations = 0;
    // Lambda-style: (event, context) => result.
    const handler = withTessera(async (event: { path: string }, context: { requestId: string }) => {
      invocations += 1;
      const response = await fetch(`${world.api.url}${event.path}`);
      return { statusCode: response.status, requestId: context.requestId };
    }, options);
    expect(tessera()).toBeUndefined(); // nothing at module load
    expect(world.proxy.count('/edge/v1/attest')).toBe(attests);

    const reports = world.proxy.count('/edge/v1/metrics');
    const first = await handler({ path: '/lambda-1' }, { requestId: 'r1' });
    expect(first).toEqual({ statusCode: 200, requestId: 'r1' });
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    expect(world.proxy.count('/edge/v1/metrics')).toBe(reports + 1); // flushed before returning

    await handler({ path: '/lambda-2' }, { requestId: 'r2' });
    expect(world.proxy.count('/edge/v1/attest')).toBe(attests + 1); // one attestation per instance
    expect(invocations).toBe(2);
  });

  it('wraps a (Request) => Response handler and passes denials to it as errors', async () => {
    const handler = withTessera(async (request: Request) => {
      const target = new URL(request.url).searchParams.get('to')!;
      try {
        const upstream = await fetch(target);
        return new Response(await upstream.text(), { status: upstream.status });
      } catch (error) {
        const cause = (error as Error).cause;
        return new Response(cause instanceof TesseraAccessDeniedError ? cause.code : 'error', { status: 403 });
      }
    });
    const ok = await handler(new Request(`http://fn.local/?to=${encodeURIComponent(`${world.api.url}/fn`)}`));
    expect(ok.status).toBe(200);
    const denied = await handler(new Request(`http://fn.local/?to=${encodeURIComponent(`${world.denied.url}/fn`)}`));
    expect(denied.status).toBe(403);
    expect(await denied.text()).toBe('condition_failed');
  });

  it('never lets the flush outlast the time the runtime says is left', async () => {
    const handler = withTessera(async (_event: unknown, _context: { getRemainingTimeInMillis(): number }) => (await fetch(`${world.api.url}/cached`)).status);
    await handler({}, { getRemainingTimeInMillis: () => 60_000 }); // the credential is cached now
    world.proxy.always = { status: 503 }; // the metrics report now retries until its deadline
    try {
      const started = Date.now();
      expect(await handler({}, { getRemainingTimeInMillis: () => 600 })).toBe(200);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      world.proxy.always = undefined;
    }
  });

  it('rethrows what the handler throws, after flushing', async () => {
    const handler = withTessera(async () => {
      throw new Error('handler failed');
    });
    await expect(handler()).rejects.toThrow('handler failed');
  });

  it('refuses a non-function', () => {
    expect(() => withTessera(undefined as unknown as () => void)).toThrow(TypeError);
  });
});
