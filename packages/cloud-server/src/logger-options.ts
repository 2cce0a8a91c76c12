import type { FastifyRequest, FastifyServerOptions } from 'fastify';
import type { ServerConfig } from './config.js';

/** Where log lines are written: anything with `write(line)`. */
export interface LogStream {
  write(line: string): void;
}

/**
 * Query parameters of the control plane's own routes, none of which carries a credential: their
 * values are logged. Every other parameter's value is logged as `[redacted]`: a client may put a
 * credential in any of them (`?access_token=`, `?key=`, `?sig=` ...), and a list of dangerous
 * names is never complete.
 */
const LOGGED_PARAMETERS = new Set([
  'name',
  'resourceSetId',
  'cursor',
  'limit',
  'since',
  'until',
  'kind',
  'outcome',
  'actor',
  'clientWorkloadId',
  'serverWorkloadId',
  'objectId',
]);

/** An admin key (`tsk_...`) or a compact JWS (edge token, workload JWT) anywhere in a URL. */
const CREDENTIAL = /tsk_|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\./i;
const REDACTED = '[redacted]';

function decoded(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

/** A URL as it may be logged: path and parameter names kept, anything credential-like replaced. */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?');
  const path = mark < 0 ? url : url.slice(0, mark);
  const shownPath = path
    .split('/')
    .map((segment) => (CREDENTIAL.test(decoded(segment)) ? REDACTED : segment))
    .join('/');
  if (mark < 0) return shownPath;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals < 0 ? pair : pair.slice(0, equals);
      if (CREDENTIAL.test(decoded(name))) return REDACTED;
      if (equals < 0) return pair;
      const value = pair.slice(equals + 1);
      const shown = LOGGED_PARAMETERS.has(name) && !CREDENTIAL.test(decoded(value));
      return `${name}=${shown ? value : REDACTED}`;
    });
  return `${shownPath}?${query.join('&')}`;
}

/**
 * The control plane's logger: JSON lines to `stream`. A request is logged by method, redacted
 * URL, host and client address; never by its headers or body.
 */
export function loggerOptions(level: ServerConfig['logLevel'], stream: LogStream): FastifyServerOptions['logger'] {
  return {
    level,
    stream,
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: redactUrl(request.url),
        host: request.host,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort,
      }),
    },
    // Should a log line ever include headers, these never appear in it.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers.dpop', 'req.headers["x-api-key"]'], censor: REDACTED },
  };
}
