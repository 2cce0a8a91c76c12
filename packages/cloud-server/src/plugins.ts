import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AccessCondition, CredentialProvider, EvidenceCollector, ProviderRegistry, TrustProvider } from '@tessera/providers';

/**
 * A plugin is an ES module that adds providers to the registry, in either form:
 *
 *   export function register(registry) { registry.registerTrustProvider(myProvider) }
 *   export default { trustProviders: [...], credentialProviders: [...], accessConditions: [...] }
 *
 * Custom providers go through exactly the registration (and its checks) the built-ins do.
 */
export interface PluginModule {
  register?: (registry: ProviderRegistry) => void | Promise<void>;
  trustProviders?: TrustProvider[];
  evidenceCollectors?: EvidenceCollector[];
  credentialProviders?: CredentialProvider[];
  accessConditions?: AccessCondition[];
}

export async function loadPlugins(specifiers: readonly string[], registry: ProviderRegistry, cwd = process.cwd()): Promise<void> {
  for (const specifier of specifiers) {
    const url = specifier.startsWith('.') || isAbsolute(specifier) ? pathToFileURL(resolve(cwd, specifier)).href : specifier;
    let loaded: Record<string, unknown>;
    try {
      loaded = (await import(url)) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`plugin "${specifier}" could not be loaded: ${(error as Error).message}`, { cause: error });
    }
    const plugin = (typeof loaded.register === 'function' ? loaded : (loaded.default ?? loaded)) as PluginModule;
    try {
      if (typeof plugin.register === 'function') await plugin.register(registry);
      for (const provider of plugin.trustProviders ?? []) registry.registerTrustProvider(provider);
      for (const collector of plugin.evidenceCollectors ?? []) registry.registerEvidenceCollector(collector);
      for (const provider of plugin.credentialProviders ?? []) registry.registerCredentialProvider(provider);
      for (const condition of plugin.accessConditions ?? []) registry.registerAccessCondition(condition);
    } catch (error) {
      throw new Error(`plugin "${specifier}": ${(error as Error).message}`, { cause: error });
    }
  }
}
