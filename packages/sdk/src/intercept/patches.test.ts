import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TesseraConfigurationError } from '../errors.js';
import type { RequestGate } from '../runtime/gate.js';
import { installGlobalDispatcher } from './global.js';
import { installHttp2Interception } from './http2.js';
import { installNodeHttpInterception } from './node-http/index.js';
import { patch, patchSet } from './patches.js';

const undos: Array<() => void> = [];
afterEach(() => {
  while (undos.length > 0) undos.pop()!();
});

const passing: RequestGate = { tryAdmit: () => undefined, admit: async () => undefined, rejected() {}, finished() {}, bypassed: () => false };

function refusal(action: () => unknown): TesseraConfigurationError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(TesseraConfigurationError);
    return error as TesseraConfigurationError;
  }
  throw new Error('not refused');
}

describe('patch()', () => {
  it('replaces the property with what make() returns from the original', () => {
    const original = () => 'original';
    const owner = { run: original };
    const handle = patch(owner, 'run', (before) => () => `patched ${before()}`, 'test');
    undos.push(handle.restore);
    expect(owner.run()).toBe('patched original');
    expect(handle.original).toBe(original);
    expect(handle.replacement).toBe(owner.run);
  });

  it('refuses a second patch of the same property (already_patched), and the first stays', () => {
    const owner = { run: () => 'original' };
    const first = patch(owner, 'run', () => () => 'first', 'feature A');
    undos.push(first.restore);
    const error = refusal(() => patch(owner, 'run', () => () => 'second', 'feature B'));
    expect(error.code).toBe('already_patched');
    expect(error.message).toBe('feature B: run is patched already in this process (by feature A); uninstall that first');
    expect(owner.run()).toBe('first');
    // The same feature twice reads as installed twice.
    expect(refusal(() => patch(owner, 'run', () => () => 'again', 'feature A')).message).toBe('feature A is already installed in this process; uninstall it first');
  });

  it('restore() puts back the exact original and its attributes; the property can be patched again', () => {
    const original = function run(): string {
      return 'original';
    };
    const owner = {};
    Object.defineProperty(owner, 'run', { value: original, writable: true, enumerable: false, configurable: true });
    const descriptor = Object.getOwnPropertyDescriptor(owner, 'run');
    const handle = patch(owner as { run: () => string }, 'run', () => () => 'patched', 'test');
    expect(Object.getOwnPropertyDescriptor(owner, 'run')?.enumerable).toBe(false);
    handle.restore();
    expect(Object.getOwnPropertyDescriptor(owner, 'run')).toEqual(descriptor);
    expect((owner as { run: unknown }).run).toBe(original);
    handle.restore(); // twice: nothing more
    undos.push(patch(owner as { run: () => string }, 'run', () => () => 'again', 'test').restore);
  });

  it('an inherited property is shadowed, and restore() removes the shadow', () => {
    const proto = { run: () => 'inherited' };
    const owner = Object.create(proto) as typeof proto;
    const handle = patch(owner, 'run', () => () => 'patched', 'test');
    expect(Object.hasOwn(owner, 'run')).toBe(true);
    handle.restore();
    expect(Object.hasOwn(owner, 'run')).toBe(false);
    expect(owner.run).toBe(proto.run);
  });

  it('something that replaced ours since stays in place; the property is free again', () => {
    const owner = { run: () => 'original' };
    const handle = patch(owner, 'run', () => () => 'ours', 'test');
    const theirs = () => 'theirs';
    owner.run = theirs;
    handle.restore();
    expect(owner.run).toBe(theirs);
    undos.push(patch(owner, 'run', () => () => 'ours again', 'test').restore);
  });

  it('a property that cannot be replaced is refused with a TypeError, and is not recorded', () => {
    const owner = {};
    Object.defineProperty(owner, 'run', { value: () => 'fixed', writable: false, configurable: false });
    expect(() => patch(owner as { run: () => string }, 'run', () => () => 'patched', 'test')).toThrow(TypeError);
    const getter = { get run() {
      return 'x';
    } };
    expect(() => patch(getter, 'run', () => 'patched', 'test')).toThrow(TypeError);
  });

  it('the table is shared by duplicate copies of the module (a second copy of the SDK)', async () => {
    const owner = { run: () => 'original' };
    undos.push(patch(owner, 'run', () => () => 'ours', 'copy one').restore);
    vi.resetModules();
    const copy = (await import('./patches.js')) as typeof import('./patches.js');
    expect(copy.patch).not.toBe(patch);
    expect(refusal(() => copy.patch(owner, 'run', () => () => 'theirs', 'copy two')).code).toBe('already_patched');
  });
});

