import { randomUUID } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import type { SigningKeyRecord, StoreWriter } from '../store/types.js';
import { createSigningKeyRecord, openSigningKey } from './signing-key.js';
import type { OpenedSigningKey } from './signing-key.js';

/**
 * The control plane's ES256 signing keys (edge tokens, workload JWTs), published at
 * /.well-known/jwks.json. Keys live in the store so every replica signs with the same active
 * key; each replica caches them and reloads after `cacheTtlMs` to pick up another's rotation.
 */

type SigningKeyWriter = Pick<
  StoreWriter,
  'listSigningKeys' | 'insertSigningKey' | 'updateSigningKey' | 'deleteSigningKey' | 'tryAcquireLease'
>;

/** The part of `Store` the key ring uses; a real `Store` satisfies it. */
export interface KeyRingStore {
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  transaction<T>(fn: (tx: SigningKeyWriter) => Promise<T>): Promise<T>;
}

export interface KeyRingOptions {
  store: KeyRingStore;
  box: SecretBox;
  now?: () => Date;
  /** The longest lifetime `sign` accepts; also how long a retired key stays published. */
  maxTokenLifetimeSeconds?: number;
  cacheTtlMs?: number;
}

export interface SignOptions {
  lifetimeSeconds: number;
  issuer: string;
  audience: string | string[];
  subject: string;
  /** The JWT `typ` header, e.g. 'tessera-edge+jwt'. */
  typ?: string;
}

/** Claims the key ring sets itself (from SignOptions or the clock); refused in `payload`. */
const RESERVED_CLAIMS = ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti'] as const;
/** Unknown kids trigger at most one store reload per interval, so junk tokens cannot flood it. */
const UNKNOWN_KID_RELOAD_INTERVAL_MS = 1000;

interface CachedKey extends OpenedSigningKey {
  createdAt: string;
  retiredAt: string | null;
  publishUntil: string | null;
  /** The sealed private key it was opened from, to skip re-opening unchanged rows. */
  envelope: string;
}

interface KeyCache {
  loadedAtMs: number;
  /** Keys still published (active, or retired with publishUntil in the future), oldest first. */
  keys: CachedKey[];
  /** The oldest active key: if two replicas raced to create one, all agree which one signs. */
  active: CachedKey | undefined;
}

export class KeyRing {
  private readonly store: KeyRingStore;
  private readonly box: SecretBox;
  private readonly now: () => Date;
  readonly maxTokenLifetimeSeconds: number;
  private readonly cacheTtlMs: number;
  private cache: KeyCache | undefined;
  private inFlight: Promise<KeyCache> | undefined;
  private loadsStarted = 0;
  private loadsApplied = 0;
  private ensuring: Promise<string> | undefined;
  private lastUnknownKidReloadMs = Number.NEGATIVE_INFINITY;

  constructor(options: KeyRingOptions) {
    this.store = options.store;
    this.box = options.box;
    this.now = options.now ?? (() => new Date());
    this.maxTokenLifetimeSeconds = options.maxTokenLifetimeSeconds ?? 3600;
    this.cacheTtlMs = options.cacheTtlMs ?? 30_000;
  }

  /** Creates the first key if there is no active one; returns the active kid. Call at startup. */
  async ensureActiveKey(): Promise<string> {
    const cached = await this.keys();
    if (cached.active) return cached.active.kid;
    this.ensuring ??= this.createKeyIfNone().finally(() => {
      this.ensuring = undefined;
    });
    return this.ensuring;
  }

  /** Retires the active key (still published for the longest token lifetime) and starts a new one. */
  async rotate(): Promise<{ kid: string; retiredKid: string | null }> {
    const now = this.now();
    const created = await createSigningKeyRecord(this.box, now);
    // A replica may sign with the old key until its cache expires: publish that much longer.
    const publishUntil = new Date(now.getTime() + this.maxTokenLifetimeSeconds * 1000 + this.cacheTtlMs).toISOString();
    const retiredKid = await this.store.transaction(async (tx) => {
      let retired: string | null = null;
      for (const record of oldestFirst(await tx.listSigningKeys())) {
        if (record.retiredAt === null) {
          await tx.updateSigningKey({ ...record, retiredAt: now.toISOString(), publishUntil });
          retired ??= record.kid;
        } else if (record.publishUntil !== null && Date.parse(record.publishUntil) <= now.getTime()) {
          await tx.deleteSigningKey(record.kid); // every token it signed has expired
        }
      }
      await tx.insertSigningKey(created);
      return retired;
    });
    await this.reload();
    return { kid: created.kid, retiredKid };
  }

