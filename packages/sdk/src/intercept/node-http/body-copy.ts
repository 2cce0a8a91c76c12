import type { ClientRequest } from 'node:http';
import { types } from 'node:util';
import { holdsForReplay } from '../body-limits.js';
import { own } from './context.js';

/**
 * A copy of the body the caller writes on a managed request, up to the replay limit (body-limits.ts); beyond
 * it (or for a chunk it cannot read) the copy is dropped and the request cannot be retried.
 */
export class BodyCopy {
  #chunks: Buffer[] | undefined = [];
  #size = 0;
  #ended = false;

  /** Wraps the request's `write`/`end` (own properties, above whatever is there now). */
  attach(req: ClientRequest): void {
    const props = own(req);
    const nextWrite = own(req).write;
    const nextEnd = own(req).end;
    const self = this;
    props.write = function write(this: ClientRequest, ...args: unknown[]): unknown {
      const result = Reflect.apply(nextWrite, this, args); // throws for what Node refuses: not copied
      if (!self.#ended) self.#add(args[0], args[1]);
      return result;
    };
    props.end = function end(this: ClientRequest, ...args: unknown[]): unknown {
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
      if (!isChunk(chunk)) throw new TypeError('unknown chunk');
      this.#size += byteLength(chunk, encoding);
      if (!holdsForReplay(this.#size)) throw new RangeError('body too large to replay');
      // A copy: the caller may reuse its buffer once written.
      this.#chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encodingOf(encoding)) : Buffer.from(chunk));
    } catch {
      this.release();
    }
  }
}

/** What `write`/`end` accept as a chunk (anything else, Node refuses). */
export function isChunk(chunk: unknown): chunk is string | Uint8Array {
  return typeof chunk === 'string' || types.isUint8Array(chunk);
}

export function byteLength(chunk: string | Uint8Array, encoding: unknown): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk, encodingOf(encoding)) : chunk.byteLength;
}

export function encodingOf(encoding: unknown): BufferEncoding {
  return typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8';
}
