import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemorySigningKeyStore } from '../keys/memory-store.test-helper.js';
import { SecretBox, SecretBoxError, generateMasterKey, loadMasterKey, verifyMasterKey } from './secret-box.js';
import type { SecretBoxErrorCode } from './secret-box.js';

const context = 'object:0190a0a0-0000-7000-8000-000000000001:secrets';
const secret = 'client-secret-s3cr3t-value';

function box(): SecretBox {
  return new SecretBox(randomBytes(32));
}

function expectBoxError(action: () => unknown, code: SecretBoxErrorCode): SecretBoxError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretBoxError);
    expect((error as SecretBoxError).code).toBe(code);
    expect((error as Error).message).not.toContain(secret);
    return error as SecretBoxError;
  }
  throw new Error(`expected a SecretBoxError ${code}`);
}

/** Flips one byte of the decoded part `index` of an envelope and re-encodes it canonically. */
function tamper(envelope: string, index: number): string {
  const parts = envelope.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('SecretBox', () => {
  it.each([
    ['ascii', secret],
    ['unicode', 'grüße 🔐 秘密 — ﷽'],
    ['empty', ''],
    ['1 MiB', 'x'.repeat(1024 * 1024)],
  ])('round-trips %s plaintext', (_name, plaintext) => {
    const sealed = box();
    const envelope = sealed.seal(plaintext, context);
    expect(envelope).toMatch(/^tsb1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/);
    expect(sealed.open(envelope, context)).toBe(plaintext);
  });

  it('uses a fresh IV each time', () => {
    const sealed = box();
    expect(sealed.seal(secret, context)).not.toBe(sealed.seal(secret, context));
  });

  it('refuses an envelope opened under another context', () => {
    const sealed = box();
    const envelope = sealed.seal(secret, context);
    expectBoxError(() => sealed.open(envelope, 'object:other:secrets'), 'authentication_failed');
  });

  it('recognises a wrong master key', () => {
    const envelope = box().seal(secret, context);
    const error = expectBoxError(() => box().open(envelope, context), 'wrong_master_key');
    expect(error.message).toMatch(/another master key/);
  });

  it.each([
    ['iv', 2],
    ['ciphertext', 3],
    ['tag', 4],
  ])('detects a tampered %s', (_name, index) => {
    const sealed = box();
    const envelope = sealed.seal(secret, context);
    expectBoxError(() => sealed.open(tamper(envelope, index), context), 'authentication_failed');
  });

  it('refuses malformed envelopes', () => {
    const sealed = box();
    const valid = sealed.seal(secret, context);
    const [, keyId, iv, ciphertext, tag] = valid.split('.');
    const malformed = [
      '',
      'tsb1.',
      'tsb1',
      `${valid}.extra`,
      `tsb2.${keyId}.${iv}.${ciphertext}.${tag}`,
      `tsb1.XYZ.${iv}.${ciphertext}.${tag}`,
      `tsb1.${keyId}.${iv}.${ciphertext}!.${tag}`,
      `tsb1.${keyId}.${iv}.${ciphertext}.${tag}=`,
      `tsb1.${keyId}.${iv}.${ciphertext}.${tag!.slice(0, -1)}B`, // non-canonical trailing bits
      `tsb1.${keyId}.${randomBytes(16).toString('base64url')}.${ciphertext}.${tag}`, // 16-byte IV
      `tsb1.${keyId}.${iv}.${ciphertext}.${randomBytes(8).toString('base64url')}`, // short tag
    ];
    for (const envelope of malformed) {
      const error = expectBoxError(() => sealed.open(envelope, context), 'corrupt_envelope');
      expect(error.message).not.toContain(envelope === '' ? secret : envelope);
    }
  });

  it('never shows the key in logs', () => {
    const key = randomBytes(32);
    const sealed = new SecretBox(key);
    expect(JSON.stringify(sealed)).not.toContain(key.toString('base64'));
    expect(JSON.stringify(sealed)).not.toContain(key.toString('hex'));
  });

  it('refuses a master key that is not 32 bytes', () => {
    expect(() => new SecretBox(randomBytes(31))).toThrow(/32 bytes/);
  });
});

describe('loadMasterKey', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-master-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates master.key with mode 0600 and reads the same key back', async () => {
    const dataDir = join(dir, 'data');
    const created = await loadMasterKey({ env: {}, dataDir, createIfMissing: true });
    expect(created.source).toBe('file');
    expect(created.path).toBe(join(dataDir, 'master.key'));
    expect(created.key).toHaveLength(32);
    expect((await stat(created.path!)).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(await readFile(created.path!, 'utf8')).toBe(`${created.key.toString('base64')}\n`);

    const again = await loadMasterKey({ env: {}, dataDir, createIfMissing: true });
    expect(again.key.equals(created.key)).toBe(true);
  });

  it('creates one key when two loads race', async () => {
    const [first, second] = await Promise.all([
      loadMasterKey({ env: {}, dataDir: dir, createIfMissing: true }),
      loadMasterKey({ env: {}, dataDir: dir, createIfMissing: true }),
    ]);
    expect(first.key.equals(second.key)).toBe(true);
  });

  it('refuses a key file that others can read', async () => {
    const path = join(dir, 'master.key');
    const value = generateMasterKey();
    await writeFile(path, `${value}\n`);
    await chmod(path, 0o644);
    const attempt = loadMasterKey({ env: {}, dataDir: dir, createIfMissing: true });
    await expect(attempt).rejects.toThrow(`master key ${path} is readable by other users (mode 644): run \`chmod 600 ${path}\``);
    expect(await attempt.catch((error: Error) => error.message)).not.toContain(value);
  });

  it('does not create a file when createIfMissing is false', async () => {
    await expect(loadMasterKey({ env: {}, dataDir: dir, createIfMissing: false })).rejects.toThrow(/no master key/);
  });

  it('requires TESSERA_MASTER_KEY without a data directory (PostgreSQL)', async () => {
    await expect(loadMasterKey({ env: {}, createIfMissing: true })).rejects.toThrow(/TESSERA_MASTER_KEY is required with PostgreSQL/);
  });

  it.each([
    ['base64', (key: Buffer) => key.toString('base64')],
    ['base64url', (key: Buffer) => key.toString('base64url')],
    ['hex', (key: Buffer) => key.toString('hex')],
    ['HEX with whitespace', (key: Buffer) => ` ${key.toString('hex').toUpperCase()}\n`],
  ])('accepts TESSERA_MASTER_KEY as %s, ahead of the key file', async (_name, encode) => {
    // An unreadable-by-policy file in dataDir proves the env value wins without touching it.
    await writeFile(join(dir, 'master.key'), 'garbage', { mode: 0o644 });
    const key = randomBytes(32);
    const loaded = await loadMasterKey({ env: { TESSERA_MASTER_KEY: encode(key) }, dataDir: dir, createIfMissing: true });
    expect(loaded.source).toBe('env');
    expect(loaded.path).toBeUndefined();
    expect(loaded.key.equals(key)).toBe(true);
  });

  it.each([
    ['31 bytes', randomBytes(31).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['63 hex chars', randomBytes(32).toString('hex').slice(1)],
    ['garbage', 'not a key at all! $%^&*'],
    ['empty', ''],
  ])('refuses a %s TESSERA_MASTER_KEY without echoing it', async (_name, value) => {
    const attempt = loadMasterKey({ env: { TESSERA_MASTER_KEY: value }, dataDir: dir, createIfMissing: true });
    await expect(attempt).rejects.toThrow(/TESSERA_MASTER_KEY is invalid/);
    const message = await attempt.catch((error: Error) => error.message);
    if (value !== '') expect(message).not.toContain(value);
  });
});

describe('verifyMasterKey', () => {
  it('stores a check value on first use and verifies it afterwards', async () => {
    const store = new MemorySigningKeyStore();
    const key = randomBytes(32);
    expect(await verifyMasterKey(store, new SecretBox(key))).toBe('created');
    expect(store.meta.get('master_key_check')).toMatch(/^tsb1\./);
    expect(await verifyMasterKey(store, new SecretBox(key))).toBe('verified');
  });

  it('refuses another master key with a clear error', async () => {
    const store = new MemorySigningKeyStore();
    await verifyMasterKey(store, box());
    const attempt = verifyMasterKey(store, box());
    await expect(attempt).rejects.toBeInstanceOf(SecretBoxError);
    await expect(attempt).rejects.toMatchObject({ code: 'wrong_master_key', message: expect.stringMatching(/does not match this store/) });
  });

  it('works inside a transaction writer too', async () => {
    const store = new MemorySigningKeyStore();
    const sealed = box();
    await store.transaction((tx) => verifyMasterKey(tx, sealed));
    await expect(store.transaction((tx) => verifyMasterKey(tx, sealed))).resolves.toBe('verified');
  });
});
