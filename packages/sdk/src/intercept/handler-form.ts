import type { Dispatcher } from 'undici';

type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;
type RawHeaders = Buffer[] | string[];

/** The callbacks of undici's older handler contract, which Node's built-in fetch still hands its dispatcher. */
interface LegacyHandler {
  onConnect?(abort: (reason?: Error) => void, context?: unknown): void;
  onUpgrade?(statusCode: number, headers: RawHeaders, socket: unknown): void;
  onHeaders?(statusCode: number, headers: RawHeaders, resume: () => void, statusMessage?: string): boolean | void;
  onData?(chunk: Buffer): boolean | void;
  onComplete?(trailers: RawHeaders): void;
  onError?(error: Error): void;
}

/**
 * The handler in the current (undici ≥ 7) form, which the interceptor's own handler wraps. Node's
 * built-in fetch hands the older form (`onConnect`, `onHeaders` ...); it is adapted here the way
 * undici's `Dispatcher1Wrapper` does, so that the built-in dispatcher needs no npm undici.
 */
export function currentHandler(handler: Handler): Handler {
  return typeof handler.onRequestStart === 'function' ? handler : new LegacyHandlerAdapter(handler as LegacyHandler);
}

class LegacyHandlerAdapter implements Handler {
  readonly #handler: LegacyHandler;

  constructor(handler: LegacyHandler) {
    this.#handler = handler;
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#handler.onConnect?.((reason) => controller.abort(reason as Error), context);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: Record<string, string | string[]>, socket: unknown): void {
    this.#handler.onUpgrade?.(statusCode, rawOf(controller, 'rawHeaders', headers), socket);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void {
    if (this.#handler.onHeaders?.(statusCode, rawOf(controller, 'rawHeaders', headers), () => controller.resume(), statusMessage) === false) controller.pause();
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#handler.onData?.(chunk) === false) controller.pause();
  }

  onResponseEnd(controller: Controller, trailers: Record<string, string | string[]>): void {
    this.#handler.onComplete?.(rawOf(controller, 'rawTrailers', trailers));
  }

  onResponseError(_controller: Controller, error: Error): void {
    if (this.#handler.onError === undefined) throw error;
    this.#handler.onError(error);
  }
}

/** The raw `[name, value, ...]` form: undici's controller carries it; else built from the object. */
function rawOf(controller: Controller, key: 'rawHeaders' | 'rawTrailers', headers: Record<string, string | string[]> | undefined): RawHeaders {
  const raw = (controller as unknown as Record<string, unknown> | undefined)?.[key];
  if (Array.isArray(raw)) return raw as RawHeaders;
  const flat: string[] = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (Array.isArray(value)) for (const item of value) flat.push(name, item);
    else flat.push(name, value);
  }
  return flat;
}
