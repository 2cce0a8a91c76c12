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

/**
 * JSON bodies go through Fastify's own parser (its prototype-poisoning checks included), after a
 * scan that refuses nesting deeper than MAX_JSON_DEPTH with 400 `json_too_deep`. JSON.parse takes
 * a 200,000-deep array in its stride; whatever walks the result next (schema validation, the
 * well-formedness check, a provider's config) would overflow the stack and answer 500.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
    const body = raw as string; // parseAs: 'string'
    if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
      done(new ApiError('json_too_deep', `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`), undefined);
      return;
    }
    parse(request, body, done);
  });
}
