import type { ClientRequest, IncomingMessage } from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import { types } from 'node:util';
import { TesseraConfigurationError } from '../errors.js';
import { applyInjection, credentialHeaderNames } from '../inject/inject.js';
import { signAwsSigv4, STREAMED_BODY } from '../inject/sigv4.js';
import type { HeaderObject } from '../inject/types.js';
import { MUST_WAIT, type Grant, type OutgoingRequest, type RequestGate } from '../runtime/gate.js';
import { MAX_REPLAYED_BODY, MAX_SIGNED_BODY } from './body-limits.js';
import { toHeaderRecord } from './header-record.js';
import { warnSafely } from './warn.js';

// Not `import http from 'node:http'`: an ES-module import of node:http reads every export,
// `WebSocket` & co. included, whose getters load Node's whole undici (tens of ms at start,
// for a process that may never fetch). The CommonJS objects are the ones patched anyway.
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

/**
 * Just-in-time credential injection for clients built on `node:http` / `node:https` (axios,
 * got, node-fetch, superagent, the AWS SDK's NodeHttpHandler ...), by patching
 * `http(s).request` and `http(s).get`.
 *
 * - Unmanaged requests go to the original function with the caller's exact arguments.
 * - A cached header/basic/query credential is placed on the real `ClientRequest` right after
 *   it is created, before the caller can write (headers render on the first write/end).
 * - Everything else (no decision yet, SigV4, headers Node renders in the constructor) takes the
 *   deferred path: the request is created with an agent wrapper that holds the connection, and
 *   `write`/`end`/`flushHeaders` are queued until the credential is placed. A refusal destroys
 *   the request with the gate's error before any connection is opened.
 * - A 401 to a managed request whose whole body is known (none, or ended within 1 MiB: a copy
 *   is kept) is drained, and one new request with a fresh credential answers on the caller's
 *   request object. A second 401, or one to a streamed or larger body, reaches the caller.
 */

export interface NodeHttpInterceptionOptions {
  /** Internal failures of the interceptor (never a credential: names and error codes only). */
  logger?: { warn(msg: string, fields?: Record<string, unknown>): void };
}


/** One per process, also across duplicate copies of the SDK: two patches would inject twice. */
const kInstalled = Symbol.for('tessera.intercept.node-http.installed');

type RequestFn = (...args: unknown[]) => ClientRequest;
type Method = (...args: unknown[]) => unknown;

interface HttpModule {
  request: RequestFn;
  get: RequestFn;
  globalAgent: AgentLike;
}

interface AgentLike {
  addRequest(...args: unknown[]): void;
  protocol?: unknown;
  defaultPort?: unknown;
  options?: { socketPath?: unknown };
}

interface Patched {
  module: HttpModule;
  originalRequest: RequestFn;
  originalGet: RequestFn;
}

interface Context {
  gate: RequestGate;
  logger: NodeHttpInterceptionOptions['logger'];
  active: boolean;
}

/** The options fields this module reads, as Node merges them (URL fields, then options). */
interface OptionsView {
  protocol?: unknown;
  hostname?: unknown;
  host?: unknown;
  port?: unknown;
  defaultPort?: unknown;
  path?: unknown;
  method?: unknown;
  headers?: unknown;
  agent?: unknown;
  _defaultAgent?: unknown;
  socketPath?: unknown;
  createConnection?: unknown;
}

/** A call to `request`/`get` the interceptor understood. */
interface Call {
  target: OutgoingRequest;
  /** The caller's arguments, untouched. */
  args: unknown[];
  /** The URL string or object the caller passed first, if any. */
  input: string | URL | undefined;
  /** The caller's options object, if any. */
  options: object | undefined;
  callback: unknown;
  merged: OptionsView;
}

/**
 * Patches `http.request/get` and `https.request/get` (and syncs the ESM named exports, so
 * `import { request } from 'node:http'` sees the patch). Returns the uninstall function, which
 * puts the originals back (unless something patched over ours since: ours then passes every
 * request through untouched). Installing twice without uninstalling throws.
 */