describe('patchSet()', () => {
  it('restores in reverse order: last patched, first restored', () => {
    const order: string[] = [];
    const target: Record<string, () => string> = { a: () => 'a', b: () => 'b', c: () => 'c' };
    const owner = new Proxy(target, {
      defineProperty(object, key, attributes) {
        order.push(String(key));
        return Reflect.defineProperty(object, key, attributes);
      },
    });
    const originals = [target.a, target.b, target.c];
    const set = patchSet((add) => {
      for (const key of ['a', 'b', 'c']) add(owner, key, () => () => `patched ${key}`, 'test');
    });
    expect(order).toEqual(['a', 'b', 'c']);
    order.length = 0;
    set.restore();
    expect(order).toEqual(['c', 'b', 'a']);
    expect(set.handles.map((handle) => handle.original)).toStrictEqual(originals);
    expect([target.a, target.b, target.c].every((fn, i) => fn === originals[i])).toBe(true);
  });

  it('all or none: a refused patch restores the ones made before it', () => {
    const owner = { a: () => 'a', b: () => 'b' };
    const originalA = owner.a;
    undos.push(patch(owner, 'b', () => () => 'taken', 'other').restore);
    expect(() =>
      patchSet((add) => {
        add(owner, 'a', () => () => 'patched a', 'test');
        add(owner, 'b', () => () => 'patched b', 'test');
      }),
    ).toThrow(/patched already/);
    expect(owner.a).toBe(originalA);
    expect(owner.b()).toBe('taken');
  });
});

describe('the interceptors patch through the registry', () => {
  it('node:http: installing twice is refused; uninstall puts back the exact originals', () => {
    const before = [http.request, http.get, https.request, https.get];
    const uninstall = installNodeHttpInterception(passing);
    undos.push(uninstall);
    expect([http.request, http.get, https.request, https.get].some((fn, i) => fn === before[i])).toBe(false);
    expect(refusal(() => installNodeHttpInterception(passing)).code).toBe('already_patched');
    uninstall();
    expect([http.request, http.get, https.request, https.get].every((fn, i) => fn === before[i])).toBe(true);
    undos.push(installNodeHttpInterception(passing)); // and again after it
  });

  it('node:http2: installing twice is refused; uninstall puts back the exact original', () => {
    const before = http2.connect;
    const uninstall = installHttp2Interception(passing);
    undos.push(uninstall);
    expect(http2.connect).not.toBe(before);
    expect(refusal(() => installHttp2Interception(passing)).code).toBe('already_patched');
    uninstall();
    expect(http2.connect).toBe(before);
  });

  it('the global dispatcher: installing twice is refused before any dispatcher is touched; uninstall puts back Object.defineProperty', () => {
    const before = Object.defineProperty;
    const uninstall = installGlobalDispatcher(passing);
    undos.push(uninstall);
    expect(Object.defineProperty).not.toBe(before);
    const slots = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')].map((slot) => (globalThis as Record<symbol, unknown>)[slot]);
    expect(refusal(() => installGlobalDispatcher(passing)).code).toBe('already_patched');
    const after = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')].map((slot) => (globalThis as Record<symbol, unknown>)[slot]);
    expect(after.every((dispatcher, i) => dispatcher === slots[i])).toBe(true);
    uninstall();
    expect(Object.defineProperty).toBe(before);
  });
});
