import type { ClientRequest, IncomingMessage } from 'node:http';
import { credentialHeaderNames } from '../../inject/inject.js';
import type { Grant, OutgoingRequest } from '../../runtime/gate.js';
import { argsWith, type Call } from './arguments.js';
import { closedError, own, report, warn, type Context, type Method } from './context.js';
import type { Replay } from './flight.js';

type RetryState = 'draining' | 'admitting' | 'sending' | 'done';

/**
 * The one retry after a 401. The caller keeps its request object: the 401 is drained, and the
 * new request's 'response', 'error', 'timeout', 'upgrade' and 'close' are emitted on it. Until
 * then the caller's request reads as not destroyed (clients such as axios ignore a response on
 * a destroyed request) and its `destroy()`/`abort()` destroy the retry.
 */
export class Retry {
  readonly #ctx: Context;
  readonly #req: ClientRequest;
  readonly #emit: Method;
  readonly #replay: Replay;
  /** The grant the 401 answered: its credential headers are not copied to the retry. */
  readonly #rejected: Grant;
  readonly #target: OutgoingRequest;
  readonly #body: Buffer | undefined;
  #state: RetryState = 'draining';
  #request: ClientRequest | undefined;
  /** What the caller's `req.destroyed` reads while the retry runs. */
  #destroyed = false;
  /** The first attempt's own 'close' (and any 'error' before it) are not the caller's to see. */
  #firstClosed = false;
  #destroyedGetter: (() => boolean) | undefined;
  #destroyWrapper: Method | undefined;
  #ownDestroy: PropertyDescriptor | undefined;

  constructor(ctx: Context, req: ClientRequest, emit: Method, replay: Replay, rejected: Grant, target: OutgoingRequest, body: Buffer | undefined) {
    this.#ctx = ctx;
    this.#req = req;
    this.#emit = emit;
    this.#replay = replay;
    this.#rejected = rejected;
    this.#target = target;
    this.#body = body;
  }