export function installNodeHttpInterception(gate: RequestGate, options: NodeHttpInterceptionOptions = {}): () => void {
  const registry = globalThis as unknown as Record<symbol, unknown>;
  if (registry[kInstalled] === true) {
    throw new TesseraConfigurationError('invalid_options', 'node:http interception is already installed in this process; uninstall it first');
  }
  const ctx: Context = { gate, logger: options.logger, active: true };
  const restores = [patch(ctx, http as unknown as HttpModule), patch(ctx, https as unknown as HttpModule)];
  registry[kInstalled] = true;
  syncBuiltinESMExports();
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    ctx.active = false;
    for (const restore of restores) restore();
    delete registry[kInstalled];
    syncBuiltinESMExports();
  };
}

function patch(ctx: Context, module: HttpModule): () => void {
  const patched: Patched = { module, originalRequest: module.request, originalGet: module.get };
  const request = function request(this: unknown, ...args: unknown[]): ClientRequest {
    return intercept(ctx, patched, false, this, args);
  };
  const get = function get(this: unknown, ...args: unknown[]): ClientRequest {
    return intercept(ctx, patched, true, this, args);
  };
  module.request = request;
  module.get = get;
  return () => {
    if (module.request === request) module.request = patched.originalRequest;
    if (module.get === get) module.get = patched.originalGet;
  };
}

function intercept(ctx: Context, patched: Patched, isGet: boolean, thisArg: unknown, args: unknown[]): ClientRequest {
  const untouched = isGet ? patched.originalGet : patched.originalRequest;
  if (!ctx.active) return Reflect.apply(untouched, thisArg, args);
  let call: Call | undefined;
  let decision: Grant | typeof MUST_WAIT | undefined;
  let atOnce = false;
  try {
    call = describeCall(patched.module, args);
    if (call !== undefined) {
      decision = ctx.gate.tryAdmit(call.target);
      // Checked only for managed requests: the SDK's own calls are rare, unmanaged ones are not.
      if (decision !== undefined && ctx.gate.bypassed()) decision = undefined;
      atOnce = decision !== undefined && decision !== MUST_WAIT && placeableAtOnce(decision, call);
    }
  } catch (error) {
    warn(ctx, 'tessera: node:http interception could not read a request; it is sent untouched', error);
    decision = undefined;
  }
  // Outside the try: an exception of Node's own (invalid options) reaches the caller as usual.
  if (call === undefined || decision === undefined) return Reflect.apply(untouched, thisArg, args);

  const req =
    atOnce && decision !== MUST_WAIT
      ? sendWithGrant(ctx, patched, thisArg, call, decision, true)
      : sendDeferred(ctx, patched, thisArg, call, decision, true);
  // Node's own get() is request() + end(); end() is queued on the deferred path.
  if (isGet && req !== undefined) req.end();
  return req ?? Reflect.apply(untouched, thisArg, args);
}

/**
 * What the request targets, read the way `ClientRequest` reads its options. `undefined` for
 * anything the interceptor leaves to Node: UNIX sockets, custom `createConnection`, CONNECT,
 * absolute-form paths, values Node would reject. Objects avoid a URL parse (the hot path).
 */
