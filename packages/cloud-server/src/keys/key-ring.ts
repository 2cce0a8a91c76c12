import { randomUUID } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import type { SigningKeyRecord, StoreWriter } from '../store/types.js';
import { SIGNING_ALGORITHMS, createSigningKeyRecord, isSigningAlgorithm, openSigningKey } from './signing-key.js';
import type { OpenedSigningKey, SigningAlgorithm } from './signing-key.js';

/**
 * The control plane's signing keys (edge tokens, nonces, workload JWTs), published at
 * /.well-known/jwks.json. Keys live in the store so every replica signs with the same active
 * key; each replica caches them and reloads after `cacheTtlMs` to pick up another's rotation.
 *
 * One active key per algorithm: ES256, which signs everything unless told otherwise and is
 * created at startup, and RS256, created on first use, for relying parties that accept only RSA
 * signatures (Microsoft Entra ID). Both are sealed, rotated and retired the same way.
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
  /**
   * Which key signs: ES256 (the default) or RS256, for relying parties that accept only RSA
   * signatures, such as Microsoft Entra ID. The RS256 key is created on first use.
   */
  algorithm?: SigningAlgorithm;
}

/** One algorithm's part of a rotation. */
export interface RotatedKey {
  alg: SigningAlgorithm;
  kid: string;
  /** The key it replaced (the oldest, if replicas had raced to create several). */
  retiredKid: string | null;
}

export interface RotationResult {
  /** The new ES256 key (the fields rotation always returned). */
  kid: string;
  retiredKid: string | null;
  /** Every key the rotation created: ES256, then RS256 when an RS256 key was in use. */
  keys: RotatedKey[];
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
  /** Per algorithm, the oldest active key: if two replicas raced to create one, all agree which one signs. */
  active: Partial<Record<SigningAlgorithm, CachedKey>>;
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
  private readonly ensuring = new Map<SigningAlgorithm, Promise<string>>();
  private lastUnknownKidReloadMs = Number.NEGATIVE_INFINITY;

  constructor(options: KeyRingOptions) {
    this.store = options.store;
    this.box = options.box;
    this.now = options.now ?? (() => new Date());
    this.maxTokenLifetimeSeconds = options.maxTokenLifetimeSeconds ?? 3600;
    this.cacheTtlMs = options.cacheTtlMs ?? 30_000;
  }

  /**
   * Creates the first key of `algorithm` (default ES256) if there is no active one; returns the
   * active kid. Call at startup for ES256; `sign` calls it for RS256 on first use.
   */
  async ensureActiveKey(algorithm: SigningAlgorithm = 'ES256'): Promise<string> {
    if (!isSigningAlgorithm(algorithm)) throw new TypeError(`unsupported signing algorithm; use one of ${SIGNING_ALGORITHMS.join(', ')}`);
    const cached = (await this.keys()).active[algorithm];
    if (cached) return cached.kid;
    let ensuring = this.ensuring.get(algorithm);
    if (!ensuring) {
      ensuring = this.createKeyIfNone(algorithm).finally(() => {
        this.ensuring.delete(algorithm);
      });
      this.ensuring.set(algorithm, ensuring);
    }
    return ensuring;
  }

  /**
   * Retires every active key (each still published for the longest token lifetime) and starts a
   * new one per algorithm in use: always ES256, and RS256 when an RS256 key was active (otherwise
   * it is still created on first use).
   */
  async rotate(): Promise<RotationResult> {
    const now = this.now();
    // Both made before the transaction (RSA takes a moment); the RS256 one is kept only if in use.
    const [es256, rs256] = await Promise.all([
      createSigningKeyRecord(this.box, now, 'ES256'),
      createSigningKeyRecord(this.box, now, 'RS256'),
    ]);
    // A replica may sign with the old key until its cache expires: publish that much longer.
    const publishUntil = new Date(now.getTime() + this.maxTokenLifetimeSeconds * 1000 + this.cacheTtlMs).toISOString();
    const keys = await this.store.transaction(async (tx) => {
      const retired: Partial<Record<SigningAlgorithm, string>> = {};
      for (const record of oldestFirst(await tx.listSigningKeys())) {
        if (record.retiredAt === null) {
          await tx.updateSigningKey({ ...record, retiredAt: now.toISOString(), publishUntil });
          retired[record.alg] ??= record.kid;
        } else if (record.publishUntil !== null && Date.parse(record.publishUntil) <= now.getTime()) {
          await tx.deleteSigningKey(record.kid); // every token it signed has expired
        }
      }
      const created = retired.RS256 === undefined ? [es256] : [es256, rs256];
      for (const record of created) await tx.insertSigningKey(record);
      return created.map((record): RotatedKey => ({ alg: record.alg, kid: record.kid, retiredKid: retired[record.alg] ?? null }));
    });
    await this.reload();
    return { kid: es256.kid, retiredKid: keys[0]!.retiredKid, keys };
  }

