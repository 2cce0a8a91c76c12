import { types } from 'node:util';
import type { Dispatcher } from 'undici';
import { patchSet, type PatchSet } from './patches.js';

/** Where npm undici ≥ 7.30 keeps the global dispatcher. */
export const SLOT = Symbol.for('undici.globalDispatcher.2');
/** Where Node's built-in fetch (and older npm undici) reads it; undici 8 mirrors `SLOT` here. */
export const LEGACY_SLOT = Symbol.for('undici.globalDispatcher.1');
const SLOTS = [SLOT, LEGACY_SLOT] as const;

type Slots = Record<symbol, unknown>;
type DefineProperty = typeof Object.defineProperty;
type DispatchFn = Dispatcher['dispatch'];

/**
 * Keeps Tessera on top of the global undici dispatchers: the ones installed now, and every one
 * the application places later, in both slots. What the application placed stays in charge
 * underneath (a `ProxyAgent` still proxies) and stays what `getGlobalDispatcher()` returns:
 * Tessera's interceptor goes into the dispatcher itself, as its own `dispatch` method over the
 * class's. A dispatcher that cannot take it (a `Proxy`, such as what `compose()` returns, or a
 * frozen object) is composed onto instead, and the composition takes its place in the slot.
 * `restore()` takes the interceptor out again and puts back what the application placed last.
 *
 * How a later dispatcher is seen: undici defines both slots as non-configurable data properties
 * (`Object.defineProperty(globalThis, slot, { value, configurable: false })`) as soon as it loads
 * — Node's bundled undici too, at the first fetch — so an accessor cannot be put on them. Every
 * copy and version of undici, and Node's built-in one, sets them through `Object.defineProperty`, which is
 * therefore wrapped: a definition of one of the two slots is seen before it is made (with the
 * attributes asked for, so undici's own checks still hold). A plain assignment
 * (`globalThis[slot] = agent`) cannot be seen when it happens; `adopt()` takes such a dispatcher
 * in from the first request that escaped it.
 */
export class DispatcherSlots {
  readonly #interceptor: Dispatcher.DispatcherComposeInterceptor;
  /** A dispatcher that carries the interceptor → that `dispatch` of ours. */
  readonly #carrying = new WeakMap<object, DispatchFn>();
  /** Every dispatcher given the interceptor, for restore(). */
  readonly #given = new Set<WeakRef<object>>();
  /** The application's dispatcher → Tessera composed onto it, where it could not carry it. */
  readonly #composed = new WeakMap<object, Dispatcher>();
  /** Such a composition → the application's dispatcher underneath. */
  readonly #underneath = new WeakMap<object, unknown>();
  /** What the application placed in each slot last. */
  readonly #placed = new Map<symbol, unknown>();
  readonly #define: DefineProperty = Object.defineProperty;
  #patches: PatchSet | undefined;
  #active = true;

  constructor(interceptor: Dispatcher.DispatcherComposeInterceptor) {
    this.#interceptor = interceptor;
  }

  install(): void {
    const slots = globalThis as unknown as Slots;
    // Before any dispatcher is touched: refused (intercepted already in this process), nothing changed.
    this.#patchDefine();
    // Whatever is there now carries the interceptor. npm undici is not loaded for it: Node's
    // built-in undici fills both slots with its own agent when the first fetch loads it, and npm
    // undici when the application loads it, both through Object.defineProperty, seen by the patch.
    // The built-in fetch then goes straight through Node's own dispatcher.
    for (const slot of SLOTS) if (slots[slot] !== undefined) this.#place(slot, slots[slot]);
  }

