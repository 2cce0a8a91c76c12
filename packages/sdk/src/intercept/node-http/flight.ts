import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Grant, OutgoingRequest } from '../../runtime/gate.js';
import type { Call } from './arguments.js';
import type { BodyCopy } from './body-copy.js';
import { closedError, own, report, warn, type Context, type Method } from './context.js';
import { Retry } from './retry.js';

/** What sending a request again takes: the caller's call, its body, and how to send it. */
export interface Replay {
  call: Call;
  body: BodyCopy;
  /** Sends `call` once more (no grant: as it is), never as a retryable first attempt. */
  send(call: Call, grant: Grant | undefined): ClientRequest | undefined;
}

/**
 * Reports a granted request's outcome to the gate from the events the caller sees, and answers
 * a 401 with one retry when the body is known. `emit` is wrapped rather than listened to: a
 * 'response' listener of ours would keep Node from dumping a response nobody reads.
 */
export class Flight {
  grant: Grant | undefined;
  #reported = false;
  readonly #ctx: Context;
  readonly #req: ClientRequest;
  readonly #target: OutgoingRequest;
  /** What a retry needs (first attempts only); dropped once a response or an outcome arrived. */
  #replay: Replay | undefined;
  /** The caller's request's `emit` below our wrapper: what a retry's events are delivered with. */
  #emit: Method | undefined;
  #retry: Retry | undefined;

  constructor(ctx: Context, req: ClientRequest, target: OutgoingRequest, replay?: Replay) {
    this.#ctx = ctx;
    this.#req = req;
    this.#target = target;
    this.#replay = replay;
  }

  hook(): void {
    const emit = own(this.#req).emit;
    this.#emit = emit;
    const self = this;
    own(this.#req).emit = function (this: ClientRequest, ...args: unknown[]): unknown {
      if (self.#retry !== undefined && self.#retry.swallows(args[0])) return true;
      if (self.grant !== undefined && !self.#reported && self.#observe(args[0], args[1])) return true;
      return Reflect.apply(emit, this, args);
    };
  }

  /** Start copying the caller's body (first attempts only). */
  recordBody(): void {
    this.#replay?.body.attach(this.#req);
  }

  forgetBody(): void {
    this.#replay?.body.release();
    this.#replay = undefined;
  }

  /** `true`: the event is swallowed (a 401 answered by a retry). */
  #observe(event: unknown, first: unknown): boolean {
    let swallowed = false;
    try {
      if (event === 'response' || event === 'upgrade') {
        const res = first as IncomingMessage;
        const status = res.statusCode;
        if (status === 401) {
          // The target refused this credential: the next admit asks for a new one.
          this.#ctx.gate.rejected(this.grant!);
          if (event === 'response') swallowed = this.#retryAfter401(res);
        }
        this.report(status);
      } else if (event === 'error') {
        this.report(undefined, first);
      } else if (event === 'close') {
        this.report(undefined, closedError());
      }
    } catch (error) {
      warn(this.#ctx, 'tessera: reporting a node:http outcome failed', error);
    }
    return swallowed;
  }

  /**
   * Once, for a request whose whole body is known (none, or ended within MAX_REPLAYED_BODY):
   * the 401 is drained instead of delivered, and a new request with a fresh credential answers
   * on the caller's request object. Otherwise the 401 reaches the caller as is.
   */
  #retryAfter401(res: IncomingMessage): boolean {
    const replay = this.#replay;
    if (replay === undefined || this.#req.destroyed || this.#req.aborted || !replay.body.complete()) return false;
    const retry = new Retry(this.#ctx, this.#req, this.#emit!, replay, this.grant!, this.#target, replay.body.bytes());
    try {
      retry.begin(res);
    } catch (error) {
      retry.undo();
      warn(this.#ctx, 'tessera: could not retry a node:http request after a 401; the 401 is delivered', error);
      return false;
    }
    this.#retry = retry;
    return true;
  }

  report(statusCode: number | undefined, error?: unknown): void {
    this.forgetBody();
    if (this.grant === undefined || this.#reported) return;
    this.#reported = true;
    report(this.#ctx, this.grant, this.#target, statusCode, error);
  }
}
