/**
 * Collector half of `oidc`: hands the cloud an OIDC token the workload already has, read
 * from a file the platform keeps fresh (`tokenFile` or `TESSERA_OIDC_TOKEN_FILE`) or
 * returned by `getToken` (a CI system's token request, a cloud metadata call ...). The token
 * must be minted for the cloud's audience, which `getToken` receives.
 */
import { type EvidenceCollector, defineEvidenceCollector } from '../../collector-contract.js';
import { TrustError } from '../../errors.js';
import { isReadableFile, readTokenFile } from '../jwt/token-file.js';
import { MAX_JWT_EVIDENCE_BYTES } from '../jwt/evidence.js';
import { OIDC_EVIDENCE_TYPE, OIDC_TYPE } from './evidence.js';

export const OIDC_TOKEN_FILE_ENV = 'TESSERA_OIDC_TOKEN_FILE';
/** The token itself in the environment, for platforms that hand it over that way (short-lived jobs). */
export const OIDC_TOKEN_ENV = 'TESSERA_OIDC_TOKEN';

export interface OidcCollectorOptions {
  /** File holding the token; read on every collect. Default: `$TESSERA_OIDC_TOKEN_FILE`. */
  tokenFile?: string;
  /** Returns a token for `audience`; takes precedence over the file. */
  getToken?: (audience: string, signal?: AbortSignal) => Promise<string>;
  /** Environment to read `TESSERA_OIDC_TOKEN_FILE` and `TESSERA_OIDC_TOKEN` from (default `process.env`). */
  env?: Record<string, string | undefined>;
}

export function createOidcCollector(options: OidcCollectorOptions = {}): EvidenceCollector {
  const tokenFile = (): string | undefined => options.tokenFile ?? ((options.env ?? process.env)[OIDC_TOKEN_FILE_ENV] || undefined);
  // Read at every collect, like the file: a supervisor may update the variable between runs.
  const tokenFromEnv = (): string | undefined => (options.tokenFile === undefined ? (options.env ?? process.env)[OIDC_TOKEN_ENV] || undefined : undefined);
  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: OIDC_TYPE,
    evidenceType: OIDC_EVIDENCE_TYPE,
    async detect() {
      if (options.getToken !== undefined) return true;
      const file = tokenFile();
      if (file !== undefined) return isReadableFile(file);
      return tokenFromEnv() !== undefined;
    },
    async collect(ctx) {
      if (options.getToken !== undefined) {
        const token = await options.getToken(ctx.audience, ctx.signal);
        if (typeof token !== 'string' || token.length === 0 || token.length > MAX_JWT_EVIDENCE_BYTES) {
          throw new TrustError('evidence_invalid', 'getToken must return a non-empty token of at most 16 KiB', { provider: OIDC_TYPE });
        }
        return { type: OIDC_EVIDENCE_TYPE, token };
      }
      const file = tokenFile();
      if (file === undefined) {
        const token = tokenFromEnv()?.trim();
        if (token === undefined || token === '') {
          throw new TrustError('invalid_config', `no token source: set tokenFile, getToken, ${OIDC_TOKEN_FILE_ENV} or ${OIDC_TOKEN_ENV}`, { provider: OIDC_TYPE });
        }
        if (token.length > MAX_JWT_EVIDENCE_BYTES) throw new TrustError('evidence_invalid', `${OIDC_TOKEN_ENV} holds more than 16 KiB`, { provider: OIDC_TYPE });
        return { type: OIDC_EVIDENCE_TYPE, token };
      }
      return { type: OIDC_EVIDENCE_TYPE, token: await readTokenFile(file, OIDC_TYPE) };
    },
  });
}

/** The built-in instance: active when `TESSERA_OIDC_TOKEN_FILE` names a readable file, or `TESSERA_OIDC_TOKEN` is set. */
export const oidcCollector = /* @__PURE__ */ createOidcCollector();
