import type { HeadersInput } from '../inject/types.js';

/**
 * Any header representation (plain object, undici's flat array, `Headers`, iterable of pairs)
 * as one record with lower-case names, repeated headers joined with `, ` — the form SigV4
 * signing reads. `undefined` values are skipped.
 */
export function toHeaderRecord(headers: HeadersInput | null | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  const add = (name: unknown, value: unknown) => {
    if (value === undefined || value === null) return;
    const key = String(name).toLowerCase();
    const text = Array.isArray(value) ? value.map(String).join(', ') : String(value);
    out[key] = key in out ? `${out[key]}, ${text}` : text;
  };
  if (headers === null || headers === undefined) return out;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i], headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<readonly [string, unknown]>) add(name, value);
  } else {
    for (const name of Object.keys(headers)) add(name, (headers as Record<string, unknown>)[name]);
  }
  return out;
}
