import { ConfigError, type EvidenceCollector, type ProviderRegistry } from '@tessera/providers';
import { TesseraConfigurationError } from '../errors.js';

/**
 * Which evidence collectors the SDK may use: `'auto'` (every collector in the registry, in
 * registry order), or an explicit list of collector types and/or collector objects.
 */
export type CollectorsOption = 'auto' | readonly (string | EvidenceCollector)[];

/** Resolves names up front, so a typo fails at start-up rather than at the first request. */
export function resolveCollectors(option: CollectorsOption, registry: ProviderRegistry): readonly EvidenceCollector[] {
  const entries = option === 'auto' ? registry.listEvidenceCollectors() : option;
  if (option !== 'auto' && (!Array.isArray(option) || option.length === 0)) {
    throw new TesseraConfigurationError('invalid_options', "collectors must be 'auto' or a non-empty list of collector types or collectors");
  }
  return entries.map((entry) => {
    if (typeof entry !== 'string') {
      if (typeof entry?.detect !== 'function' || typeof entry.collect !== 'function' || typeof entry.type !== 'string') {
        throw new TesseraConfigurationError('invalid_options', 'a collector must have type, detect() and collect()');
      }
      return entry;
    }
    try {
      return registry.requireEvidenceCollector(entry);
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new TesseraConfigurationError('invalid_options', `unknown evidence collector "${entry}"; registered: ${registry.listEvidenceCollectors().join(', ') || '(none)'}`);
      }
      throw error;
    }
  });
}

/**
 * The first collector, in order, whose `detect()` says it can run here. Detection runs at every
 * attestation: a token file mounted late, or an environment variable set later, is picked up.
 */
export async function pickCollector(collectors: readonly EvidenceCollector[]): Promise<EvidenceCollector> {
  for (const collector of collectors) {
    // A collector whose detection throws cannot run here; that is not the workload's failure.
    const detected = await collector.detect().catch(() => false);
    if (detected) return collector;
  }
  const tried = collectors.map((c) => c.type).join(', ') || '(none)';
  throw new TesseraConfigurationError(
    'no_evidence_collector',
    `no evidence collector can run in this environment (tried: ${tried}); mount a token for one of them or pass collectors explicitly`,
  );
}
