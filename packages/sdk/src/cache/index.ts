export {
  CredentialCache,
  type CredentialCacheOptions,
  type CredentialFetcher,
  type CredentialKey,
  type IssuedCredential,
} from './credential-cache.js';
