import type { ClientRequest } from 'node:http';
import { http } from './builtins.js';
import { STREAMED_BODY } from '../../inject/sigv4.js';
import { MUST_WAIT, type Grant, type OutgoingRequest } from '../../runtime/gate.js';
import { byteLength, isChunk } from './body-copy.js';
import { closedError, endUnconnected, own, report, warn, type Context, type Method } from './context.js';
import { Flight, type Replay } from './flight.js';
import { place, placementFor } from './placement.js';
import { queuedBody, signHeldRequest, signingPoint } from './sigv4-body.js';

/** How a held request starts: decided (a grant), to be decided (MUST_WAIT), or failed before it was sent. */
export type Start = Grant | typeof MUST_WAIT | { grant: Grant; error: unknown };

type Held = 'write' | 'end' | 'flushHeaders' | 'destroy';
const HELD: readonly Held[] = ['write', 'end', 'flushHeaders', 'destroy'];

type State = 'waiting' | 'collecting' | 'signing' | 'released' | 'closed';

interface Queued {
  op: Exclude<Held, 'destroy'>;
  args: unknown[];
  /** A write whose chunk was copied and whose callback was called (#takeWrites). */
  taken?: boolean;
}

/**
 * A request created but not yet connected: its writes are queued (in order, with encodings and
 * callbacks) until the credential is placed; then the queue is replayed and the parked
 * `agent.addRequest` runs. `collecting` waits for the whole body of a SigV4 request.
 */
export class HeldRequest {
  readonly #ctx: Context;
  readonly #target: OutgoingRequest;
  readonly #expect: [string, unknown] | undefined;
  readonly #replay: Replay | undefined;
  #req!: ClientRequest;
  #flight!: Flight;
  #state: State = 'waiting';
  readonly #queue: Queued[] = [];
  /** Queue entries before `end()`: the body a signature covers. */
  #bodyEntries = 0;
  #bodyBytes = 0;
  #ended = false;
  #flushRequested = false;
  /** `write` returned false and no 'drain' followed yet. */
  #owesDrain = false;
  #connect: (() => void) | undefined;
  /** The parked addRequest ran: the agent now owns the request's fate. */
  #connected = false;
  /** Set by attach(), right after construction (checked where a failed attach could reach). */
  #originals: Record<Held, Method> | undefined;
  #wrappers: Record<Held, Method> | undefined;

  constructor(ctx: Context, target: OutgoingRequest, expect: [string, unknown] | undefined, replay: Replay | undefined) {
    this.#ctx = ctx;
    this.#target = target;
    this.#expect = expect;
    this.#replay = replay;
  }

  /** The agent wrapper's addRequest: keep the connection for later. */
  park(connect: () => void): void {
    this.#connect = connect;
  }