function describeCall(module: HttpModule, args: unknown[]): Call | undefined {
  const first = args[0];
  let input: string | URL | undefined;
  let options: object | undefined;
  let callback: unknown;
  let merged: OptionsView;
  if (typeof first === 'string' || first instanceof URL) {
    input = first;
    const second = args[1];
    if (typeof second === 'function') {
      callback = second;
    } else {
      if (second !== undefined && second !== null) {
        if (typeof second !== 'object') return undefined;
        options = second;
      }
      callback = args[2];
    }
    const url = typeof first === 'string' ? URL.parse(first) : first;
    if (url === null) return undefined;
    // Node merges urlToHttpOptions(url) with the options' own fields overriding. Only these URL
    // fields matter here, and urlToHttpOptions reads every getter (it would triple the cost).
    const hostname = url.hostname;
    merged = {
      protocol: url.protocol,
      hostname: hostname.charCodeAt(0) === 91 /* [ */ ? hostname.slice(1, -1) : hostname,
      path: `${url.pathname}${url.search}`,
      port: url.port === '' ? undefined : Number(url.port),
    };
    if (options !== undefined) Object.assign(merged, options);
  } else if (typeof first === 'object' && first !== null) {
    // A URL from another realm: Node reads it as a URL; rare enough to leave to Node.
    if (isForeignUrl(first)) return undefined;
    options = first;
    merged = first as OptionsView;
    callback = args[1];
  } else {
    return undefined;
  }

  if (merged.socketPath || typeof merged.createConnection === 'function') return undefined;
  const agent = merged.agent;
  const defaultAgent = (merged._defaultAgent || module.globalAgent) as AgentLike;
  let portAgent: AgentLike | undefined;
  if (agent === undefined || agent === null) {
    portAgent = defaultAgent;
  } else if (agent !== false) {
    if (typeof agent !== 'object' || typeof (agent as AgentLike).addRequest !== 'function') return undefined;
    portAgent = agent as AgentLike;
  }
  if (portAgent?.options?.socketPath) return undefined; // agent options override the request's

  const protocol = merged.protocol || defaultAgent.protocol;
  if (protocol !== 'http:' && protocol !== 'https:') return undefined;
  const scheme = protocol === 'https:' ? 'https' : 'http';

  const rawHost = merged.hostname || merged.host || 'localhost';
  if (typeof rawHost !== 'string') return undefined;
  let host = rawHost;
  if (host.charCodeAt(0) === 91 /* [ */ && host.charCodeAt(host.length - 1) === 93 /* ] */) host = host.slice(1, -1);

  const rawPort = merged.port || merged.defaultPort || (portAgent === undefined ? (scheme === 'https' ? 443 : 80) : portAgent.defaultPort) || 80;
  const port = typeof rawPort === 'number' ? rawPort : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;

  const path = merged.path || '/';
  // Absolute-form (`http://origin/...` to a proxy) and `*` name no path on this host.
  if (typeof path !== 'string' || path.charCodeAt(0) !== 47 /* / */) return undefined;

  const rawMethod = merged.method;
  let method = 'GET';
  if (rawMethod !== undefined && rawMethod !== null && rawMethod !== '') {
    if (typeof rawMethod !== 'string') return undefined;
    method = rawMethod.toUpperCase();
  }
  if (method === 'CONNECT') return undefined; // a tunnel, not a request to place a credential on

  return { target: { scheme, host, port, path, method }, args, input, options, callback, merged };
}

/** Node's test for a URL object (`isURL`), for URL instances of another realm. */
function isForeignUrl(value: object): boolean {
  const candidate = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown };
  return Boolean(candidate.href && candidate.protocol && candidate.auth === undefined && candidate.path === undefined);
}

/**
 * A cached header/basic/query credential can be set on the created request, unless Node renders
 * the headers inside the constructor: for an array of raw headers, or an `Expect` header.
 */
function placeableAtOnce(grant: Grant, call: Call): boolean {
  if (grant.issued.injection.kind === 'aws-sigv4') return false;
  const headers = call.merged.headers;
  if (headers === undefined || headers === null) return true;
  if (Array.isArray(headers)) return false;
  return typeof headers !== 'object' || expectHeader(headers as Record<string, unknown>) === undefined;
}

