import type { OutgoingRequest } from '../../runtime/gate.js';
import type { AgentLike, HttpModule } from './context.js';

/** The options fields the interceptor reads, as Node merges them (URL fields, then options). */
export interface OptionsView {
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

/** A call to `request`/`get` the interceptor understood: `(url)`, `(url, options)`, `(options)`, each with an optional callback. */
export interface Call {
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
 * What the request targets, read the way `ClientRequest` reads its options. `undefined` for
 * anything the interceptor leaves to Node: UNIX sockets, custom `createConnection`, CONNECT,
 * absolute-form paths, values Node would reject. Objects avoid a URL parse (the hot path).
 */
export function describeCall(module: HttpModule, args: unknown[]): Call | undefined {
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
    merged = first;
    callback = args[1];
  } else {
    return undefined;
  }

  if (merged.socketPath || typeof merged.createConnection === 'function') return undefined;
  const agent = merged.agent;
  const defaultAgent = defaultAgentOf(module, merged);
  let portAgent: AgentLike | undefined;
  if (agent === undefined || agent === null) {
    portAgent = defaultAgent;
  } else if (agent !== false) {
    if (!isAgent(agent)) return undefined;
    portAgent = agent;
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

/** The agent Node uses when the options name none: `_defaultAgent` (https sets it), else the module's. */
export function defaultAgentOf(module: HttpModule, merged: OptionsView): AgentLike {
  // As Node reads it (a truthy value is taken as an agent).
  return (merged._defaultAgent || module.globalAgent) as AgentLike;
}

export function isAgent(value: unknown): value is AgentLike {
  return typeof value === 'object' && value !== null && typeof (value as Partial<AgentLike>).addRequest === 'function';
}

/** The call's arguments again, with `options` in place of the caller's options. */
export function argsWith(call: Call, options: object, callback?: unknown): unknown[] {
  const args: unknown[] = call.input === undefined ? [options] : [call.input, options];
  if (callback !== undefined) args.push(callback);
  return args;
}

/** Node's test for a URL object (`isURL`), for URL instances of another realm. */
function isForeignUrl(value: object): boolean {
  const candidate = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown };
  return Boolean(candidate.href && candidate.protocol && candidate.auth === undefined && candidate.path === undefined);
}
