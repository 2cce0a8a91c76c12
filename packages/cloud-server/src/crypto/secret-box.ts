import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { StoreWriter } from '../store/types.js';

// Loading and generating the master key live next door; re-exported so callers need one import.
export { generateMasterKey, loadMasterKey } from './master-key.js';
export type { LoadedMasterKey, LoadMasterKeyOptions } from './master-key.js';

/**
 * Encrypts secrets at rest (AES-256-GCM) under a master key that never lives in the database.
 * Envelope: `tsb1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts). The caller's `context`
 * (e.g. `object:<uuid>:secrets`) is bound as additional authenticated data, so an envelope
 * copied onto another row does not open there.
 */

const VERSION = 'tsb1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;

export type SecretBoxErrorCode = 'wrong_master_key' | 'corrupt_envelope' | 'authentication_failed';

/** Never carries plaintext, key material or the envelope in its message. */
export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
  constructor(
    readonly code: SecretBoxErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class SecretBox {
  // A private KeyObject: the key bytes never show up in logs, inspect() or JSON.
  readonly #key: KeyObject;
  /** A public fingerprint of the master key (not secret), stored in every envelope. */
  readonly keyId: string;

  constructor(masterKey: Uint8Array) {
    if (masterKey.byteLength !== KEY_BYTES) {
      throw new TypeError(`the master key must be exactly ${KEY_BYTES} bytes`);
    }
    this.#key = createSecretKey(Buffer.from(masterKey));
    this.keyId = createHmac('sha256', this.#key).update('tessera key id').digest().subarray(0, 8).toString('hex');
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, this.keyId, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
  }

  open(envelope: string, context: string): string {
    const { keyId, iv, ciphertext, tag } = parseEnvelope(envelope);
    // Key ids are fingerprints, not secrets; the comparison is constant-time anyway.
    if (!timingSafeEqual(Buffer.from(keyId), Buffer.from(this.keyId))) {
      throw new SecretBoxError(
        'wrong_master_key',
        `the secret was sealed under another master key (key id ${keyId}; the configured master key has id ${this.keyId})`,
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // No cause attached: the underlying error is generic and we want nothing else to leak.
      throw new SecretBoxError('authentication_failed', 'the secret failed authentication (tampered, or sealed for another context)');
    }
  }
}

function parseEnvelope(envelope: string): { keyId: string; iv: Buffer; ciphertext: Buffer; tag: Buffer } {
  const parts = typeof envelope === 'string' ? envelope.split('.') : [];
  const [version, keyId, ivPart, ciphertextPart, tagPart] = parts;
  if (parts.length !== 5 || version !== VERSION || keyId === undefined || !KEY_ID_PATTERN.test(keyId)) {
    throw corrupt();
  }
  const iv = decodeBase64Url(ivPart);
  const ciphertext = decodeBase64Url(ciphertextPart);
  const tag = decodeBase64Url(tagPart);
  if (iv?.length !== IV_BYTES || ciphertext === undefined || tag?.length !== TAG_BYTES) throw corrupt();
  return { keyId, iv, ciphertext, tag };
}

/** Strict base64url: rejects foreign characters and non-canonical encodings (Buffer would skip them). */
function decodeBase64Url(part: string | undefined): Buffer | undefined {
  if (part === undefined || !BASE64URL_PATTERN.test(part)) return undefined;
  const bytes = Buffer.from(part, 'base64url');
  return bytes.toString('base64url') === part ? bytes : undefined;
}

function corrupt(): SecretBoxError {
  return new SecretBoxError('corrupt_envelope', 'the secret envelope is malformed');
}

const CHECK_META_KEY = 'master_key_check';
const CHECK_PLAINTEXT = 'tessera-master-key-check';
const CHECK_CONTEXT = `meta:${CHECK_META_KEY}`;

type MetaWriter = Pick<StoreWriter, 'getMeta' | 'setMeta'>;
export type MasterKeyCheckStore = MetaWriter | { transaction<T>(fn: (tx: MetaWriter) => Promise<T>): Promise<T> };

/**
 * Stores a check value on first use and verifies it afterwards, so a process started with the
 * wrong master key refuses to run instead of failing later on every secret. Pass a `Store`
 * (runs in its own transaction) or a transaction's writer.
 */
export async function verifyMasterKey(store: MasterKeyCheckStore, box: SecretBox): Promise<'created' | 'verified'> {
  if ('transaction' in store) return store.transaction((tx: MetaWriter) => verifyMasterKey(tx, box));
  const check = await store.getMeta(CHECK_META_KEY);
  if (check === undefined) {
    await store.setMeta(CHECK_META_KEY, box.seal(CHECK_PLAINTEXT, CHECK_CONTEXT));
    return 'created';
  }
  let opened: string;
  try {
    opened = box.open(check, CHECK_CONTEXT);
  } catch (error) {
    if (error instanceof SecretBoxError && error.code === 'corrupt_envelope') {
      throw new SecretBoxError('corrupt_envelope', `the stored master key check value (meta ${CHECK_META_KEY}) is malformed`);
    }
    throw wrongMasterKey();
  }
  if (opened !== CHECK_PLAINTEXT) throw wrongMasterKey();
  return 'verified';
}

function wrongMasterKey(): SecretBoxError {
  return new SecretBoxError(
    'wrong_master_key',
    'the master key does not match this store: start with the master key (TESSERA_MASTER_KEY or master.key) the store was created with',
  );
}
