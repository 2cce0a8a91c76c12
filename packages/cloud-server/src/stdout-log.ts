import { write } from 'node:fs';

/**
 * Where the server's output goes (its log lines and start-up banner): a file descriptor,
 * stdout by default, written without ever letting it hold the process.
 *
 * Writes are asynchronous and one at a time; what waits is buffered up to a bound, past which
 * lines are dropped (and counted, and the count logged once writing resumes). A reader that
 * stops reading therefore costs neither the event loop nor unbounded memory, and a reader that
 * has gone (EPIPE) just ends the output. Nothing waits for the output at exit beyond
 * `flush(timeout)`: a logger that flushes synchronously on exit spins forever on a full pipe,
 * which is how a server ends up ignoring SIGTERM.
 */
export class StdoutLog {
  readonly #fd: number;
  readonly #maxBufferedBytes: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  #writing = false;
  #closed = false;
  #dropped = 0;
  #drained: Array<() => void> = [];

  constructor(options: { fd?: number; maxBufferedBytes?: number } = {}) {
    this.#fd = options.fd ?? 1;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  }

  /** Queues `text` (a log line with its newline, or plain text). Never blocks, never throws. */
  write(text: string): void {
    if (this.#closed) return;
    if (this.#pendingBytes + text.length > this.#maxBufferedBytes) {
      this.#dropped += 1;
      return;
    }
    this.#pending.push(text);
    this.#pendingBytes += text.length;
    if (!this.#writing) this.#writeNext();
  }

  /** Resolves once everything queued so far is written, or after `timeoutMs`, whichever comes first. */
  flush(timeoutMs: number): Promise<void> {
    if (!this.#writing) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.#drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #writeNext(): void {
    if (this.#dropped > 0) {
      this.#pending.unshift(`${JSON.stringify({ level: 40, time: Date.now(), msg: `${this.#dropped} log lines dropped: the output was not being read` })}\n`);
      this.#dropped = 0;
    }
    if (this.#pending.length === 0) {
      this.#writing = false;
      for (const done of this.#drained.splice(0)) done();
      return;
    }
    const chunk = Buffer.from(this.#pending.join(''));
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#writing = true;
    this.#writeChunk(chunk);
  }

  #writeChunk(chunk: Buffer): void {
    write(this.#fd, chunk, (error, written) => {
      if (error?.code === 'EAGAIN') {
        // A full non-blocking pipe: try again shortly, without keeping the process alive for it.
        setTimeout(() => this.#writeChunk(chunk), 50).unref();
      } else if (error) {
        // The reader has gone (EPIPE) or the descriptor is unusable: there is nowhere to write.
        this.#closed = true;
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#writing = false;
        for (const done of this.#drained.splice(0)) done();
      } else if (written < chunk.length) {
        this.#writeChunk(chunk.subarray(written));
      } else {
        this.#writeNext();
      }
    });
  }
}