  attach(req: ClientRequest): void {
    this.#req = req;
    this.#flight = new Flight(this.#ctx, req, this.#target, this.#replay);
    this.#flight.hook();
    const props = own(req);
    this.#originals = { write: own(req).write, end: own(req).end, flushHeaders: own(req).flushHeaders, destroy: own(req).destroy };
    this.#wrappers = {
      write: (...args: unknown[]) => this.#write(args),
      end: (...args: unknown[]) => this.#end(args),
      flushHeaders: (...args: unknown[]) => this.#flushHeaders(args),
      destroy: (...args: unknown[]) => this.#destroy(args),
    };
    for (const name of HELD) props[name] = this.#wrappers[name];
    // Above our wrappers: the copy sees the caller's calls, never the replay of the queue.
    this.#flight.recordBody();
  }

  start(start: Start): void {
    try {
      // Set after construction so Node does not render the headers in the constructor; the
      // headers are flushed at release instead, as Node would have on connect.
      if (this.#expect !== undefined) this.#req.setHeader(this.#expect[0], this.#expect[1] as string);
    } catch (error) {
      if (start !== MUST_WAIT) this.#flight.grant = 'grant' in start ? start.grant : start;
      this.#fail(error);
      return;
    }
    if (start === MUST_WAIT) {
      let decision: Promise<Grant | undefined>;
      try {
        decision = Promise.resolve(this.#ctx.gate.admit(this.#target));
      } catch (error) {
        decision = Promise.reject(error);
      }
      decision.then(
        (grant) => this.#decided(grant),
        (error: unknown) => this.#fail(error),
      ).catch((error: unknown) => this.internal(error));
    } else if ('error' in start) {
      this.#flight.grant = start.grant;
      this.#fail(start.error);
    } else {
      this.#decided(start);
    }
  }

  #decided(grant: Grant | undefined): void {
    if (this.#state === 'closed') {
      // The caller gave up meanwhile: nothing is sent; the grant still gets its outcome.
      if (grant !== undefined) report(this.#ctx, grant, this.#target, undefined, closedError());
      return;
    }
    if (grant === undefined) {
      this.#flight.forgetBody(); // unmanaged after all: nothing to retry
      this.#release();
      return;
    }
    this.#flight.grant = grant;
    try {
      if (grant.issued.injection.kind === 'aws-sigv4') {
        this.#state = 'collecting';
        this.#signWhenReady();
        if (this.#state === 'collecting') {
          // The body is wanted now: resume a writer paused by our `false`, or waiting for its callbacks.
          this.#drainLater();
          this.#takeWrites();
        }
        return;
      }
      place(this.#req, grant, placementFor(grant, this.#req.path), this.#req.path);
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#release();
  }

  #original(op: Held, args: unknown[]): unknown {
    return Reflect.apply(this.#originals![op], this.#req, args);
  }

  #write(args: unknown[]): unknown {
    if (this.#state === 'released' || this.#state === 'closed') return this.#original('write', args);
    const chunk = args[0];
    // Node throws for these before rendering anything: let it, synchronously, as usual.
    if (!isChunk(chunk)) return this.#original('write', args);
    this.#queue.push({ op: 'write', args });
    if (!this.#ended) {
      this.#bodyEntries = this.#queue.length;
      this.#bodyBytes += byteLength(chunk, args[1]);
    }
    if (this.#state === 'collecting') {
      this.#signWhenReady();
      if (this.#state === 'collecting') {
        this.#takeWrites();
        return true; // keep the body coming until end()
      }
    }
    this.#owesDrain = true;
    return false;
  }

  /**
   * While a SigV4 body is collected, the writes queued so far are taken as a buffering stream
   * takes them: the chunk is copied (the writer may reuse its buffer) and its callback called.
   * Writers such as got wait for each callback before they write on or end(), and the signature
   * waits for end().
   */
  #takeWrites(): void {
    for (const entry of this.#queue) {
      if (entry.op !== 'write' || entry.taken) continue;
      entry.taken = true;
      const [chunk, encoding, callback] = entry.args;
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done !== 'function') continue;
      const copy = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array);
      entry.args = typeof encoding === 'function' ? [copy] : [copy, encoding];
      process.nextTick(done as (error: Error | null) => void, null);
    }
  }

  #end(args: unknown[]): unknown {
    if (this.#state === 'released' || this.#state === 'closed') return this.#original('end', args);
    const chunk = typeof args[0] === 'function' ? undefined : args[0];
    if (chunk && !isChunk(chunk)) return this.#original('end', args);
    this.#queue.push({ op: 'end', args });
    if (!this.#ended) {
      this.#ended = true;
      if (chunk && isChunk(chunk)) {
        this.#bodyEntries = this.#queue.length;
        this.#bodyBytes += byteLength(chunk, args[1]);
      }
    }
    this.#signWhenReady();
    return this.#req;
  }

  #flushHeaders(args: unknown[]): unknown {
    if (this.#state === 'released' || this.#state === 'closed') return this.#original('flushHeaders', args);
    this.#queue.push({ op: 'flushHeaders', args });
    this.#flushRequested = true;
    this.#signWhenReady();
    return undefined;
  }

  /** The caller's destroy()/abort() (an AbortSignal too) while the decision is pending. */
  #destroy(args: unknown[]): unknown {
    if (this.#state === 'released' || this.#state === 'closed') return this.#original('destroy', args);
    this.#close();
    const result = this.#original('destroy', args);
    endUnconnected(this.#req);
    return result;
  }

  /** SigV4 signs once the body is known: at end(), or streamed when it cannot be waited for. */
  #signWhenReady(): void {
    if (this.#state !== 'collecting') return;
    const point = signingPoint({
      bytes: this.#bodyBytes,
      ended: this.#ended,
      flushRequested: this.#flushRequested,
      expectsContinue: this.#expect !== undefined,
    });
    if (point !== 'wait') this.#sign(point === 'streamed').catch((error: unknown) => this.internal(error));
  }

  async #sign(streamed: boolean): Promise<void> {
    this.#state = 'signing';
    try {
      const body = streamed ? STREAMED_BODY : queuedBody(this.#queue.slice(0, this.#bodyEntries));
      await signHeldRequest(this.#req, this.#flight.grant!, this.#target, body, () => this.#state === 'signing');
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (this.#state === 'signing') this.#release();
  }

  /** Replay the caller's calls on the real request, then let the agent connect. */
  #release(): void {
    const req = this.#req;
    this.#state = 'released';
    this.#restore();
    try {
      for (const { op, args } of this.#queue) this.#original(op, args);
      this.#queue.length = 0;
      // Node flushes the headers of an Expect request at once, so the server can send 100.
      if (this.#expect !== undefined && !req.headersSent && !req.destroyed) this.#original('flushHeaders', []);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (req.destroyed) {
      // Destroyed without our wrapper (ClientRequest.prototype.destroy.call): end it unconnected.
      this.#close();
      endUnconnected(req);
      return;
    }
    const connect = this.#connect;
    this.#connect = undefined;
    if (connect === undefined) {
      this.#fail(new Error('tessera: the request was never handed to its agent'));
      return;
    }
    try {
      this.#connected = true;
      connect();
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#drainLater();
  }

  /**
   * 'drain' for a writer we told to wait, on a later tick like Node's own (a listener that
   * throws then behaves as without Tessera). Not when Node itself owes one (its buffer is full).
   */
  #drainLater(): void {
    if (!this.#owesDrain) return;
    this.#owesDrain = false;
    const req = this.#req;
    process.nextTick(() => {
      if (this.#state === 'collecting' || (this.#state === 'released' && !req.destroyed && !req.writableEnded && !req.writableNeedDrain)) {
        req.emit('drain');
      }
    });
  }

  /** Fail the request before it connected: 'error' with exactly this error, then 'close'. */
  #fail(error: unknown): void {
    if (this.#state === 'closed') return;
    const connected = this.#connected;
    this.#close();
    this.#flight.report(undefined, error);
    try {
      Reflect.apply(this.#originals?.destroy ?? http.ClientRequest.prototype.destroy, this.#req, [error]);
      if (!connected) endUnconnected(this.#req);
    } catch (secondary) {
      warn(this.#ctx, 'tessera: could not fail a node:http request', secondary);
    }
  }

  /** An exception in this module's own code: the request fails, the process carries on. */
  internal(error: unknown): void {
    warn(this.#ctx, 'tessera: node:http interception failed; the request fails', error);
    this.#fail(error);
  }

  #close(): void {
    this.#state = 'closed';
    this.#connect = undefined;
    this.#queue.length = 0;
    this.#restore();
  }

  #restore(): void {
    const props = own(this.#req);
    if (this.#wrappers === undefined) return;
    for (const name of HELD) if (props[name] === this.#wrappers[name]) Reflect.deleteProperty(props, name);
  }
}
