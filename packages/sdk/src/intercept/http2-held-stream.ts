import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/** Events of a `ClientHttp2Stream` handed on as they come (data, end, error and close have their own handling). */
const FORWARDED = ['response', 'headers', 'continue', 'push', 'trailers', 'wantTrailers', 'ready', 'timeout', 'aborted', 'frameError'] as const;

type Callback = (error?: Error | null) => void;

/**
 * What `session.request()` returns for a managed request whose credential cannot be placed at
 * once: a stand-in with the `ClientHttp2Stream` surface HTTP/2 clients use (gRPC's among them).
 * No frame leaves until `release()` creates the real stream — with the credential in its
 * headers — and joins the two: writes made meanwhile wait in this stream's writable buffer
 * (`write()` returns `false` past its high-water mark, `'drain'` follows), the real stream's
 * data and events come out of this one. `fail(error)` ends it as Node ends a stream destroyed
 * with an error ('error', then 'close', `rstCode` NGHTTP2_INTERNAL_ERROR) with nothing sent.
 */
export class HeldStream extends Duplex {
  readonly session: ClientHttp2Session;
  #real: ClientHttp2Stream | undefined;
  #rstCode: number | undefined;
  /** The one write (or the end) that waits for the real stream; the rest wait in our buffer. */
  #pendingWrite: { chunk: unknown; encoding: BufferEncoding; callback: Callback } | undefined;
  #pendingFinal: Callback | undefined;
  #timeoutMs: number | undefined;
  #realEnded = false;

  constructor(session: ClientHttp2Session, endStream: boolean) {
    // As Node's Http2Stream: each side ends on its own, strings are handed on as they are.
    super({ allowHalfOpen: true, decodeStrings: false });
    this.session = session;
    if (endStream) this.end();
  }

  /** Sends the request (`create` makes the real stream) unless the caller gave up meanwhile. */
  release(create: () => ClientHttp2Stream): void {
    if (this.destroyed) return;
    let real: ClientHttp2Stream;
    try {
      real = create();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.#attach(real);
  }

  fail(error: unknown): void {
    if (this.destroyed) return;
    this.#rstCode = NGHTTP2_INTERNAL_ERROR;
    this.destroy(error instanceof Error ? error : new Error(String(error)));
  }

  /** The real stream, once sent: for the interceptor's outcome reporting. */
  get real(): ClientHttp2Stream | undefined {
    return this.#real;
  }

  #attach(real: ClientHttp2Stream): void {
    this.#real = real;
    for (const event of FORWARDED) real.on(event, (...args: unknown[]) => this.emit(event, ...args));
    real.on('data', (chunk: Buffer | string) => {
      if (!this.push(chunk)) real.pause();
    });
    real.on('end', () => {
      this.#realEnded = true;
      this.push(null);
      this.read(0); // as Node does: 'end' comes once the buffer is read, even when paused
    });
    real.on('error', (error: Error) => this.destroy(error));
    real.on('close', () => this.#realClosed());
    if (this.#timeoutMs !== undefined) real.setTimeout(this.#timeoutMs);
    const write = this.#pendingWrite;
    this.#pendingWrite = undefined;
    if (write !== undefined) this._write(write.chunk, write.encoding, write.callback);
    const final = this.#pendingFinal;
    this.#pendingFinal = undefined;
    if (final !== undefined) this._final(final);
  }

  /** Closed cleanly after its end: ours closes once our reader saw the end too; else at once. */
  #realClosed(): void {
    if (this.destroyed) return;
    if (this.#real!.rstCode !== NGHTTP2_NO_ERROR || !this.#realEnded) {
      this.destroy();
    } else if (this.readableEnded) {
      this.destroy();
    } else {
      this.once('end', () => this.destroy());
    }
  }

  override _write(chunk: unknown, encoding: BufferEncoding, callback: Callback): void {
    const real = this.#real;
    if (real === undefined) {
      this.#pendingWrite = { chunk, encoding, callback };
      return;
    }
    if (real.write(chunk, encoding)) callback();
    else real.once('drain', () => callback());
  }

  override _final(callback: Callback): void {
    const real = this.#real;
    if (real === undefined) {
      this.#pendingFinal = callback;
      return;
    }
    // With `endStream` (the default for GET, HEAD, DELETE) Node has ended the real one already.
    if (real.writableFinished) callback();
    else if (real.writableEnded) real.once('finish', () => callback());
    else real.end(() => callback());
  }

  override _read(): void {
    this.#real?.resume();
  }

  override _destroy(error: Error | null, callback: Callback): void {
    const real = this.#real;
    if (real !== undefined && !real.destroyed) real.destroy(error ?? undefined);
    // Nothing was sent: whatever waited for the real stream is dropped with the stream.
    this.#pendingWrite = undefined;
    this.#pendingFinal = undefined;
    callback(error);
  }

  // ---- the ClientHttp2Stream surface ---------------------------------------------------------

  close(code: number = NGHTTP2_NO_ERROR, callback?: () => void): void {
    if (this.#real !== undefined) {
      this.#real.close(code, callback);
      return;
    }
    if (typeof callback === 'function') this.once('close', callback);
    if (this.destroyed) return;
    this.#rstCode = code;
    this.destroy();
  }

  setTimeout(msecs: number, callback?: () => void): this {
    if (typeof callback === 'function') this.once('timeout', callback); // the real stream's 'timeout' comes out here
    if (this.#real !== undefined) this.#real.setTimeout(msecs);
    else this.#timeoutMs = msecs; // runs once the request is sent, as in Node's queue
    return this;
  }

  sendTrailers(headers: http2.OutgoingHttpHeaders): void {
    if (this.#real === undefined) throw Object.assign(new Error('Trailers are not ready to be sent'), { code: 'ERR_HTTP2_TRAILERS_NOT_READY' });
    this.#real.sendTrailers(headers);
  }

  priority(options: Parameters<ClientHttp2Stream['priority']>[0]): void {
    this.#real?.priority(options);
  }

  get rstCode(): number | undefined {
    return this.#real?.rstCode ?? this.#rstCode;
  }

  get id(): number | undefined {
    return this.#real?.id;
  }

  get pending(): boolean {
    return this.#real === undefined ? !this.destroyed : this.#real.pending;
  }

  get aborted(): boolean {
    return this.#real?.aborted ?? false;
  }

  get endAfterHeaders(): boolean {
    return this.#real?.endAfterHeaders ?? false;
  }

  get bufferSize(): number {
    return (this.#real?.bufferSize ?? 0) + this.writableLength;
  }

  get state(): http2.StreamState {
    return this.#real?.state ?? {};
  }

  get sentHeaders(): http2.OutgoingHttpHeaders | undefined {
    return this.#real?.sentHeaders;
  }

  get sentInfoHeaders(): http2.OutgoingHttpHeaders[] | undefined {
    return this.#real?.sentInfoHeaders;
  }

  get sentTrailers(): http2.OutgoingHttpHeaders | undefined {
    return this.#real?.sentTrailers;
  }
}
