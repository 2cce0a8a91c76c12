// @example/tessera-machine-certificate: a custom Tessera trust provider and its evidence collector.
//
// The control plane loads this module as a plugin:
//   tessera-cloud start --plugin ./examples/custom-trust-provider/index.js
// Workloads use the collector through the SDK (`./register.js`, or `init({ collectors: [...] })`).
import { machineCertificateCollector } from './collector.js';
import { machineCertificateTrustProvider } from './trust-provider.js';

export { issueMachineCertificate, readCertificate } from './certificate.js';
export {
  CERTIFICATE_FILE_ENV,
  DEFAULT_CERTIFICATE_FILE,
  DEFAULT_KEY_FILE,
  KEY_FILE_ENV,
  createMachineCertificateCollector,
  machineCertificateCollector,
} from './collector.js';
export {
  MACHINE_CERTIFICATE_TYPE,
  createMachineCertificateTrustProvider,
  machineCertificateConfigSchema,
  machineCertificateTrustProvider,
} from './trust-provider.js';

// The plugin form the control plane reads. It registers the trust provider; the collector is
// listed too (the server accepts collectors but does not use them: they run in the SDK).
export default {
  trustProviders: [machineCertificateTrustProvider],
  evidenceCollectors: [machineCertificateCollector],
};
