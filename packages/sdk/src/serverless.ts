import { init, tessera as running, type InitOptions } from './init.js';
import { optionsFromEnv } from './config/env.js';
import type { Tessera } from './runtime/tessera.js';

/**
 * Wraps a serverless handler — an AWS Lambda-style `(event, context) => Promise<result>` or a
 * `(request: Request) => Promise<Response>` — so its outgoing requests go through Tessera.
 * Tessera starts once per instance (at the first invocation, or reuses what `init()` or the
 * register hook started), attests lazily (at the first request that needs it, not at cold
 * start), and the edge events of each invocation are flushed before the handler's promise
 * settles: a frozen or recycled instance loses none.
 *
 * Options default to the `TESSERA_*` environment variables.
 */
export function withTessera<Args extends unknown[], Result>(
  handler: (...args: Args) => Result | Promise<Result>,
  options?: InitOptions,
): (...args: Args) => Promise<Result> {
  if (typeof handler !== 'function') throw new TypeError('withTessera needs a handler function');
  let starting: Promise<Tessera> | undefined;
  const start = (): Promise<Tessera> => {
    const existing = running();
    if (existing !== undefined) return Promise.resolve(existing);
    starting ??= init({ ...(options ?? optionsFromEnv()), attest: 'lazy' }).catch((error: unknown) => {
      starting = undefined; // a later invocation may try again
      throw error;
    });
    return starting;
  };
  return async function tesseraHandler(this: unknown, ...args: Args): Promise<Result> {
    const instance = await start();
    try {
      return await handler.apply(this, args);
    } finally {
      await instance.flush();
    }
  };
}