  /** Signs `payload` with the active key; returns the compact JWT. */
  async sign(payload: JWTPayload, options: SignOptions): Promise<string> {
    const { lifetimeSeconds } = options;
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds <= 0 || lifetimeSeconds > this.maxTokenLifetimeSeconds) {
      throw new RangeError(`token lifetime must be a whole number of seconds in 1..${this.maxTokenLifetimeSeconds}`);
    }
    const reserved = RESERVED_CLAIMS.filter((claim) => claim in payload);
    if (reserved.length > 0) throw new TypeError(`set ${reserved.join(', ')} through the sign options, not the payload`);

    await this.ensureActiveKey();
    const key = (await this.keys()).active;
    if (!key) throw new Error('no active signing key');
    const issuedAt = Math.floor(this.now().getTime() / 1000);
    const claims: JWTPayload = {
      ...payload,
      iss: options.issuer,
      sub: options.subject,
      aud: options.audience,
      iat: issuedAt,
      exp: issuedAt + lifetimeSeconds,
      jti: randomBytes(16).toString('base64url'),
    };
    const header = options.typ === undefined ? { alg: 'ES256', kid: key.kid } : { alg: 'ES256', kid: key.kid, typ: options.typ };
    return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
  }

  /** The published public keys: the active key and retired keys still within publishUntil. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const cache = await this.keys();
    const nowMs = this.now().getTime();
    return { keys: cache.keys.filter((key) => isPublished(key, nowMs)).map((key) => ({ ...key.publicJwk })) };
  }

  /** The public key for `kid` if it is published; an unknown kid reloads the store (at most once a second). */
  async getPublicKey(kid: string): Promise<KeyObject | undefined> {
    const find = (cache: KeyCache): CachedKey | undefined => {
      const nowMs = this.now().getTime();
      return cache.keys.find((key) => key.kid === kid && isPublished(key, nowMs));
    };
    const found = find(await this.keys());
    if (found) return found.publicKey;
    const nowMs = this.now().getTime();
    if (nowMs - this.lastUnknownKidReloadMs < UNKNOWN_KID_RELOAD_INTERVAL_MS) return undefined;
    this.lastUnknownKidReloadMs = nowMs;
    return find(await this.reload())?.publicKey;
  }

  private async createKeyIfNone(): Promise<string> {
    const record = await createSigningKeyRecord(this.box, this.now());
    // Check and insert in one transaction, so two replicas starting together create one key. The
    // lease row is written first: on PostgreSQL its row lock makes a concurrent creator wait for
    // this commit, and its own check then sees the key (READ COMMITTED alone would not).
    await this.store.transaction(async (tx) => {
      await tx.tryAcquireLease('signing-key:create', randomUUID(), 10_000, this.now());
      const records = await tx.listSigningKeys();
      if (!records.some((existing) => existing.retiredAt === null)) await tx.insertSigningKey(record);
    });
    const cache = await this.reload();
    if (!cache.active) throw new Error('no active signing key after creating one');
    return cache.active.kid;
  }

  /** The cache, reloaded when older than the TTL (concurrent callers share one load). */
  private keys(): Promise<KeyCache> {
    const cache = this.cache;
    if (cache && this.now().getTime() - cache.loadedAtMs < this.cacheTtlMs) return Promise.resolve(cache);
    return this.inFlight ?? this.reload();
  }

  /** A fresh load; a slower, older load finishing later never overwrites a newer one. */
  private reload(): Promise<KeyCache> {
    const sequence = ++this.loadsStarted;
    const load = this.load().then((loaded) => {
      if (sequence > this.loadsApplied) {
        this.cache = loaded;
        this.loadsApplied = sequence;
      }
      return this.cache ?? loaded;
    });
    this.inFlight = load;
    const clear = (): void => {
      if (this.inFlight === load) this.inFlight = undefined;
    };
    load.then(clear, clear);
    return load;
  }

  private async load(): Promise<KeyCache> {
    const loadedAtMs = this.now().getTime();
    const previous = new Map((this.cache?.keys ?? []).map((key) => [key.kid, key]));
    const keys: CachedKey[] = [];
    for (const record of oldestFirst(await this.store.listSigningKeys())) {
      if (!isPublished(record, loadedAtMs)) continue;
      const known = previous.get(record.kid);
      const opened = known?.envelope === record.privateKey ? known : await openSigningKey(record, this.box);
      keys.push({ ...opened, createdAt: record.createdAt, retiredAt: record.retiredAt, publishUntil: record.publishUntil, envelope: record.privateKey });
    }
    return { loadedAtMs, keys, active: keys.find((key) => key.retiredAt === null) };
  }
}

function isPublished(key: Pick<SigningKeyRecord, 'retiredAt' | 'publishUntil'>, nowMs: number): boolean {
  if (key.retiredAt === null) return true;
  return key.publishUntil !== null && Date.parse(key.publishUntil) > nowMs;
}

function oldestFirst(records: SigningKeyRecord[]): SigningKeyRecord[] {
  return [...records].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.kid.localeCompare(b.kid));
}
