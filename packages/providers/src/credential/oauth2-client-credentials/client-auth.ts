/**
 * Client authentication for the token request: picks the secret `authMethod` needs and
 * turns it into an openid-client `ClientAuth`. The secrets schema accepts both fields as
 * optional (secrets are checked only by their schema), so the pairing is enforced here.
 *
 * Every error names the secret field, never its content.
 */
import { createPrivateKey } from 'node:crypto';
import { importPKCS8, type CryptoKey } from 'jose';
import { ClientSecretBasic, ClientSecretPost, PrivateKeyJwt, type ClientAuth } from 'openid-client';
import { CredentialError } from '../../errors.js';
import {
  OAUTH2_CLIENT_CREDENTIALS_TYPE,
  type OAuth2AssertionAlgorithm,
  type OAuth2AuthMethod,
  type OAuth2ClientCredentialsSecrets,
} from './config.js';

const invalid = (message: string) => new CredentialError('invalid_config', message, { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE });

/** The secret `authMethod` authenticates with; throws `invalid_config` when it is not set. */
export function secretFor(authMethod: OAuth2AuthMethod, secrets: OAuth2ClientCredentialsSecrets | undefined): string {
  const field = authMethod === 'private_key_jwt' ? 'privateKey' : 'clientSecret';
  const value: unknown = secrets?.[field];
  if (typeof value !== 'string' || value.length === 0) throw invalid(`secret ${field} is required for authMethod ${authMethod}`);
  return value;
}

const CURVE_ALGORITHMS: Record<string, OAuth2AssertionAlgorithm> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/** The assertion algorithm a key gets when none is configured: RS256 for RSA, ESxxx by curve, Ed25519. */
export function defaultSigningAlg(privateKeyPem: string): OAuth2AssertionAlgorithm {
  let keyType: string | undefined;
  let curve: string | undefined;
  try {
    const key = createPrivateKey({ key: privateKeyPem, format: 'pem' });
    keyType = key.asymmetricKeyType;
    curve = key.asymmetricKeyDetails?.namedCurve;
  } catch {
    // The parser's message may quote the input: report the field only.
    throw invalid('secret privateKey is not a PEM private key');
  }
  if (keyType === 'rsa') return 'RS256';
  if (keyType === 'rsa-pss') return 'PS256';
  if (keyType === 'ed25519') return 'Ed25519';
  const byCurve = keyType === 'ec' && curve !== undefined ? CURVE_ALGORITHMS[curve] : undefined;
  if (byCurve !== undefined) return byCurve;
  throw invalid('secret privateKey must be an RSA, P-256, P-384, P-521 or Ed25519 key');
}

export interface ClientAuthOptions {
  authMethod: OAuth2AuthMethod;
  secret: string;
  signingAlg: OAuth2AssertionAlgorithm | undefined;
}

export async function clientAuthFor({ authMethod, secret, signingAlg }: ClientAuthOptions): Promise<ClientAuth> {
  switch (authMethod) {
    case 'client_secret_basic':
      return ClientSecretBasic(secret);
    case 'client_secret_post':
      return ClientSecretPost(secret);
    case 'private_key_jwt': {
      const alg = signingAlg ?? defaultSigningAlg(secret);
      let key: CryptoKey;
      try {
        // A non-extractable CryptoKey: nothing downstream can read the key material back.
        key = await importPKCS8(secret, alg, { extractable: false });
      } catch {
        throw invalid(`secret privateKey must be a PEM PKCS#8 key usable with ${alg}`);
      }
      return PrivateKeyJwt(key);
    }
  }
}
