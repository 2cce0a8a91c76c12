import { readFileSync } from 'node:fs';

/**
 * A self-signed certificate for localhost / 127.0.0.1, valid 2020–2120 (test use only): for
 * loopback HTTPS and HTTP/2 targets. Clients trust it by passing `TEST_CERT` as their `ca`.
 * One copy for every package's tests, in test/fixtures/tls/, where processes that need a file
 * (`NODE_EXTRA_CA_CERTS`) find it too.
 */
export const TEST_CERT = readFileSync(new URL('../../../../test/fixtures/tls/localhost-cert.pem', import.meta.url), 'utf8');
export const TEST_KEY = readFileSync(new URL('../../../../test/fixtures/tls/localhost-key.pem', import.meta.url), 'utf8');
