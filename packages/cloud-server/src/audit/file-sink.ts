import fs from 'node:fs/promises';
import path from 'node:path';
import type { AuditEvent } from '../store/types.js';
import { DeliveryError, type AuditSink } from './sink.js';

export interface FileSinkOptions {
  /** The server's data directory; files go to `<dataDir>/audit/<resourceSetId>/`. */
  dataDir: string;
  /** Each resource set has a folder of its own: no name chosen in one set can touch another's files. */
  resourceSetId: string;
  /** A plain file name ending in `.jsonl` (the config schema allows no path). */
  fileName: string;
  /** Rotate before the current file would grow beyond this many bytes. */
  maxBytes: number;
  /** How many rotated files (`name.1.jsonl` newest … `name.N.jsonl` oldest) to keep. */
  maxFiles: number;
  batchSize?: number;
  /**
   * Earlier versions wrote every set's files to `<dataDir>/audit/` itself. The stream that wrote
   * this name there moves its files into its set's folder on first open, and carries on there.
   */
  adoptLegacyFiles?: boolean;
}

const TAIL_CHUNK = 64 * 1024;

/**
 * Appends events as JSON Lines to a file under `<dataDir>/audit/<resourceSetId>/` and fsyncs before `deliver`
 * resolves, so an event whose cursor has moved on is on disk. The audit trail names workloads and
 * admins: the folders are 0700 and the files 0600.
 */
export class FileSink implements AuditSink {
  readonly batchSize: number;
  /** `<dataDir>/audit/`: one folder per resource set inside. */
  readonly auditDirectory: string;
  readonly directory: string;
  readonly filePath: string;
  #handle: fs.FileHandle | undefined;
  #size = 0;

  constructor(private readonly options: FileSinkOptions) {
    if (path.basename(options.fileName) !== options.fileName || !options.fileName.endsWith('.jsonl')) {
      throw new DeliveryError('fileName must be a plain file name ending in .jsonl');
    }
    if (!isPlainName(options.resourceSetId)) throw new DeliveryError('the resource set id is not a plain name');
    this.batchSize = options.batchSize ?? 500;
    this.auditDirectory = path.join(options.dataDir, 'audit');
    this.directory = path.join(this.auditDirectory, options.resourceSetId);
    this.filePath = path.join(this.directory, options.fileName);
  }

  /** `name.jsonl` → `name.<n>.jsonl` */
  rotatedPath(index: number, directory = this.directory): string {
    return path.join(directory, `${this.options.fileName.slice(0, -'.jsonl'.length)}.${index}.jsonl`);
  }

  // A local write is short: it ignores the stop signal and simply completes.
  async deliver(events: readonly AuditEvent[], _signal?: AbortSignal): Promise<void> {
    let handle = await this.#open();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (const event of events) {
      const line = Buffer.from(`${JSON.stringify(event)}\n`);
      // Rotate per line, so a file exceeds maxBytes only when a single event is larger than it.
      if (this.#size + pendingBytes > 0 && this.#size + pendingBytes + line.length > this.options.maxBytes) {
        await this.#append(handle, pending);
        pending = [];
        pendingBytes = 0;
        handle = await this.#rotate();
      }
      pending.push(line);
      pendingBytes += line.length;
    }
    await this.#append(handle, pending);
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  async #append(handle: fs.FileHandle, lines: Buffer[]): Promise<void> {
    if (lines.length === 0) return;
    const data = Buffer.concat(lines);
    try {
      for (let offset = 0; offset < data.length; ) offset += (await handle.write(data, offset)).bytesWritten;
      await handle.sync();
    } catch (error) {
      // The file may now end in a torn line: reopen (and repair) on the next attempt.
      await this.close().catch(() => undefined);
      throw error;
    }
    this.#size += data.length;
  }

  async #open(): Promise<fs.FileHandle> {
    if (this.#handle) return this.#handle;
    await fs.mkdir(this.directory, { recursive: true, mode: 0o700 });
    // mkdir leaves an existing folder's mode alone
    for (const directory of [this.auditDirectory, this.directory]) await fs.chmod(directory, 0o700);
    if (this.options.adoptLegacyFiles && !(await exists(this.filePath))) await this.#adoptLegacyFiles();
    const created = !(await exists(this.filePath));
    // a+: appends always go to the end, and the handle can read (to repair a torn tail).
    const handle = await fs.open(this.filePath, 'a+', 0o600);
    try {
      await handle.chmod(0o600);
      this.#size = await repairTail(handle, (await handle.stat()).size);
      if (created) await syncDirectory(this.directory);
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.#handle = handle;
    return handle;
  }

  /** Moves `name.jsonl` and its rotated files from `<dataDir>/audit/` (as earlier versions left them). */
  async #adoptLegacyFiles(): Promise<void> {
    const moves: Array<[string, string]> = [[path.join(this.auditDirectory, this.options.fileName), this.filePath]];
    for (let index = 1; index <= this.options.maxFiles; index += 1) {
      moves.push([this.rotatedPath(index, this.auditDirectory), this.rotatedPath(index)]);
    }
    let moved = false;
    for (const [from, to] of moves) {
      if (await exists(to)) continue; // never overwrite what this set's folder already holds
      moved = (await fs.rename(from, to).then(() => true, ignoreMissing)) || moved;
    }
    if (!moved) return;
    await syncDirectory(this.auditDirectory);
    await syncDirectory(this.directory);
  }

  async #rotate(): Promise<fs.FileHandle> {
    await this.close();
    const { maxFiles } = this.options;
    await fs.rm(this.rotatedPath(maxFiles), { force: true });
    for (let index = maxFiles - 1; index >= 1; index -= 1) {
      await fs.rename(this.rotatedPath(index), this.rotatedPath(index + 1)).catch(ignoreMissing);
    }
    await fs.rename(this.filePath, this.rotatedPath(1));
    await syncDirectory(this.directory);
    return this.#open();
  }
}

/**
 * A crash in the middle of a write can leave a partial last line. Its events were never
 * acknowledged, so they will be written again: cut the fragment off rather than leave a line
 * that no JSON Lines reader can parse. Returns the new size.
 */
async function repairTail(handle: fs.FileHandle, size: number): Promise<number> {
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - TAIL_CHUNK);
    const chunk = Buffer.alloc(end - start);
    await handle.read(chunk, 0, chunk.length, start);
    const newline = chunk.lastIndexOf(0x0a);
    if (newline !== -1) {
      end = start + newline + 1;
      break;
    }
    end = start;
  }
  if (end < size) {
    await handle.truncate(end);
    await handle.sync();
  }
  return end;
}

async function exists(filePath: string): Promise<boolean> {
  return fs.stat(filePath).then(
    () => true,
    () => false,
  );
}

/** Makes a created or renamed entry durable. Not every platform can fsync a directory. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

function ignoreMissing(error: unknown): false {
  if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  return false;
}

function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && path.basename(name) === name;
}
