import type { SigningKeyRecord, StoreWriter } from '../store/types.js';

/**
 * A test-only in-memory stand-in for the parts of `Store` the key ring and master key check
 * use. Transactions run one at a time and roll back on throw, like the real backends.
 */

type FakeWriter = Pick<
  StoreWriter,
  'listSigningKeys' | 'insertSigningKey' | 'updateSigningKey' | 'deleteSigningKey' | 'getMeta' | 'setMeta' | 'tryAcquireLease'
>;

export class MemorySigningKeyStore {
  readonly signingKeys = new Map<string, SigningKeyRecord>();
  readonly meta = new Map<string, string>();
  transactionCount = 0;
  private queue: Promise<unknown> = Promise.resolve();

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return [...this.signingKeys.values()].map(copy);
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.meta.get(key);
  }

  transaction<T>(fn: (tx: FakeWriter) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.transactionCount += 1;
      const savedKeys = new Map(this.signingKeys);
      const savedMeta = new Map(this.meta);
      try {
        return await fn(this.writer());
      } catch (error) {
        this.restore(savedKeys, savedMeta);
        throw error;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private writer(): FakeWriter {
    return {
      listSigningKeys: () => this.listSigningKeys(),
      getMeta: (key) => this.getMeta(key),
      insertSigningKey: async (record) => {
        if (this.signingKeys.has(record.kid)) throw new Error(`duplicate kid ${record.kid}`);
        this.signingKeys.set(record.kid, copy(record));
      },
      updateSigningKey: async (record) => {
        if (!this.signingKeys.has(record.kid)) throw new Error(`no key ${record.kid}`);
        this.signingKeys.set(record.kid, copy(record));
      },
      deleteSigningKey: async (kid) => {
        this.signingKeys.delete(kid);
      },
      setMeta: async (key, value) => {
        this.meta.set(key, value);
      },
      // Transactions here already run one at a time, so the lease has nothing left to serialize.
      tryAcquireLease: async () => true,
    };
  }

  private restore(keys: Map<string, SigningKeyRecord>, meta: Map<string, string>): void {
    this.signingKeys.clear();
    for (const [kid, record] of keys) this.signingKeys.set(kid, record);
    this.meta.clear();
    for (const [key, value] of meta) this.meta.set(key, value);
  }
}

function copy(record: SigningKeyRecord): SigningKeyRecord {
  return { ...record, publicJwk: { ...record.publicJwk } };
}

/** A controllable clock for cache and expiry tests. */
export class TestClock {
  constructor(private ms = Date.parse('2030-01-01T00:00:00.000Z')) {}
  readonly now = (): Date => new Date(this.ms);
  advanceSeconds(seconds: number): void {
    this.ms += seconds * 1000;
  }
  advanceMs(ms: number): void {
    this.ms += ms;
  }
}
