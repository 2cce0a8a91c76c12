import { builtinCollectorLoaders, type CollectorLoader, type EvidenceCollector } from '@tessera/providers/collect';
import { TesseraConfigurationError } from '../errors.js';

/**
 * Which evidence collectors the SDK may use: `'auto'` (every built-in collector, or every
 * collector of `registry`, in their order), or an explicit list of collector types and/or
 * collector objects.
 */
export type CollectorsOption = 'auto' | readonly (string | EvidenceCollector)[];

/**
 * Where collector names are looked up instead of the built-ins: any object with these two
 * methods, such as a `ProviderRegistry` of `@tessera/providers` (which, unlike the built-in
 * list, loads the control plane's half of every provider too).
 */
export interface EvidenceCollectorSource {
  listEvidenceCollectors(): string[];
  getEvidenceCollector(type: string): EvidenceCollector | undefined;
}

/**
 * Resolves names up front, so a typo fails at start-up rather than at the first request. A
 * built-in collector's module is loaded only when it is needed: the first time it is asked
 * whether it can run here.
 */
export function resolveCollectors(option: CollectorsOption, source?: EvidenceCollectorSource): readonly CollectorLoader[] {
  if (option !== 'auto' && (!Array.isArray(option) || option.length === 0)) {
    throw new TesseraConfigurationError('invalid_options', "collectors must be 'auto' or a non-empty list of collector types or collectors");
  }
  const known = source === undefined ? builtinCollectorLoaders : source.listEvidenceCollectors().map((type) => fromSource(source, type));
  if (option === 'auto') return known;
  return option.map((entry) => {
    if (typeof entry !== 'string') {
      if (typeof entry?.detect !== 'function' || typeof entry.collect !== 'function' || typeof entry.type !== 'string') {
        throw new TesseraConfigurationError('invalid_options', 'a collector must have type, detect() and collect()');
      }
      return { type: entry.type, load: () => Promise.resolve(entry) };
    }
    const loader = known.find((candidate) => candidate.type === entry);
    if (loader === undefined) {
      throw new TesseraConfigurationError('invalid_options', `unknown evidence collector "${entry}"; registered: ${known.map((candidate) => candidate.type).join(', ') || '(none)'}`);
    }
    return loader;
  });
}

function fromSource(source: EvidenceCollectorSource, type: string): CollectorLoader {
  return { type, load: () => Promise.resolve(source.getEvidenceCollector(type)!) };
}

/**
 * The first collector, in order, whose `detect()` says it can run here. Detection runs at every
 * attestation: a token file mounted late, or an environment variable set later, is picked up.
 */
export async function pickCollector(collectors: readonly CollectorLoader[]): Promise<EvidenceCollector> {
  for (const loader of collectors) {
    const collector = await loader.load();
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
