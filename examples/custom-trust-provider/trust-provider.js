// Control-plane half: the `machine-certificate` trust provider. Loaded with
//   tessera-cloud start --plugin ./examples/custom-trust-provider/index.js
//
// It verifies, in this order, and refuses at the first failure:
//   1. the certificate: its format, an enrolment key named in the config, the Ed25519 signature,
//      iat/exp (with clock tolerance), and that its serial is not revoked;
//   2. the proof: signed by the machine key the certificate names, for this control plane
//      (`aud`), made within `proofMaxAgeSeconds`, and never seen before (`jti`).
// The enrolment service's public keys sit in the config: they are not secret, so an admin read
// may show them. No private key or shared secret is ever given to the control plane.
import { TrustError, defineTrustProvider } from '@tessera/providers';
import {
  CERTIFICATE_PREFIX,
  MACHINE_CERTIFICATE_TYPE,
  MAX_CERTIFICATE_LENGTH,
  MAX_PROOF_LENGTH,
  PROOF_PREFIX,
  certificateProblem,
  decodeSigned,
  ed25519PublicKey,
  patterns,
} from './certificate.js';

export { MACHINE_CERTIFICATE_TYPE };

const DEFAULT_PROOF_MAX_AGE_SECONDS = 60;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
const MAX_REMEMBERED_PROOFS = 100_000;

/** The config, as a plain JSON Schema (plain schemas get no `default`s applied: see verify). */
export const machineCertificateConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['enrolmentKeys'],
  properties: {
    enrolmentKeys: {
      description: "The enrolment service's Ed25519 public keys, as JWKs with a kid.",
      type: 'array',
      minItems: 1,
      maxItems: 10,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['kid', 'kty', 'crv', 'x'],
        properties: {
          kid: { type: 'string', pattern: patterns.KID.source },
          kty: { type: 'string', enum: ['OKP'] },
          crv: { type: 'string', enum: ['Ed25519'] },
          x: { type: 'string', pattern: patterns.X.source },
        },
      },
    },
    revokedSerials: {
      description: 'Serials of certificates to refuse before they expire.',
      type: 'array',
      maxItems: 10_000,
      uniqueItems: true,
      items: { type: 'string', pattern: patterns.SERIAL.source },
    },
    audience: { description: 'Expected "aud" of proofs; defaults to the control plane\'s public URL.', type: 'string', minLength: 1, maxLength: 2048 },
    proofMaxAgeSeconds: { type: 'integer', minimum: 5, maximum: 300 },
    clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 300 },
  },
};

function refuse(message) {
  return new TrustError('evidence_invalid', message, { provider: MACHINE_CERTIFICATE_TYPE });
}

/**
 * A new trust provider object. Each one remembers the proofs it accepted (per control-plane
 * process), so that a captured proof cannot be replayed while it is still fresh.
 */
export function createMachineCertificateTrustProvider() {
  const keys = new Map(); // x -> KeyObject
  const keyFor = (x) => {
    let key = keys.get(x);
    if (key === undefined) {
      key = ed25519PublicKey(x);
      if (keys.size > 1000) keys.clear();
      keys.set(x, key);
    }
    return key;
  };
  const seenProofs = new Map(); // jti -> forget after (epoch seconds)
  const remember = (jti, until, now) => {
    if (seenProofs.size >= MAX_REMEMBERED_PROOFS) {
      for (const [id, forgetAt] of seenProofs) if (forgetAt < now) seenProofs.delete(id);
      // Still full: refuse rather than forget proofs that are still fresh.
      if (seenProofs.size >= MAX_REMEMBERED_PROOFS) throw new TrustError('trust_provider_error', 'too many recent proofs', { provider: MACHINE_CERTIFICATE_TYPE });
    }
    seenProofs.set(jti, until);
  };

  return defineTrustProvider({
    specificationVersion: 'v1',
    type: MACHINE_CERTIFICATE_TYPE,
    evidenceType: MACHINE_CERTIFICATE_TYPE, // evidence: { type: 'machine-certificate', certificate, proof }
    configSchema: machineCertificateConfigSchema,

    // Checks a schema cannot express, run on admin writes.
    validate(config) {
      const problems = [];
      const kids = config.enrolmentKeys.map((key) => key.kid);
      if (new Set(kids).size !== kids.length) problems.push('enrolmentKeys: kids must be unique');
      config.enrolmentKeys.forEach((key, index) => {
        try {
          ed25519PublicKey(key.x);
        } catch {
          problems.push(`enrolmentKeys[${index}]: not a usable Ed25519 public key`);
        }
      });
      return problems;
    },

    // A machine certificate names no issuer (JWT evidence would return its configured `iss`
    // values): every machine-certificate evidence is asked of this provider.
    acceptedIssuers: () => null,

    async verify(evidence, config, ctx) {
      const now = Math.floor(ctx.now().getTime() / 1000);
      const tolerance = config.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
      const maxAge = config.proofMaxAgeSeconds ?? DEFAULT_PROOF_MAX_AGE_SECONDS;
      if (typeof evidence.certificate !== 'string' || typeof evidence.proof !== 'string') {
        throw refuse('evidence must be { type: "machine-certificate", certificate, proof }');
      }

      // 1. The certificate.
      let certificate;
      try {
        certificate = decodeSigned(CERTIFICATE_PREFIX, evidence.certificate, MAX_CERTIFICATE_LENGTH, (payload) => {
          const enrolmentKey = config.enrolmentKeys.find((key) => key.kid === payload.kid);
          if (enrolmentKey === undefined) throw new Error('issued by an unknown enrolment key');
          return keyFor(enrolmentKey.x);
        });
      } catch (error) {
        throw refuse(`certificate: ${error.message}`);
      }
      const problem = certificateProblem(certificate);
      if (problem !== undefined) throw refuse(`certificate: ${problem}`);
      if (certificate.iat > now + tolerance) throw refuse('certificate: issued in the future');
      if (certificate.exp <= now - tolerance) {
        throw new TrustError('evidence_expired', 'certificate has expired', { provider: MACHINE_CERTIFICATE_TYPE });
      }
      if ((config.revokedSerials ?? []).includes(certificate.serial)) throw refuse('certificate: revoked');

      // 2. The proof: the machine holds the private half of the certified key, now, for us.
      let proof;
      try {
        proof = decodeSigned(PROOF_PREFIX, evidence.proof, MAX_PROOF_LENGTH, () => keyFor(certificate.key));
      } catch (error) {
        throw refuse(`proof: ${error.message}`);
      }
      if (proof.aud !== (config.audience ?? ctx.audience)) throw refuse('proof: "aud" mismatch');
      if (!Number.isSafeInteger(proof.iat) || proof.iat > now + tolerance || proof.iat < now - maxAge - tolerance) {
        throw refuse('proof: too old or issued in the future');
      }
      if (typeof proof.jti !== 'string' || !patterns.JTI.test(proof.jti)) throw refuse('proof: "jti" is invalid');
      if (seenProofs.has(proof.jti)) throw refuse('proof: already used');
      remember(proof.jti, proof.iat + maxAge + tolerance, now);

      return {
        claims: {
          'machine.name': certificate.machine,
          'machine.site': certificate.site,
          'machine.serial': certificate.serial,
          'machine.enrolmentKeyId': certificate.kid,
        },
        // The edge token never outlives the certificate.
        expiresAt: new Date(certificate.exp * 1000),
        subject: `machine:${certificate.site}/${certificate.machine}`,
      };
    },
  });
}

export const machineCertificateTrustProvider = createMachineCertificateTrustProvider();
