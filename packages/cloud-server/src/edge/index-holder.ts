import type { ObjectChange } from '../objects/service.js';
import type { ObjectsChange, Store, StoreReader, StoredObject } from '../store/types.js';
import { INDEXED_KINDS, PolicyIndex } from './policy-index.js';

/** What the holder reads; with `onObjectsChanged` it also follows other replicas' writes. */
export type IndexStore = Pick<StoreReader, 'listObjects' | 'getObject'> & Partial<Pick<Store, 'onObjectsChanged'>>;

export interface PolicyIndexHolderOptions {
  /** A failed reload after a change notification (a full refresh is attempted next). */
  onError?: (error: unknown) => void;
}

/**
 * Keeps the objects decisions read in memory and hands out a snapshot of them. An admin write
 * patches one object (`apply`, called after its commit, before the API answers); the snapshot
 * is rebuilt from memory on the next decision, so bulk writes cost no rebuild each. Other
 * replicas' writes arrive as store change notifications: their ids are reloaded one by one, or
 * everything is (`refresh()`) when the store says changes may have been missed.
 */
export class PolicyIndexHolder {
  readonly #store: IndexStore;
  readonly #onError: ((error: unknown) => void) | undefined;
  #objects: Map<string, StoredObject>;
  #current: PolicyIndex | undefined;
  /** Counts applied changes (local or reloaded), so a full reload that raced with one reloads again. */
  #version = 0;
  #refreshing: Promise<void> | undefined;
  /** Targeted reloads run one after another, so a later read is never overwritten by an earlier one. */
  #reloads: Promise<void> = Promise.resolve();
  /** Ids written locally while a targeted reload is reading: its possibly older rows must not win. */
  #appliedDuringReload: Set<string> | undefined;
  #unsubscribe: (() => void) | undefined;

  private constructor(store: IndexStore, objects: Map<string, StoredObject>, options: PolicyIndexHolderOptions) {
    this.#store = store;
    this.#objects = objects;
    this.#onError = options.onError;
  }

  static async create(store: IndexStore, options: PolicyIndexHolderOptions = {}): Promise<PolicyIndexHolder> {
    const holder = new PolicyIndexHolder(store, await loadAll(store), options);
    // Changes committed between the load above and LISTEN taking effect are covered: the store
    // announces `{all: true}` once it listens.
    holder.#unsubscribe = store.onObjectsChanged?.((change) => holder.#onObjectsChanged(change));
    return holder;
  }

  get current(): PolicyIndex {
    this.#current ??= PolicyIndex.fromObjects(this.#objects.values());
    return this.#current;
  }

  apply(change: ObjectChange): void {
    if (!INDEXED_KINDS.has(change.kind)) return;
    if (change.object) this.#objects.set(change.id, change.object);
    else this.#objects.delete(change.id);
    this.#appliedDuringReload?.add(change.id);
    this.#version += 1;
    this.#current = undefined;
  }

  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        for (;;) {
          const version = this.#version;
          const objects = await loadAll(this.#store);
          if (version !== this.#version) continue; // a change landed meanwhile: its row may be missing
          this.#objects = objects;
          this.#current = undefined;
          return;
        }
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** Stops following other replicas' changes. */
  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #onObjectsChanged(change: ObjectsChange): void {
    const work = change.all === true ? () => this.refresh() : () => this.#reload(change.ids);
    this.#reloads = this.#reloads.then(work).catch((error: unknown) => {
      this.#onError?.(error);
      // A lost change would otherwise stay lost until the next full refresh.
      if (change.all !== true) return this.refresh().catch((refreshError: unknown) => this.#onError?.(refreshError));
      return undefined;
    });
  }

  async #reload(ids: readonly string[]): Promise<void> {
    const written = new Set<string>();
    this.#appliedDuringReload = written;
    try {
      const found = await Promise.all(ids.map(async (id) => [id, await this.#store.getObject(id)] as const));
      let changed = false;
      for (const [id, object] of found) {
        if (written.has(id)) continue; // applied locally after our read began: newer than what we read
        if (object === undefined) changed = this.#objects.delete(id) || changed;
        else if (INDEXED_KINDS.has(object.kind)) {
          this.#objects.set(id, object);
          changed = true;
        }
      }
      // Even when nothing changed here, a full reload running now may have read older rows.
      this.#version += 1;
      if (changed) this.#current = undefined;
    } finally {
      this.#appliedDuringReload = undefined;
    }
  }
}

async function loadAll(store: Pick<StoreReader, 'listObjects'>): Promise<Map<string, StoredObject>> {
  const objects = new Map<string, StoredObject>();
  for (const kind of INDEXED_KINDS) {
    let afterId: string | undefined;
    for (;;) {
      const page = await store.listObjects({ kind, limit: 1000, ...(afterId ? { afterId } : {}) });
      for (const object of page) objects.set(object.id, object);
      if (page.length < 1000) break;
      afterId = page[page.length - 1]!.id;
    }
  }
  return objects;
}
