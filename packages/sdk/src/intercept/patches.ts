import { syncBuiltinESMExports } from 'node:module';
import { TesseraConfigurationError } from '../errors.js';

/**
 * The one place the SDK replaces a global function: `http(s).request`/`get`, `http2.connect`,
 * `Object.defineProperty` (to see undici's global dispatcher slots being set). Every patch is
 * recorded in a process-wide table, also shared by duplicate copies of the SDK (two patches of
 * one function would inject twice): a second patch of the same property is refused with a
 * `TesseraConfigurationError` coded `already_patched`. A patch set is made whole or not at all,
 * and restored in reverse order.
 */

/** One replaced property and how to undo it. */
export interface PatchHandle<T = unknown> {
  readonly original: T;
  readonly replacement: T;
  /** Puts the original back, unless something replaced ours since (ours stays under it); frees the property for a new patch. */
  restore(): void;
}

/** The patches one installer made together, restored together (last made, first restored). */
export interface PatchSet {
  readonly handles: readonly PatchHandle[];
  restore(): void;
}

/** What is patched in this process, by whom (for the refusal's message). */
type Table = WeakMap<object, Map<PropertyKey, string>>;
const kTable = Symbol.for('tessera.intercept.patches.v1');

function table(): Table {
  const slot = globalThis as unknown as Record<symbol, Table | undefined>;
  // The table lives on globalThis, not in this module: duplicate copies of the SDK share it.
  let found = slot[kTable];
  if (found === undefined) {
    found = new WeakMap();
    Reflect.defineProperty(globalThis, kTable, { value: found, enumerable: false, configurable: false, writable: false });
  }
  return found;
}

/**
 * Replaces `owner[key]` with `make(original)`; `by` names the patching feature in a refusal. Uses
 * `Reflect.defineProperty`, never `Object.defineProperty`, which may be patched itself.
 */
export function patch<O extends object, K extends keyof O & PropertyKey>(owner: O, key: K, make: (original: O[K]) => O[K], by: string): PatchHandle<O[K]> {
  const patched = table();
  let keys = patched.get(owner);
  const holder = keys?.get(key);
  if (holder !== undefined) {
    const message = holder === by ? `${by} is already installed in this process; uninstall it first` : `${by}: ${String(key)} is patched already in this process (by ${holder}); uninstall that first`;
    throw new TesseraConfigurationError('already_patched', message);
  }
  const own = Reflect.getOwnPropertyDescriptor(owner, key);
  const original = owner[key];
  const replacement = make(original);
  let defined: boolean;
  if (own === undefined) {
    // Inherited: an own property shadows it, and restore() deletes it.
    defined = Reflect.defineProperty(owner, key, { value: replacement, writable: true, enumerable: true, configurable: true });
  } else if (!('value' in own)) {
    throw new TypeError(`${by}: ${String(key)} is an accessor; only data properties are patched`);
  } else {
    defined = Reflect.defineProperty(owner, key, { ...own, value: replacement });
  }
  if (!defined) throw new TypeError(`${by}: ${String(key)} cannot be replaced (not writable, not configurable)`);
  if (keys === undefined) {
    keys = new Map();
    patched.set(owner, keys);
  }
  keys.set(key, by);

  let restored = false;
  return {
    original,
    replacement,
    restore: () => {
      if (restored) return;
      restored = true;
      patched.get(owner)?.delete(key);
      const now = Reflect.getOwnPropertyDescriptor(owner, key);
      if (now === undefined || now.value !== replacement) return; // replaced over ours since: left as it is
      if (own === undefined) Reflect.deleteProperty(owner, key);
      else Reflect.defineProperty(owner, key, own);
    },
  };
}

/**
 * Makes several patches as one: if one is refused, those already made are restored and the
 * refusal is thrown. Node's built-in modules are patched on their CommonJS exports; their ESM
 * named exports (`import { request } from 'node:http'`) follow after each change.
 */
export function patchSet(make: (add: typeof patch) => void): PatchSet {
  const handles: PatchHandle[] = [];
  const restore = (): void => {
    while (handles.length > 0) handles.pop()!.restore();
    syncBuiltinESMExports();
  };
  const add: typeof patch = (owner, key, replace, by) => {
    const handle = patch(owner, key, replace, by);
    handles.push(handle as PatchHandle);
    return handle;
  };
  try {
    make(add);
  } catch (error) {
    restore();
    throw error;
  }
  syncBuiltinESMExports();
  const made = [...handles];
  return { handles: made, restore };
}
