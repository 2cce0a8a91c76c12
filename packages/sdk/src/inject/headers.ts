import type { FlatHeaders, HeaderObject, HeaderPairs, HeadersInput } from './types.js';

/**
 * Set one header, replacing every header of the same name whatever its case, and return the
 * headers in the representation they came in: plain object, undici's flat array, `Headers`,
 * `Map`, or another iterable of pairs. The input is not modified. Absent headers become a
 * plain object. Replacing (never appending) matters: a second `Authorization` sent beside the
 * application's own is read differently by different servers.
 */
export function replaceHeader<H extends HeadersInput>(headers: H | null | undefined, name: string, value: string): H {
  const lower = name.toLowerCase();
  // The casts below return exactly the representation H that was passed in.
  if (headers === null || headers === undefined) return { [name]: value } as HeaderObject as H;
  if (Array.isArray(headers)) {
    const out = replaceFlatHeaderInPlace([...(headers as FlatHeaders)], name, value);
    return out as H;
  }
  if (isHeadersClass(headers)) {
    // Same class as the input (Node's built-in or npm undici's); `set` already ignores case.
    const Class = headers.constructor as new (init: Headers) => Headers;
    const out = new Class(headers);
    out.set(name, value);
    return out as unknown as H;
  }
  if (headers instanceof Map) {
    const out = new Map<string, unknown>();
    for (const [key, existing] of headers as Map<string, unknown>) if (key.toLowerCase() !== lower) out.set(key, existing);
    out.set(name, value);
    return out as unknown as H;
  }
  if (isIterable(headers)) {
    const pairs: Array<readonly [string, string | string[]]> = [];
    for (const pair of headers as HeaderPairs) if (pair[0].toLowerCase() !== lower) pairs.push(pair);
    pairs.push([name, value]);
    // Not an array: undici reads an array as the flat form, so an array of pairs would be refused.
    return { [Symbol.iterator]: () => pairs[Symbol.iterator]() } as HeaderPairs as H;
  }
  // Every managed request passes here (fetch's headers are an object): no intermediate arrays.
  const source = headers as HeaderObject;
  const out: HeaderObject = {};
  for (const key of Object.keys(source)) if (key.toLowerCase() !== lower) defineHeader(out, key, source[key]);
  defineHeader(out, name, value);
  return out as H;
}

/**
 * The same on undici's flat array, edited in place, for `diagnostics_channel` subscribers that
 * must change `request.headers` itself (`request.addHeader` would append a duplicate).
 */
export function replaceFlatHeaderInPlace<A extends unknown[]>(headers: A, name: string, value: string): A {
  const lower = name.toLowerCase();
  let write = 0;
  for (let read = 0; read + 1 < headers.length; read += 2) {
    if (String(headers[read]).toLowerCase() === lower) continue;
    headers[write] = headers[read];
    headers[write + 1] = headers[read + 1];
    write += 2;
  }
  headers.length = write;
  headers.push(name, value);
  return headers;
}

/** An own property even for `__proto__`, which plain assignment would take as the prototype. */
function defineHeader(headers: HeaderObject, name: string, value: HeaderObject[string]): void {
  if (name === '__proto__') Object.defineProperty(headers, name, { value, writable: true, enumerable: true, configurable: true });
  else headers[name] = value;
}

function isHeadersClass(value: object): value is Headers {
  return Object.prototype.toString.call(value) === '[object Headers]';
}

function isIterable(value: object): value is HeaderPairs {
  return typeof (value as Partial<HeaderPairs>)[Symbol.iterator] === 'function';
}
