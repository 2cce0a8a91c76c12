import type { ClientRequest } from 'node:http';
import { MUST_WAIT, type Grant } from '../../runtime/gate.js';
import type { CredentialPlacement } from '../credential-placement.js';
import { argsWith, defaultAgentOf, type Call } from './arguments.js';
import { BodyCopy } from './body-copy.js';
import { report, warn, type AgentLike, type Context, type HttpModule, type Patched } from './context.js';
import { Flight, type Replay } from './flight.js';
import { HeldRequest, type Start } from './held-request.js';
import { expectHeader, place, placeableAtOnce, placementFor } from './placement.js';

/**
 * Sends a managed call: at once with a cached credential where it can be placed on the created
 * request, else held until it is placed. `retryable`: a first attempt, whose body is copied so
 * that a 401 can be answered by a retry. `undefined` when the call cannot be prepared (then it
 * is to be sent untouched: nothing was changed yet).
 */
export function send(ctx: Context, patched: Patched, thisArg: unknown, call: Call, decision: Grant | typeof MUST_WAIT, atOnce: boolean, retryable: boolean): ClientRequest | undefined {
  return atOnce && decision !== MUST_WAIT ? sendWithGrant(ctx, patched, thisArg, call, decision, retryable) : sendDeferred(ctx, patched, thisArg, call, decision, retryable);
}

function replayOf(ctx: Context, patched: Patched, thisArg: unknown, call: Call): Replay {
  return {
    call,
    body: new BodyCopy(),
    send: (again, grant) =>
      grant === undefined
        ? Reflect.apply(patched.originalRequest, thisArg, again.args)
        : send(ctx, patched, thisArg, again, grant, placeableAtOnce(grant, again), false),
  };
}

/** The hot managed path: a cached header/basic/query credential, placed synchronously. */
function sendWithGrant(ctx: Context, patched: Patched, thisArg: unknown, call: Call, grant: Grant, retryable: boolean): ClientRequest | undefined {
  let placement: CredentialPlacement;
  try {
    placement = placementFor(grant, call.target.path);
  } catch (error) {
    // Nothing exists yet: fail the request without opening a connection.
    return sendDeferred(ctx, patched, thisArg, call, { grant, error }, false);
  }
  const req = Reflect.apply(patched.originalRequest, thisArg, call.args);
  const flight = new Flight(ctx, req, call.target, retryable ? replayOf(ctx, patched, thisArg, call) : undefined);
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

/**
 * Creates the real `ClientRequest` with an agent wrapper that parks the connection, queues the
 * caller's writes, and asks the gate.
 */
function sendDeferred(ctx: Context, patched: Patched, thisArg: unknown, call: Call, start: Start, retryable: boolean): ClientRequest | undefined {
  let prepared: Prepared | undefined;
  try {
    prepared = prepare(patched.module, call);
  } catch (error) {
    warn(ctx, 'tessera: node:http interception could not prepare a request; it is sent untouched', error);
  }
  if (prepared === undefined) return undefined;

  const held = new HeldRequest(ctx, call.target, prepared.expect, retryable ? replayOf(ctx, patched, thisArg, call) : undefined);
  const real = prepared.agent;
  // Inherits everything (protocol, defaultPort, keepAlive, proxy settings) from the real agent;
  // only the connection waits. ClientRequest calls addRequest in its constructor.
  const holding: AgentLike = Object.create(real);
  holding.addRequest = (...agentArgs: Parameters<AgentLike['addRequest']>) => held.park(() => real.addRequest(...agentArgs));

  const options = { ...call.options, ...prepared.overrides, agent: holding };
  let req: ClientRequest;
  try {
    req = Reflect.apply(patched.originalRequest, thisArg, argsWith(call, options, call.callback));
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
  const defaultAgent = defaultAgentOf(module, merged);
  const option = merged.agent;
  let agent: AgentLike;
  if (option === false) {
    // What Node does for `agent: false`: a one-off agent of the default agent's class.
    const Constructor = defaultAgent.constructor as new () => AgentLike;
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
    const record = headers as Record<string, unknown>;
    expect = expectHeader(record);
    if (expect !== undefined) {
      const without = Object.create(null) as Record<string, unknown>;
      for (const key of Object.keys(record)) if (key.toLowerCase() !== 'expect') without[key] = record[key];
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
