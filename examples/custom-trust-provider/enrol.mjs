#!/usr/bin/env node
// A stand-in for the internal enrolment service, as a command line:
//
//   node enrol.mjs enrolment-key DIR [--kid KID]
//       The enrolment service's signing key: writes DIR/enrolment-key.pem (mode 600, keep it in
//       the enrolment service only) and DIR/enrolment-key.jwk.json (its public half, for the
//       trust provider's config), and prints the public JWK.
//   node enrol.mjs machine-key DIR
//       On the machine: its own key pair. Writes DIR/machine-key.pem (mode 600, never leaves the
//       machine) and DIR/machine-key.pub.pem (sent to the enrolment service).
//   node enrol.mjs issue --enrolment DIR --machine-key-pub FILE --machine NAME --site SITE
//                        [--days N] --out FILE
//       The enrolment service signs the machine's public key with its name and site.
//   node enrol.mjs show FILE
//       Prints a certificate's payload (serial, machine, site, expiry) as JSON.
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ed25519PrivateKey, issueMachineCertificate, readCertificate } from './certificate.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    kid: { type: 'string', default: 'enrolment-1' },
    enrolment: { type: 'string' },
    'machine-key-pub': { type: 'string' },
    machine: { type: 'string' },
    site: { type: 'string' },
    days: { type: 'string', default: '30' },
    out: { type: 'string' },
  },
});

const [command, target] = positionals;
const need = (name) => {
  if (!values[name]) throw new Error(`--${name} is required`);
  return values[name];
};
const writePrivate = (path, text) => writeFileSync(path, text, { mode: 0o600, flag: 'wx' });

try {
  switch (command) {
    case 'enrolment-key': {
      if (!target) throw new Error('usage: enrol.mjs enrolment-key DIR [--kid KID]');
      mkdirSync(target, { recursive: true, mode: 0o700 });
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      writePrivate(join(target, 'enrolment-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const jwk = { kid: values.kid, ...publicKey.export({ format: 'jwk' }) };
      writeFileSync(join(target, 'enrolment-key.jwk.json'), `${JSON.stringify(jwk)}\n`);
      process.stdout.write(`${JSON.stringify(jwk)}\n`);
      break;
    }
    case 'machine-key': {
      if (!target) throw new Error('usage: enrol.mjs machine-key DIR');
      mkdirSync(target, { recursive: true, mode: 0o700 });
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      writePrivate(join(target, 'machine-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(join(target, 'machine-key.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
      process.stdout.write(`${join(target, 'machine-key.pub.pem')}\n`);
      break;
    }
    case 'issue': {
      const dir = need('enrolment');
      const enrolmentKey = ed25519PrivateKey(readFileSync(join(dir, 'enrolment-key.pem')));
      const { kid } = JSON.parse(readFileSync(join(dir, 'enrolment-key.jwk.json'), 'utf8'));
      const machinePublicKey = createPublicKey(readFileSync(need('machine-key-pub')));
      if (machinePublicKey.asymmetricKeyType !== 'ed25519') throw new Error('the machine key must be Ed25519');
      const days = Number(values.days);
      if (!Number.isInteger(days) || days < 1 || days > 365) throw new Error('--days must be 1 to 365');
      const certificate = issueMachineCertificate({
        enrolmentKey,
        kid,
        machine: need('machine'),
        site: need('site'),
        machinePublicKey,
        lifetimeSeconds: days * 86_400,
      });
      writeFileSync(need('out'), `${certificate}\n`);
      const { serial, exp } = readCertificate(certificate);
      process.stdout.write(`${JSON.stringify({ serial, machine: values.machine, site: values.site, expiresAt: new Date(exp * 1000).toISOString() })}\n`);
      break;
    }
    case 'show': {
      if (!target) throw new Error('usage: enrol.mjs show FILE');
      const payload = readCertificate(readFileSync(target, 'utf8'));
      process.stdout.write(`${JSON.stringify({ ...payload, expiresAt: new Date(payload.exp * 1000).toISOString() })}\n`);
      break;
    }
    default:
      throw new Error('usage: enrol.mjs enrolment-key|machine-key|issue|show ...');
  }
} catch (error) {
  process.stderr.write(`enrol: ${error.message}\n`);
  process.exitCode = 1;
}
