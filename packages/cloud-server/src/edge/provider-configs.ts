import { ConfigError, validateProviderConfig, type TrustProvider } from '@tessera/providers';
import type { IndexedProvider } from './policy-index.js';

type Configurable = Pick<TrustProvider, 'configSchema' | 'validate'>;

/**
 * Provider configs as the providers expect them: validated, with schema defaults filled in.
 * Done once per object of a policy snapshot (the snapshot's objects are the cache keys), so a
 * decision does not re-validate.
 */
export class ProviderConfigs {
  readonly #cache = new WeakMap<IndexedProvider, unknown>();

  get(indexed: IndexedProvider, provider: Configurable): any {
    if (this.#cache.has(indexed)) return this.#cache.get(indexed);
    const result = validateProviderConfig(provider, indexed.config);
    if (!result.ok) {
      // Stored configs were valid when written; a provider upgrade may have tightened its schema.
      throw new ConfigError('invalid_config', `${indexed.type} "${indexed.name}" has a config its provider no longer accepts`);
    }
    this.#cache.set(indexed, result.value);
    return result.value;
  }
}
