// Workload half: the `machine-certificate` evidence collector, for the Tessera SDK. It imports
// only `@tessera/providers/collect` (the collecting half: no schema library, nothing of the
// control plane) and the certificate format, never the trust provider: a workload loads this
// module through the package's `./collector` entry and nothing of the control plane's half.
//
// It reads the machine certificate and the machine's private key from files, again at every
// attestation (a renewed certificate is picked up without a restart), and signs a fresh proof
// for the control plane's URL. The private key never leaves the machine: only the certificate
// (public) and the one-minute proof are sent.
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { TrustError, defineEvidenceCollector } from '@tessera/providers/collect';
import { MACHINE_CERTIFICATE_TYPE, MAX_CERTIFICATE_LENGTH, createProof, ed25519PrivateKey } from './certificate.js';

export const CERTIFICATE_FILE_ENV = 'MACHINE_IDENTITY_CERT_FILE';
export const KEY_FILE_ENV = 'MACHINE_IDENTITY_KEY_FILE';
export const DEFAULT_CERTIFICATE_FILE = '/etc/machine-identity/certificate';
export const DEFAULT_KEY_FILE = '/etc/machine-identity/machine-key.pem';

function fail(code, message) {
  // Messages name files, never their content.
  return new TrustError(code, message, { provider: MACHINE_CERTIFICATE_TYPE });
}

async function readable(path) {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * @param {{ certificateFile?: string, keyFile?: string, env?: Record<string, string | undefined> }} [options]
 *   Files default to $MACHINE_IDENTITY_CERT_FILE and $MACHINE_IDENTITY_KEY_FILE, then to
 *   /etc/machine-identity/certificate and /etc/machine-identity/machine-key.pem.
 */
export function createMachineCertificateCollector(options = {}) {
  const files = () => {
    const env = options.env ?? process.env;
    return {
      certificate: options.certificateFile ?? (env[CERTIFICATE_FILE_ENV] || DEFAULT_CERTIFICATE_FILE),
      key: options.keyFile ?? (env[KEY_FILE_ENV] || DEFAULT_KEY_FILE),
    };
  };
  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: MACHINE_CERTIFICATE_TYPE,
    evidenceType: MACHINE_CERTIFICATE_TYPE,

    /** Runs here when both files can be read. */
    async detect() {
      const { certificate, key } = files();
      return (await readable(certificate)) && (await readable(key));
    },

    async collect(ctx) {
      const { certificate: certificateFile, key: keyFile } = files();
      let certificate;
      let pem;
      try {
        certificate = (await readFile(certificateFile, 'utf8')).trim();
        const info = await stat(keyFile);
        if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
          throw fail('invalid_config', `${keyFile} is readable by other users: run chmod 600 ${keyFile}`);
        }
        pem = await readFile(keyFile, 'utf8');
      } catch (error) {
        if (error instanceof TrustError) throw error;
        throw fail('trust_provider_error', `cannot read ${error.path ?? 'the machine identity files'} (${error.code ?? 'error'})`);
      }
      if (certificate.length === 0 || certificate.length > MAX_CERTIFICATE_LENGTH) throw fail('evidence_invalid', `${certificateFile} holds no usable certificate`);
      let machineKey;
      try {
        machineKey = ed25519PrivateKey(pem);
      } catch {
        throw fail('invalid_config', `${keyFile} is not an Ed25519 private key in PEM`);
      }
      return { type: MACHINE_CERTIFICATE_TYPE, certificate, proof: createProof({ machineKey, audience: ctx.audience }) };
    },
  });
}

/** The collector with its default files (or the two environment variables). */
export const machineCertificateCollector = createMachineCertificateCollector();