  /** Signs `payload` with the active key of `options.algorithm` (default ES256); returns the compact JWT. */
  async sign(payload: JWTPayload, options: SignOptions): Promise<string> {
    const { lifetimeSeconds } = options;
    const algorithm = options.algorithm ?? 'ES256';
    if (!isSigningAlgorithm(algorithm)) throw new TypeError(`unsupported signing algorithm; use one of ${SIGNING_ALGORITHMS.join(', ')}`);
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds <= 0 || lifetimeSeconds > this.maxTokenLifetimeSeconds) {
      throw new RangeError(`token lifetime must be a whole number of seconds in 1..${this.maxTokenLifetimeSeconds}`);
    }
    const reserved = RESERVED_CLAIMS.filter((claim) => claim in payload);
    if (reserved.length > 0) throw new TypeError(`set ${reserved.join(', ')} through the sign options, not the payload`);

    await this.ensureActiveKey(algorithm);
    const key = (await this.keys()).active[algorithm];
    if (!key) throw new Error(`no active ${algorithm} signing key`);
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
    const header = options.typ === undefined ? { alg: key.alg, kid: key.kid } : { alg: key.alg, kid: key.kid, typ: options.typ };
    return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
  }

  /** The published public keys (each with its kid and alg): the active keys and retired keys still within publishUntil. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const cache = await this.keys();
    const nowMs = this.now().getTime();
    return { keys: cache.keys.filter((key) => isPublished(key, nowMs)).map((key) => ({ ...key.publicJwk })) };
  }

  /**
   * The public key for `kid` if it is published, of either algorithm: verifiers pin the algorithm
   * they accept. An unknown kid reloads the store (at most once a second).
   */
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

  private async createKeyIfNone(algorithm: SigningAlgorithm): Promise<string> {
    const record = await createSigningKeyRecord(this.box, this.now(), algorithm);
    // Check and insert in one transaction, so two replicas starting together create one key. The
    // lease row is written first: on PostgreSQL its row lock makes a concurrent creator wait for
    // this commit, and its own check then sees the key (READ COMMITTED alone would not). One
    // lease for both algorithms: creation is rare, and serializing it keeps the reasoning simple.
    await this.store.transaction(async (tx) => {
      await tx.tryAcquireLease('signing-key:create', randomUUID(), 10_000, this.now());
      const records = await tx.listSigningKeys();
      if (!records.some((existing) => existing.alg === algorithm && existing.retiredAt === null)) await tx.insertSigningKey(record);
    });
    const active = (await this.reload()).active[algorithm];
    if (!active) throw new Error(`no active ${algorithm} signing key after creating one`);
    return active.kid;
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
    const active: KeyCache['active'] = {};
    for (const key of keys) if (key.retiredAt === null) active[key.alg] ??= key;
    return { loadedAtMs, keys, active };
  }
}

function isPublished(key: Pick<SigningKeyRecord, 'retiredAt' | 'publishUntil'>, nowMs: number): boolean {
  if (key.retiredAt === null) return true;
  return key.publishUntil !== null && Date.parse(key.publishUntil) > nowMs;
}

function oldestFirst(records: SigningKeyRecord[]): SigningKeyRecord[] {
  return [...records].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.kid.localeCompare(b.kid));
}
