/**
 * `@tessera/providers/collect`: the collecting half, for the workload side (the SDK, and custom
 * collectors). It holds the collector contract, `defineEvidenceCollector`, the errors and the
 * built-in collectors' loaders — nothing a verifier or an issuer needs: no schema compiler, no
 * JWT verification, no cloud SDK. Each built-in collector also has a subpath of its own,
 * `@tessera/providers/trust/<provider>/collect`.
 */
export { type CollectContext, defineEvidenceCollector, type Evidence, type EvidenceCollector, type SpecificationVersion } from './collector-contract.js';
export { builtinCollectorLoaders, type CollectorLoader } from './collectors.js';
export * from './errors.js';
export { loadOptionalDependency, type OptionalDependencyOptions } from './optional-dependency.js';