  begin(res: IncomingMessage): void {
    const req = this.#req;
    const self = this;
    // Node marks the request destroyed once the 401 is read; that write is ignored meanwhile.
    this.#destroyedGetter = () => self.#destroyed;
    Object.defineProperty(req, 'destroyed', { configurable: true, enumerable: true, get: this.#destroyedGetter, set: () => {} });
    this.#ownDestroy = Object.getOwnPropertyDescriptor(req, 'destroy');
    const destroy = own(req).destroy;
    this.#destroyWrapper = function destroyWhileRetrying(this: ClientRequest, ...args: unknown[]): unknown {
      if (self.#state === 'done') return Reflect.apply(destroy, this, args);
      self.#abort(args[0]);
      return this;
    };
    own(req).destroy = this.#destroyWrapper;

    res.resume(); // nobody reads the 401: drain it, so its connection can be reused
    let started = false;
    const next = (): void => {
      if (started) return;
      started = true;
      this.#admit().catch((error: unknown) => {
        warn(this.#ctx, 'tessera: node:http retry after a 401 failed', error);
        this.#finish(error, true);
      });
    };
    res.once('end', next);
    res.once('close', next);
  }

  /** Events of the first attempt the caller must not see, now that the retry stands for it. */
  swallows(event: unknown): boolean {
    if (this.#firstClosed) return false;
    if (event === 'close') {
      this.#firstClosed = true;
      return true;
    }
    return event === 'error' || event === 'response';
  }

  async #admit(): Promise<void> {
    if (this.#state !== 'draining') return;
    this.#state = 'admitting';
    let grant: Grant | undefined;
    try {
      grant = await this.#ctx.gate.admit(this.#target);
    } catch (error) {
      // Denied or unavailable: the request fails with the gate's error, nothing more is sent.
      if (this.#state === 'admitting') this.#finish(error, true);
      return;
    }
    if (this.#state !== 'admitting') {
      // The caller gave up meanwhile: nothing is sent; the grant still gets its outcome.
      if (grant !== undefined) report(this.#ctx, grant, this.#target, undefined, closedError());
      return;
    }
    this.#send(grant);
  }

  #send(grant: Grant | undefined): void {
    const req = this.#req;
    this.#state = 'sending';
    let retry: ClientRequest | undefined;
    try {
      // No grant: no longer managed (or fail-open without the cloud), sent without a credential.
      retry = this.#replay.send(replayCall(this.#replay.call, req, this.#rejected), grant);
      if (retry === undefined) throw new Error('tessera: the request could not be prepared again');
    } catch (error) {
      // Reported to the gate where a grant was involved (the deferred path); the caller gets it.
      this.#finish(error, true);
      return;
    }
    this.#request = retry;
    retry.on('response', (res: IncomingMessage) => {
      // As Node does for a response nobody listens to: dump it.
      if (!this.#deliver('response', res)) res.resume();
    });
    retry.on('error', (error: unknown) => this.#deliver('error', error));
    retry.on('timeout', () => this.#deliver('timeout'));
    if (req.listenerCount('upgrade') > 0) {
      retry.on('upgrade', (...args: unknown[]) => this.#deliver('upgrade', ...args));
    }
    retry.on('close', () => this.#finish(undefined, false));
    try {
      // A timeout the caller set with setTimeout() after request() applies to the retry too.
      const timeout = own(req).timeout;
      if (typeof timeout === 'number') retry.setTimeout(timeout);
      if (this.#body === undefined) retry.end();
      else retry.end(this.#body);
    } catch (error) {
      retry.destroy(error as Error);
    }
  }

  /** The caller's destroy()/abort() (an AbortSignal too) before the retry ended. */
  #abort(error: unknown): void {
    if (this.#state === 'done' || this.#destroyed) return;
    this.#destroyed = true;
    if (this.#request !== undefined) {
      this.#request.destroy(error as Error | undefined); // its 'error' and 'close' follow
      return;
    }
    // Still draining the 401 or waiting for a credential: nothing else is sent.
    this.#finish(error, true);
  }

  /** The retry is over: the caller's request is itself again; 'error' (if any), then 'close'. */
  #finish(error: unknown, later: boolean): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    this.#destroyed = true;
    this.undo();
    const end = (): void => {
      if (error !== undefined) this.#deliver('error', error);
      this.#deliver('close');
    };
    // Like Node's destroy(): on a later tick, where an unhandled 'error' is an uncaught exception.
    if (later) process.nextTick(end);
    else end();
  }

  /** Puts the caller's `destroyed` and `destroy` back; nothing more is sent after it. */
  undo(): void {
    this.#state = 'done';
    const req = this.#req;
    const props = own(req);
    if (this.#destroyedGetter !== undefined && Object.getOwnPropertyDescriptor(req, 'destroyed')?.get === this.#destroyedGetter) {
      const destroyed = this.#destroyed;
      delete props.destroyed;
      props.destroyed = destroyed;
    }
    if (this.#destroyWrapper !== undefined && props.destroy === this.#destroyWrapper) {
      if (this.#ownDestroy === undefined) Reflect.deleteProperty(props, 'destroy');
      else Object.defineProperty(req, 'destroy', this.#ownDestroy);
    }
  }

  #deliver(event: string, ...args: unknown[]): boolean {
    return Reflect.apply(this.#emit, this.#req, [event, ...args]) as boolean;
  }
}

/**
 * The caller's call again, with the headers its request carries now (set through options or
 * `setHeader` after `request()`), minus the credential the 401 answered; no callback (it
 * listens on the caller's request) and no signal (the caller's destroy reaches the retry).
 */
function replayCall(call: Call, req: ClientRequest, rejected: Grant): Call {
  const drop = credentialHeaderNames(rejected.issued.injection);
  const headers = Object.create(null) as Record<string, unknown>;
  for (const name of req.getRawHeaderNames()) {
    if (!drop.includes(name.toLowerCase())) headers[name] = req.getHeader(name);
  }
  const options: Record<string, unknown> = { ...call.options, headers };
  delete options.signal;
  if (Array.isArray(call.merged.headers)) {
    // What the array form meant to Node for the first request: no automatic Host, no `auth`.
    options.setHost = false;
    options.auth = undefined;
  }
  return { target: call.target, args: argsWith(call, options), input: call.input, options, callback: undefined, merged: { ...call.merged, headers } };
}
