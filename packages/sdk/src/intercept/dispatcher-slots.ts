import { Agent, Dispatcher1Wrapper, type Dispatcher } from 'undici';

/** Where npm undici ≥ 7.30 keeps the global dispatcher. */
export const SLOT = Symbol.for('undici.globalDispatcher.2');
/** Where Node's built-in fetch (and older npm undici) reads it; undici 8 mirrors `SLOT` here. */
export const LEGACY_SLOT = Symbol.for('undici.globalDispatcher.1');
const SLOTS = [SLOT, LEGACY_SLOT] as const;

type Slots = Record<symbol, unknown>;
type DefineProperty = typeof Object.defineProperty;

/**
 * Keeps Tessera on top of the global undici dispatchers: the ones installed now, and every one
 * the application places later, in both slots. What the application placed stays in charge
 * underneath (a `ProxyAgent` still proxies); `restore()` puts back what it placed last.
 *
 * How a later dispatcher is seen: undici defines both slots as non-configurable data properties
 * (`Object.defineProperty(globalThis, slot, { value, configurable: false })`) as soon as it loads
 * — the SDK loads it too — so an accessor can no longer be put on them. Every copy and version
 * of undici, and Node's built-in one, sets them through `Object.defineProperty`, which is
 * therefore wrapped: a definition of one of the two slots stores Tessera composed onto the
 * given dispatcher instead (with the attributes asked for, so undici's own checks still hold).
 * A plain assignment (`globalThis[slot] = agent`) cannot be seen when it happens; `adopt()`
 * wraps such a dispatcher from the first request that escaped it.
 */
export class DispatcherSlots {
  readonly #interceptor: Dispatcher.DispatcherComposeInterceptor;
  /** The application's dispatcher → Tessera composed onto it (one each, stable identity). */
  readonly #composed = new WeakMap<object, Dispatcher>();
  /** Tessera's composed dispatcher → the application's underneath. */
  readonly #underneath = new WeakMap<object, unknown>();
  /** What the application placed in each slot last. */
  readonly #placed = new Map<symbol, unknown>();
  readonly #define: DefineProperty = Object.defineProperty;
  #patch: DefineProperty | undefined;
  #active = true;

  constructor(interceptor: Dispatcher.DispatcherComposeInterceptor) {
    this.#interceptor = interceptor;
  }

  install(): void {
    const slots = globalThis as unknown as Slots;
    // npm undici (which the SDK loads) has filled both slots; if something emptied one, start
    // from a plain agent as undici would.
    const current = slots[SLOT] ?? new Agent();
    this.#place(SLOT, current);
    this.#place(LEGACY_SLOT, slots[LEGACY_SLOT] ?? new Dispatcher1Wrapper(current as Dispatcher));
    this.#patchDefine();
  }

  /** Wraps a dispatcher assigned to a slot without `Object.defineProperty` (seen by the safety net). */
  adopt(): void {
    if (!this.#active) return;
    const slots = globalThis as unknown as Slots;
    for (const slot of SLOTS) {
      const value = slots[slot];
      if (value !== undefined && !this.#underneath.has(value as object)) this.#place(slot, value);
    }
  }

  /** Puts back what the application placed last; later definitions are no longer wrapped. */
  restore(): void {
    if (!this.#active) return;
    this.#active = false;
    if (Object.defineProperty === this.#patch) Object.defineProperty = this.#define;
    const slots = globalThis as unknown as Slots;
    for (const slot of SLOTS) {
      // Only where ours is still in place: what another party put there since stays.
      if (this.#underneath.has(slots[slot] as object)) this.#write(slot, this.#placed.get(slot));
    }
  }

  #place(slot: symbol, dispatcher: unknown): void {
    const { app, ours } = this.#wrap(dispatcher);
    this.#write(slot, ours);
    this.#placed.set(slot, app);
  }

  /** The application's dispatcher (`dispatcher`, or the one under it if it is ours) and ours on top. */
  #wrap(dispatcher: unknown): { app: unknown; ours: unknown } {
    if (typeof (dispatcher as Dispatcher | null)?.dispatch !== 'function') return { app: dispatcher, ours: dispatcher }; // undici refuses it
    const app = this.#underneath.has(dispatcher as object) ? this.#underneath.get(dispatcher as object) : dispatcher;
    let ours = this.#composed.get(app as object);
    if (ours === undefined) {
      ours = compose(app as Dispatcher, this.#interceptor);
      this.#composed.set(app as object, ours);
      this.#underneath.set(ours, app);
    }
    return { app, ours };
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
        const { app, ours } = self.#wrap(attributes.value);
        const result = Reflect.apply(define, Object, [target, key, { ...attributes, value: ours }]) as T; // throws what it would have
        self.#placed.set(key, app);
        return result;
      }
      return Reflect.apply(define, Object, [target, key, attributes]) as T;
    } as DefineProperty;
    this.#patch = patch;
    Object.defineProperty = patch;
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