  /** Takes in a dispatcher assigned to a slot without `Object.defineProperty` (seen by the safety net). */
  adopt(): void {
    if (!this.#active) return;
    const slots = globalThis as unknown as Slots;
    for (const slot of SLOTS) {
      const value = slots[slot];
      if (value !== undefined && !this.#isOurs(value)) this.#place(slot, value);
    }
  }

  /** Takes the interceptor out of every dispatcher and puts back what the application placed last. */
  restore(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#patches?.restore();
    for (const reference of this.#given) {
      const dispatcher = reference.deref() as Record<string, unknown> | undefined;
      if (dispatcher !== undefined && Object.hasOwn(dispatcher, 'dispatch') && dispatcher.dispatch === this.#carrying.get(dispatcher)) delete dispatcher.dispatch;
    }
    this.#given.clear();
    const slots = globalThis as unknown as Slots;
    for (const slot of SLOTS) {
      // Only a composition of ours is replaced: what another party put there since stays.
      if (this.#underneath.has(slots[slot] as object)) this.#write(slot, this.#placed.get(slot));
    }
  }

  #isOurs(value: unknown): boolean {
    const object = value as Dispatcher;
    return this.#underneath.has(object) || (this.#carrying.has(object) && object.dispatch === this.#carrying.get(object));
  }

  #place(slot: symbol, dispatcher: unknown): void {
    const { app, ours } = this.#take(dispatcher);
    if (ours !== dispatcher) this.#write(slot, ours);
    this.#placed.set(slot, app);
  }

  /**
   * The application's dispatcher (the one under a composition of ours) and what goes in the slot:
   * the same dispatcher, now carrying the interceptor, or a composition onto it.
   */
  #take(dispatcher: unknown): { app: unknown; ours: unknown } {
    if (typeof (dispatcher as Dispatcher | null)?.dispatch !== 'function') return { app: dispatcher, ours: dispatcher }; // undici refuses it
    if (this.#underneath.has(dispatcher as object)) return { app: this.#underneath.get(dispatcher as object), ours: dispatcher };
    const app = dispatcher as Dispatcher;
    if (this.#carry(app)) return { app, ours: app };
    let ours = this.#composed.get(app);
    if (ours === undefined) {
      ours = compose(app, this.#interceptor);
      this.#composed.set(app, ours);
      this.#underneath.set(ours, app);
    }
    return { app, ours };
  }

  /** Puts the interceptor into the dispatcher as its own `dispatch`; `false` where it cannot go. */
  #carry(dispatcher: Dispatcher): boolean {
    if (this.#isOurs(dispatcher)) return true;
    if (types.isProxy(dispatcher) || !Object.isExtensible(dispatcher) || Object.hasOwn(dispatcher, 'dispatch')) return false;
    const dispatch = this.#interceptor(dispatcher.dispatch.bind(dispatcher));
    try {
      this.#define(dispatcher, 'dispatch', { value: dispatch, writable: true, enumerable: false, configurable: true });
    } catch {
      return false;
    }
    this.#carrying.set(dispatcher, dispatch);
    this.#given.add(new WeakRef(dispatcher));
    return true;
  }

  #write(slot: symbol, value: unknown): void {
    try {
      // The attributes undici gives the slot: it can still replace the value later.
      Reflect.apply(this.#define, Object, [globalThis, slot, { value, writable: true, enumerable: false, configurable: false }]);
    } catch {
      // A frozen global: nothing can be placed there (undici then keeps its own copy).
    }
  }

  #patchDefine(): void {
    const define = this.#define;
    const self = this;
    const patch = function defineProperty<T>(target: T, key: PropertyKey, attributes: PropertyDescriptor & ThisType<unknown>): T {
      if (self.#active && target === globalThis && (key === SLOT || key === LEGACY_SLOT) && isDataDescriptor(attributes)) {
        const { app, ours } = self.#take(attributes.value);
        const result = Reflect.apply(define, Object, [target, key, ours === attributes.value ? attributes : { ...attributes, value: ours }]) as T; // throws what it would have
        self.#placed.set(key, app);
        return result;
      }
      return Reflect.apply(define, Object, [target, key, attributes]) as T;
    } as DefineProperty;
    this.#patches = patchSet((add) => add(Object, 'defineProperty', () => patch, 'undici interception'));
  }
}

function isDataDescriptor(attributes: unknown): attributes is PropertyDescriptor {
  return typeof attributes === 'object' && attributes !== null && 'value' in attributes && !('get' in attributes) && !('set' in attributes);
}

/** `dispatcher.compose(interceptor)`, or the same by hand for a dispatcher without `compose`. */
function compose(dispatcher: Dispatcher, interceptor: Dispatcher.DispatcherComposeInterceptor): Dispatcher {
  if (typeof dispatcher.compose === 'function') return dispatcher.compose(interceptor);
  const dispatch = interceptor(dispatcher.dispatch.bind(dispatcher));
  return new Proxy(dispatcher, { get: (target, key) => (key === 'dispatch' ? dispatch : Reflect.get(target, key)) });
}