/** The `Expect` header the caller passed (Node renders the headers at once for it), if any. */
function expectHeader(headers: Record<string, unknown>): [string, unknown] | undefined {
  let found: [string, unknown] | undefined;
  for (const key of Object.keys(headers)) {
    if (key.length === 6 && key.toLowerCase() === 'expect') found = headers[key] ? [key, headers[key]] : undefined;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Placing a credential

interface Placement {
  header?: [name: string, value: string];
  path?: string;
}

/** The header (header/basic) or the path (query) to set; throws InjectionError and the like. */
function placementFor(grant: Grant, path: string): Placement {
  const { credential, injection } = grant.issued;
  const injected = applyInjection<HeaderObject>({ path, headers: {} }, credential, injection);
  if (injection.kind === 'query') return { path: injected.path };
  const name = Object.keys(injected.headers)[0];
  if (name === undefined) throw new TypeError(`inject(${injection.kind}) produced no header`);
  const value = String(injected.headers[name]);
  // Checked before the request exists; the messages name the header, never the value.
  http.validateHeaderName(name);
  http.validateHeaderValue(name, value);
  return { header: [name, value] };
}

function place(req: ClientRequest, grant: Grant, placement: Placement, placedFor: string): void {
  // Headers render on the first write/end; rendered now, the credential could not be placed.
  if (req.headersSent) throw new Error('tessera: the request headers were rendered before the credential could be placed');
  if (placement.header !== undefined) ownHeader(req, placement.header[0], placement.header[1]);
  if (placement.path !== undefined) {
    // A proxy agent may have rewritten the path already (absolute-form): inject into what is sent.
    req.path = req.path === placedFor ? placement.path : placementFor(grant, req.path).path!;
  }
}

/**
 * Set the credential header, replacing the application's (any case: `setHeader` keys on the
 * lower-case name), and keep it: clients such as superagent set their headers only after
 * `request()` returned, and an application `Authorization` must not replace the credential.
 */
function ownHeader(req: ClientRequest, name: string, value: string): void {
  const lower = name.toLowerCase();
  const setHeader = req.setHeader as unknown as Method;
  const removeHeader = req.removeHeader as unknown as Method;
  Reflect.apply(setHeader, req, [name, value]);
  const own = req as unknown as Record<string, unknown>;
  own.setHeader = function (this: ClientRequest, ...args: unknown[]): unknown {
    if (typeof args[0] === 'string' && args[0].toLowerCase() === lower) return this;
    return Reflect.apply(setHeader, this, args);
  };
  own.removeHeader = function (this: ClientRequest, ...args: unknown[]): unknown {
    if (typeof args[0] === 'string' && args[0].toLowerCase() === lower) return undefined;
    return Reflect.apply(removeHeader, this, args);
  };
}

/**
 * The hot managed path: a cached header/basic/query credential, placed synchronously.
 * `retryable`: a first attempt, whose body is copied so that a 401 can be answered by a retry.
 */
function sendWithGrant(ctx: Context, patched: Patched, thisArg: unknown, call: Call, grant: Grant, retryable: boolean): ClientRequest | undefined {
  let placement: Placement;
  try {
    placement = placementFor(grant, call.target.path);
  } catch (error) {
    // Nothing exists yet: fail the request without opening a connection.
    return sendDeferred(ctx, patched, thisArg, call, { grant, error }, false);
  }
  const req = Reflect.apply(patched.originalRequest, thisArg, call.args);
  const flight = new Flight(ctx, req, call.target, retryable ? { patched, thisArg, call, body: new BodyCopy() } : undefined);
  flight.grant = grant;
  try {
    flight.hook();
    place(req, grant, placement, call.target.path);
    flight.recordBody();
  } catch (error) {
    // Created (maybe connecting) but nothing written: destroyed now, no byte leaves.
    warn(ctx, 'tessera: could not place a credential on a node:http request; it fails', error);
    flight.report(undefined, error);
    req.destroy(error as Error);
  }
  return req;
}

// ---------------------------------------------------------------------------------------------
// The deferred path

type Start = Grant | typeof MUST_WAIT | { grant: Grant; error: unknown };

/**
 * Creates the real `ClientRequest` with an agent wrapper that parks the connection, queues the
 * caller's writes, and asks the gate. `undefined` when the call cannot be prepared (then it is
 * sent untouched: nothing was changed yet).
 */
function sendDeferred(ctx: Context, patched: Patched, thisArg: unknown, call: Call, start: Start, retryable: boolean): ClientRequest | undefined {
  let prepared: Prepared | undefined;
  try {
    prepared = prepare(patched.module, call);
  } catch (error) {
    warn(ctx, 'tessera: node:http interception could not prepare a request; it is sent untouched', error);
  }
  if (prepared === undefined) return undefined;

  const replay = retryable ? { patched, thisArg, call, body: new BodyCopy() } : undefined;
  const held = new HeldRequest(ctx, call.target, prepared.expect, replay);
  const real = prepared.agent;
  // Inherits everything (protocol, defaultPort, keepAlive, proxy settings) from the real agent;
  // only the connection waits. ClientRequest calls addRequest in its constructor.
  const holding = Object.create(real) as AgentLike;
  holding.addRequest = (...agentArgs: unknown[]) => held.park(() => Reflect.apply(real.addRequest, real, agentArgs));

  const options = { ...call.options, ...prepared.overrides, agent: holding };
  const args: unknown[] = call.input === undefined ? [options] : [call.input, options];
  if (call.callback !== undefined) args.push(call.callback);
  let req: ClientRequest;
  try {
    req = Reflect.apply(patched.originalRequest, thisArg, args);
  } catch (error) {
    // Node refused the options (it would have with the caller's own too): same exception.
    if (start !== MUST_WAIT) report(ctx, 'grant' in start ? start.grant : start, call.target, undefined, error);
    throw error;
  }
  try {
    held.attach(req);
    held.start(start);
  } catch (error) {
    held.internal(error);
  }
  return req;
}

interface Prepared {
  agent: AgentLike;
  overrides: Record<string, unknown>;
  expect: [string, unknown] | undefined;
}

/**
 * The real agent, and the options that keep Node from rendering the headers in the constructor
 * (raw header arrays become the equivalent object; `Expect` is set right after construction).
 */
function prepare(module: HttpModule, call: Call): Prepared | undefined {
  const { merged } = call;
  const defaultAgent = (merged._defaultAgent || module.globalAgent) as AgentLike;
  const option = merged.agent;
  let agent: AgentLike;
  if (option === false) {
    // What Node does for `agent: false`: a one-off agent of the default agent's class.
    const Constructor = (defaultAgent as object).constructor as new () => AgentLike;
    agent = new Constructor();
  } else {
    agent = (option ?? defaultAgent) as AgentLike;
  }

  const overrides: Record<string, unknown> = {};
  let headers = merged.headers;
  if (Array.isArray(headers)) {
    const object = headersObject(headers);
    if (object === undefined) return undefined; // malformed: Node throws for it
    headers = object;
    overrides.headers = object;
    // What the array form means to Node: no automatic Host, no `auth`.
    overrides.setHost = false;
    overrides.auth = undefined;
  }
  let expect: [string, unknown] | undefined;
  if (headers !== null && typeof headers === 'object') {
    expect = expectHeader(headers as Record<string, unknown>);
    if (expect !== undefined) {
      const without = Object.create(null) as Record<string, unknown>;
      for (const key of Object.keys(headers)) if (key.toLowerCase() !== 'expect') without[key] = (headers as Record<string, unknown>)[key];
      overrides.headers = without;
    }
  }
  return { agent, overrides, expect };
}

/** `[k, v, k, v]` or `[[k, v], ...]` as an object: same names (first spelling), values in order. */
function headersObject(headers: unknown[]): Record<string, unknown> | undefined {
  const pairs = headers.length > 0 && Array.isArray(headers[0]);
  if (!pairs && headers.length % 2 !== 0) return undefined;
  const out = Object.create(null) as Record<string, unknown>;
  const spelling = new Map<string, string>();
  const count = pairs ? headers.length : headers.length / 2;
  for (let i = 0; i < count; i++) {
    const pair = pairs ? headers[i] : undefined;
    if (pairs && !Array.isArray(pair)) return undefined;
    const name: unknown = pairs ? (pair as unknown[])[0] : headers[2 * i];
    const value: unknown = pairs ? (pair as unknown[])[1] : headers[2 * i + 1];
    if (typeof name !== 'string') return undefined;
    const lower = name.toLowerCase();
    const key = spelling.get(lower) ?? name;
    spelling.set(lower, key);
    const existing = out[key];
    out[key] = existing === undefined ? value : [...toArray(existing), ...toArray(value)];
  }
  return out;
}

function toArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

type Held = 'write' | 'end' | 'flushHeaders' | 'destroy';
const HELD: readonly Held[] = ['write', 'end', 'flushHeaders', 'destroy'];

type State = 'waiting' | 'collecting' | 'signing' | 'released' | 'closed';

/**
 * A request created but not yet connected: its writes are queued (in order, with encodings and
 * callbacks) until the credential is placed; then the queue is replayed and the parked
 * `agent.addRequest` runs. `collecting` waits for the whole body of a SigV4 request.
 */
class HeldRequest {
  readonly #ctx: Context;
  readonly #target: OutgoingRequest;
  readonly #expect: [string, unknown] | undefined;
  readonly #replay: Replay | undefined;
  #req!: ClientRequest;
  #flight!: Flight;
  #state: State = 'waiting';
  /** `taken`: a write whose chunk was copied and whose callback was called (#takeWrites). */
  readonly #queue: Array<{ op: Exclude<Held, 'destroy'>; args: unknown[]; taken?: boolean }> = [];
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
  #originals!: Record<Held, Method>;
  #wrappers!: Record<Held, Method>;

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
    const own = req as unknown as Record<string, Method>;
    this.#originals = { write: own.write!, end: own.end!, flushHeaders: own.flushHeaders!, destroy: own.destroy! };
    const self = this;
    this.#wrappers = {
      write: function write(...args: unknown[]) {
        return self.#write(args);
      },
      end: function end(...args: unknown[]) {
        return self.#end(args);
      },
      flushHeaders: function flushHeaders(...args: unknown[]) {
        return self.#flushHeaders(args);
      },
      destroy: function destroy(...args: unknown[]) {
        return self.#destroy(args);
      },
    };
    for (const name of HELD) own[name] = this.#wrappers[name];
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
      ).catch((error: unknown) => this.#internal(error));
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

  #write(args: unknown[]): unknown {
    if (this.#state === 'released' || this.#state === 'closed') return Reflect.apply(this.#originals.write, this.#req, args);
    const chunk = args[0];
    // Node throws for these before rendering anything: let it, synchronously, as usual.
    if (typeof chunk !== 'string' && !types.isUint8Array(chunk)) return Reflect.apply(this.#originals.write, this.#req, args);
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
    if (this.#state === 'released' || this.#state === 'closed') return Reflect.apply(this.#originals.end, this.#req, args);
    const chunk = typeof args[0] === 'function' ? undefined : args[0];
    if (chunk && typeof chunk !== 'string' && !types.isUint8Array(chunk)) return Reflect.apply(this.#originals.end, this.#req, args);
    this.#queue.push({ op: 'end', args });
    if (!this.#ended) {
      this.#ended = true;
      if (chunk) {
        this.#bodyEntries = this.#queue.length;
        this.#bodyBytes += byteLength(chunk as string | Uint8Array, args[1]);
      }
    }
    this.#signWhenReady();
    return this.#req;
  }

  #flushHeaders(args: unknown[]): unknown {
    if (this.#state === 'released' || this.#state === 'closed') return Reflect.apply(this.#originals.flushHeaders, this.#req, args);
    this.#queue.push({ op: 'flushHeaders', args });
    this.#flushRequested = true;
    this.#signWhenReady();
    return undefined;
  }

  /** The caller's destroy()/abort() (an AbortSignal too) while the decision is pending. */
  #destroy(args: unknown[]): unknown {
    if (this.#state === 'released' || this.#state === 'closed') return Reflect.apply(this.#originals.destroy, this.#req, args);
    this.#close();
    const result = Reflect.apply(this.#originals.destroy, this.#req, args);
    // What an agent does for a request it never connected: 'error' (if any) and 'close' follow.
    this.#req.onSocket(null as never);
    return result;
  }

  /** SigV4 signs once the body is known: at end(), or streamed when it cannot be waited for. */
  #signWhenReady(): void {
    if (this.#state !== 'collecting') return;
    // With Expect the caller waits for '100 Continue' before writing; flushHeaders wants them out.
    const cannotWait = this.#bodyBytes > MAX_SIGNED_BODY || this.#flushRequested || this.#expect !== undefined;
    if (this.#ended || cannotWait) {
      this.#sign(!this.#ended).catch((error: unknown) => this.#internal(error));
    }
  }

  async #sign(streamed: boolean): Promise<void> {
    this.#state = 'signing';
    const grant = this.#flight.grant!;
    const injection = grant.issued.injection;
    const req = this.#req;
    try {
      if (injection.kind !== 'aws-sigv4') throw new TypeError('not a SigV4 grant');
      const signed = await signAwsSigv4(
        {
          method: req.method,
          scheme: this.#target.scheme === 'https' ? 'https' : 'http',
          host: this.#target.host,
          port: this.#target.port,
          path: originPath(req.path),
          headers: toHeaderRecord(req.getHeaders() as HeaderObject),
          body: streamed ? STREAMED_BODY : this.#body(),
        },
        grant.issued.credential,
        injection,
      );
      if (this.#state !== 'signing') return; // the caller destroyed it meanwhile
      // The signer returns the complete header set: what it left out (an old signature) goes.
      for (const name of req.getHeaderNames()) if (!Object.hasOwn(signed, name)) req.removeHeader(name);
      for (const name of Object.keys(signed)) req.setHeader(name, signed[name]!);
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#release();
  }

  /** The queued body, as one buffer (`undefined` when there is none). */
  #body(): Uint8Array | undefined {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < this.#bodyEntries; i++) {
      const { op, args } = this.#queue[i]!;
      if (op === 'flushHeaders') continue;
      const chunk = args[0];
      if (typeof chunk === 'string') parts.push(Buffer.from(chunk, encodingOf(args[1])));
      else if (types.isUint8Array(chunk)) parts.push(chunk);
    }
    return parts.length === 0 ? undefined : Buffer.concat(parts);
  }

  /** Replay the caller's calls on the real request, then let the agent connect. */
  #release(): void {
    const req = this.#req;
    this.#state = 'released';
    this.#restore();
    try {
      for (const { op, args } of this.#queue) Reflect.apply(this.#originals[op], req, args);
      this.#queue.length = 0;
      // Node flushes the headers of an Expect request at once, so the server can send 100.
      if (this.#expect !== undefined && !req.headersSent && !req.destroyed) Reflect.apply(this.#originals.flushHeaders, req, []);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (req.destroyed) {
      // Destroyed without our wrapper (ClientRequest.prototype.destroy.call): end it unconnected.
      this.#close();
      req.onSocket(null as never);
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
      if (!connected) this.#req.onSocket(null as never);
    } catch (secondary) {
      warn(this.#ctx, 'tessera: could not fail a node:http request', secondary);
    }
  }

  /** An exception in this module's own code: the request fails, the process carries on. */
  internal(error: unknown): void {
    this.#internal(error);
  }

  #internal(error: unknown): void {
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
    const own = this.#req as unknown as Record<string, unknown>;
    if (this.#wrappers === undefined) return;
    for (const name of HELD) if (own[name] === this.#wrappers[name]) delete own[name];
  }
}

function byteLength(chunk: string | Uint8Array, encoding: unknown): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk, encodingOf(encoding)) : chunk.byteLength;
}

function encodingOf(encoding: unknown): BufferEncoding {
  return typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8';
}

/** The origin-form path a proxy agent's absolute-form request line stands for. */
function originPath(path: string): string {
  if (path.charCodeAt(0) === 47 /* / */) return path;
  const url = URL.parse(path);
  return url === null ? path : `${url.pathname}${url.search}`;
}

// ---------------------------------------------------------------------------------------------
// Outcome reporting

/**
 * Reports a granted request's outcome to the gate from the events the caller sees, and answers
 * a 401 with one retry when the body is known. `emit` is wrapped rather than listened to: a
 * 'response' listener of ours would keep Node from dumping a response nobody reads.
 */
class Flight {
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
    const emit = this.#req.emit as unknown as Method;
    this.#emit = emit;
    const self = this;
    (this.#req as unknown as Record<string, unknown>).emit = function (this: ClientRequest, ...args: unknown[]): unknown {
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
        const status = (first as IncomingMessage).statusCode;
        if (status === 401) {
          // The target refused this credential: the next admit asks for a new one.
          this.#ctx.gate.rejected(this.grant!);
          if (event === 'response') swallowed = this.#retryAfter401(first as IncomingMessage);
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

/** What sending a request again takes: the original function, the caller's call, its body. */
interface Replay {
  patched: Patched;
  thisArg: unknown;
  call: Call;
  body: BodyCopy;
}

/**
 * A copy of the body the caller writes on a managed request, up to MAX_REPLAYED_BODY; beyond
 * it (or for a chunk it cannot read) the copy is dropped and the request cannot be retried.
 */
class BodyCopy {
  #chunks: Buffer[] | undefined = [];
  #size = 0;
  #ended = false;

  /** Wraps the request's `write`/`end` (own properties, above whatever is there now). */
  attach(req: ClientRequest): void {
    const own = req as unknown as Record<string, unknown>;
    const nextWrite = req.write as unknown as Method;
    const nextEnd = req.end as unknown as Method;
    const self = this;
    own.write = function write(this: ClientRequest, ...args: unknown[]): unknown {
      const result = Reflect.apply(nextWrite, this, args); // throws for what Node refuses: not copied
      if (!self.#ended) self.#add(args[0], args[1]);
      return result;
    };
    own.end = function end(this: ClientRequest, ...args: unknown[]): unknown {
      const result = Reflect.apply(nextEnd, this, args);
      if (!self.#ended) {
        if (args[0] && typeof args[0] !== 'function') self.#add(args[0], args[1]);
        self.#ended = true;
      }
      return result;
    };
  }

  /** The caller ended the request and the copy holds all of it. */
  complete(): boolean {
    return this.#ended && this.#chunks !== undefined;
  }

  /** The body (`undefined` when there is none). */
  bytes(): Buffer | undefined {
    return this.#chunks === undefined || this.#chunks.length === 0 ? undefined : Buffer.concat(this.#chunks);
  }

  release(): void {
    this.#chunks = undefined;
  }

  #add(chunk: unknown, encoding: unknown): void {
    if (this.#chunks === undefined) return;
    try {
      if (typeof chunk !== 'string' && !types.isUint8Array(chunk)) throw new TypeError('unknown chunk');
      this.#size += byteLength(chunk, encoding);
      if (this.#size > MAX_REPLAYED_BODY) throw new RangeError('body too large to replay');
      // A copy: the caller may reuse its buffer once written.
      this.#chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encodingOf(encoding)) : Buffer.from(chunk));
    } catch {
      this.release();
    }
  }
}

type RetryState = 'draining' | 'admitting' | 'sending' | 'done';

/**
 * The one retry after a 401. The caller keeps its request object: the 401 is drained, and the
 * new request's 'response', 'error', 'timeout', 'upgrade' and 'close' are emitted on it. Until
 * then the caller's request reads as not destroyed (clients such as axios ignore a response on
 * a destroyed request) and its `destroy()`/`abort()` destroy the retry.
 */
class Retry {
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
    const own = req as unknown as Record<string, unknown>;
    const self = this;
    // Node marks the request destroyed once the 401 is read; that write is ignored meanwhile.
    this.#destroyedGetter = () => self.#destroyed;
    Object.defineProperty(req, 'destroyed', { configurable: true, enumerable: true, get: this.#destroyedGetter, set: () => {} });
    this.#ownDestroy = Object.getOwnPropertyDescriptor(req, 'destroy');
    const destroy = req.destroy as unknown as Method;
    this.#destroyWrapper = function destroyWhileRetrying(this: ClientRequest, ...args: unknown[]): unknown {
      if (self.#state === 'done') return Reflect.apply(destroy, this, args);
      self.#abort(args[0]);
      return this;
    };
    own.destroy = this.#destroyWrapper;

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
    const { patched, thisArg } = this.#replay;
    const req = this.#req;
    this.#state = 'sending';
    let retry: ClientRequest | undefined;
    try {
      const call = replayCall(this.#replay.call, req, this.#rejected);
      if (grant === undefined) {
        // No longer managed (or fail-open without the cloud): sent without a credential.
        retry = Reflect.apply(patched.originalRequest, thisArg, call.args);
      } else if (placeableAtOnce(grant, call)) {
        retry = sendWithGrant(this.#ctx, patched, thisArg, call, grant, false);
      } else {
        retry = sendDeferred(this.#ctx, patched, thisArg, call, grant, false);
      }
      if (retry === undefined) throw new Error('tessera: the request could not be prepared again');
    } catch (error) {
      // Reported to the gate where a grant was involved (sendDeferred); the caller gets it.
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
      const timeout = (req as unknown as { timeout?: unknown }).timeout;
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
    const own = req as unknown as Record<string, unknown>;
    if (this.#destroyedGetter !== undefined && Object.getOwnPropertyDescriptor(req, 'destroyed')?.get === this.#destroyedGetter) {
      const destroyed = this.#destroyed;
      delete own.destroyed;
      own.destroyed = destroyed;
    }
    if (this.#destroyWrapper !== undefined && own.destroy === this.#destroyWrapper) {
      if (this.#ownDestroy === undefined) delete own.destroy;
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
  const args: unknown[] = call.input === undefined ? [options] : [call.input, options];
  return { target: call.target, args, input: call.input, options, callback: undefined, merged: { ...call.merged, headers } };
}

function report(ctx: Context, grant: Grant, target: OutgoingRequest, statusCode: number | undefined, error?: unknown): void {
  try {
    if (statusCode !== undefined) ctx.gate.finished(grant, target, statusCode);
    else ctx.gate.finished(grant, target, undefined, error);
  } catch (failure) {
    warn(ctx, 'tessera: gate.finished threw', failure);
  }
}

function closedError(): Error {
  return new Error('the request was closed before a response arrived');
}

function warn(ctx: Context, message: string, error: unknown): void {
  warnSafely(ctx.logger, message, error);
}
