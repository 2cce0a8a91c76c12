import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';

/**
 * Deepest nesting of arrays and objects a request body may have. The deepest body the API
 * takes (a provider config with inline keys) nests fewer than ten levels.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Whether `text` nests arrays and objects deeper than `max`; brackets inside strings do not count. */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    switch (text.charCodeAt(i)) {
      case QUOTE:
        // Skip the string: to its closing quote, past escaped characters.
        for (i += 1; i < text.length; i += 1) {
          const c = text.charCodeAt(i);
          if (c === BACKSLASH) i += 1;
          else if (c === QUOTE) break;
        }
        break;
      case 0x5b: // [
      case 0x7b: // {
        if (++depth > max) return true;
        break;
      case 0x5d: // ]
      case 0x7d: // }
        depth -= 1;
        break;
    }
  }
  return false;
}

/** Refuses bytes that are not UTF-8 instead of replacing them with U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON bodies go through Fastify's own parser (its prototype-poisoning checks included), after a
 * scan that refuses nesting deeper than MAX_JSON_DEPTH with 400 `json_too_deep`. JSON.parse takes
 * a 200,000-deep array in its stride; whatever walks the result next (schema validation, the
 * well-formedness check, a provider's config) would overflow the stack and answer 500.
 *
 * The bytes are decoded strictly: a body that is not UTF-8 (RFC 8259) is `invalid_json`, rather
 * than a string stored with replacement characters where the sender's bytes were.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    let body: string;
    try {
      body = utf8.decode(raw as Buffer); // parseAs: 'buffer'
    } catch {
      done(new ApiError('invalid_json', 'The request body is not valid UTF-8'), undefined);
      return;
    }
    if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
      done(new ApiError('json_too_deep', `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`), undefined);
      return;
    }
    parse(request, body, done);
  });
}
