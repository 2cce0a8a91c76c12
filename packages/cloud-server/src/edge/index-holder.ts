import type { ObjectChange } from '../objects/service.js';
import type { StoreReader, StoredObject } from '../store/types.js';
import { INDEXED_KINDS, PolicyIndex } from './policy-index.js';

/**
 * Keeps the objects decisions read in memory and hands out a snapshot of them. An admin write
 * patches one object (`apply`, called after its commit, before the API answers); the snapshot
 * is rebuilt from memory on the next decision, so bulk writes cost no rebuild each. `refresh()`
 * reloads everything from the store, to pick up other replicas' changes.
 */
export class PolicyIndexHolder {
  readonly #store: Pick<StoreReader, 'listObjects'>;
  #objects: Map<string, StoredObject>;
  #current: PolicyIndex | undefined;
  /** Counts applied changes, so a reload that raced with one reloads again. */
  #version = 0;
  #refreshing: Promise<void> | undefined;

  private constructor(store: Pick<StoreReader, 'listObjects'>, objects: Map<string, StoredObject>) {
    this.#store = store;
    this.#objects = objects;
  }

  static async create(store: Pick<StoreReader, 'listObjects'>): Promise<PolicyIndexHolder> {
    return new PolicyIndexHolder(store, await loadAll(store));
  }

  get current(): PolicyIndex {
    this.#current ??= PolicyIndex.fromObjects(this.#objects.values());
    return this.#current;
  }

  apply(change: ObjectChange): void {
    if (!INDEXED_KINDS.has(change.kind)) return;
    if (change.object) this.#objects.set(change.id, change.object);
    else this.#objects.delete(change.id);
    this.#version += 1;
    this.#current = undefined;
  }

  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        for (;;) {
          const version = this.#version;
          const objects = await loadAll(this.#store);
          if (version !== this.#version) continue; // a write landed meanwhile: its row may be missing
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
