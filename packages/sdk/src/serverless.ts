import { init, tessera as running, type InitOptions } from './init.js';
import { optionsFromEnv } from './config/env.js';
import { assertSupportedNode } from './errors.js';
import type { Tessera } from './runtime/tessera.js';

/**
 * Wraps a serverless handler — an AWS Lambda-style `(event, context) => Promise<result>` or a
 * `(request: Request) => Promise<Response>` — so its outgoing requests go through Tessera.
 * Tessera starts once per instance (at the first invocation, or reuses what `init()` or the
 * register hook started), attests lazily (at the first request that needs it, not at cold
 * start), and the request metrics of each invocation are reported before the handler's promise
 * settles — within the time a Lambda-style context says is left (at most 2 s), so the report never
 * makes an invocation time out; what misses it goes with the next invocation's report.
 *
 * Options default to the `TESSERA_*` environment variables.
 */
export function withTessera<Args extends unknown[], Result>(
  handler: (...args: Args) => Result | Promise<Result>,
  options?: InitOptions,
): (...args: Args) => Promise<Result> {
  assertSupportedNode(); // at cold start, rather than at every invocation
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
      await flushWithin(instance, flushBudgetMs(args[1]));
    }
  };
}

/** Without a runtime deadline to go by, the flush may hold the response back this long at most. */
const DEFAULT_FLUSH_BUDGET_MS = 2_000;

/**
 * How long the flush may take: a Lambda-style context says how much time the invocation has
 * left, and the flush must not be what makes it time out. Counts that miss the budget go with
 * the next invocation's report.
 */
function flushBudgetMs(context: unknown): number {
  const remaining = (context as { getRemainingTimeInMillis?: () => number } | undefined)?.getRemainingTimeInMillis;
  if (typeof remaining !== 'function') return DEFAULT_FLUSH_BUDGET_MS;
  const left = Number(remaining.call(context));
  return Number.isFinite(left) ? Math.max(0, Math.min(DEFAULT_FLUSH_BUDGET_MS, left - 250)) : DEFAULT_FLUSH_BUDGET_MS;
}

async function flushWithin(instance: Tessera, budgetMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, budgetMs);
    timer.unref();
  });
  try {
    await Promise.race([instance.flush(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
