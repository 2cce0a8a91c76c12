import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where the master key comes from: `TESSERA_MASTER_KEY` always wins; otherwise (SQLite only)
 * `<dataDir>/master.key`, created on first start. Error messages never echo a key value.
 */

const KEY_BYTES = 32;
const KEY_FILE_NAME = 'master.key';
const HEX_KEY_PATTERN = /^[0-9a-fA-F]{64}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;

export interface LoadMasterKeyOptions {
  env: NodeJS.ProcessEnv;
  /** The SQLite data directory; omitted for PostgreSQL, where the key must come from the env. */
  dataDir?: string;
  /** Create `<dataDir>/master.key` when it does not exist yet. */
  createIfMissing: boolean;
}

export interface LoadedMasterKey {
  key: Buffer;
  source: 'env' | 'file';
  /** The key file, when `source` is 'file'. */
  path?: string;
}

/** A new random master key, base64 (for `TESSERA_MASTER_KEY` or `master.key`). */
export function generateMasterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

export async function loadMasterKey(options: LoadMasterKeyOptions): Promise<LoadedMasterKey> {
  const fromEnv = options.env['TESSERA_MASTER_KEY'];
  if (fromEnv !== undefined) {
    const key = decodeMasterKey(fromEnv);
    if (!key) {
      throw new Error(
        `TESSERA_MASTER_KEY is invalid: expected ${KEY_BYTES} bytes as base64, base64url or 64 hex characters ` +
          '(generate one with `tessera-cloud master-key generate`)',
      );
    }
    return { key, source: 'env' };
  }
  if (options.dataDir === undefined) {
    throw new Error(
      'TESSERA_MASTER_KEY is required with PostgreSQL: the master key must not live in the database ' +
        '(generate one with `tessera-cloud master-key generate`)',
    );
  }
  const path = join(options.dataDir, KEY_FILE_NAME);
  const existing = await readKeyFile(path);
  if (existing) return { key: existing, source: 'file', path };
  if (!options.createIfMissing) {
    throw new Error(`no master key: set TESSERA_MASTER_KEY or create ${path}`);
  }
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const created = await createKeyFile(path);
  return { key: created, source: 'file', path };
}

/** Accepts hex (checked first: 64 hex chars are also valid base64), base64 or base64url. */
function decodeMasterKey(value: string): Buffer | undefined {
  const text = value.trim();
  if (HEX_KEY_PATTERN.test(text)) return Buffer.from(text, 'hex');
  if (!BASE64_PATTERN.test(text)) return undefined;
  // Node's base64 decoder also accepts the URL-safe alphabet.
  const key = Buffer.from(text, 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

/** The key in an existing file, or undefined when there is no file. */
async function readKeyFile(path: string): Promise<Buffer | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  if (!info.isFile()) throw new Error(`master key ${path} is not a regular file`);
  // POSIX permissions only; Windows reports synthetic modes.
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    throw new Error(`master key ${path} is readable by other users (mode ${mode}): run \`chmod 600 ${path}\``);
  }
  const key = decodeMasterKey(await readFile(path, 'utf8'));
  if (!key) throw new Error(`master key ${path} is invalid: expected ${KEY_BYTES} bytes as base64`);
  return key;
}

async function createKeyFile(path: string): Promise<Buffer> {
  const key = randomBytes(KEY_BYTES);
  let handle;
  try {
    // 'wx' never overwrites; mode 0600 from the first byte on, so no window where others can read.
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    // Another process created it first: use theirs.
    if (isErrno(error, 'EEXIST')) {
      const existing = await readKeyFile(path);
      if (existing) return existing;
    }
    throw error;
  }
  try {
    await handle.writeFile(`${key.toString('base64')}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return key;
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
