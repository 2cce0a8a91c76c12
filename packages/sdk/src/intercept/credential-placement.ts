import { applyInjection } from '../inject/inject.js';
import { signAwsSigv4, type SigV4Request } from '../inject/sigv4.js';
import type { HeaderObject } from '../inject/types.js';
import type { Grant, OutgoingRequest } from '../runtime/gate.js';

/**
 * Where the credential goes, one implementation for every interceptor. Header, basic and query
 * credentials are placed from the grant alone (`credentialPlacement`); SigV4 signs the whole
 * request (`signForGrant`). undici's hot path places header credentials into the caller's own
 * header representation through applyInjection directly.
 */

/** A header, basic or query credential: the one header to set, or the path to send. */
export interface CredentialPlacement {
  header?: [name: string, value: string];
  path?: string;
}

/** Throws what the injection refuses (InjectionError: a credential of the wrong kind, CR/LF ...); SigV4 is not placed here. */
export function credentialPlacement(grant: Grant, path: string): CredentialPlacement {
  const { credential, injection } = grant.issued;
  const injected = applyInjection<HeaderObject>({ path, headers: {} }, credential, injection);
  if (injection.kind === 'query') return { path: injected.path };
  const name = Object.keys(injected.headers)[0];
  if (name === undefined) throw new TypeError(`inject(${injection.kind}) produced no header`);
  return { header: [name, String(injected.headers[name])] };
}

/** The request as an interceptor holds it when it signs: method, path and headers as they will be sent. */
export interface SignableRequest {
  method: string;
  /** Origin-form path plus query, exactly as on the request line. */
  path: string;
  /** Lower-case names, repeated values joined (toHeaderRecord). */
  headers: Record<string, string>;
  body: SigV4Request['body'];
}

/**
 * SigV4 placement for every interceptor (undici, node:http, node:http2): the grant's AWS credential signs the request for the target it was granted for. Returns the
 * complete header set to send (lower-case names, `host` included); throws for a grant that is
 * not SigV4 and for what the signer refuses (`body_not_signable` ...).
 */
export async function signForGrant(grant: Grant, target: OutgoingRequest, request: SignableRequest): Promise<Record<string, string>> {
  const { credential, injection } = grant.issued;
  if (injection.kind !== 'aws-sigv4') throw new TypeError('not a SigV4 grant');
  return signAwsSigv4(
    {
      method: request.method,
      scheme: target.scheme === 'https' ? 'https' : 'http',
      host: target.host,
      port: target.port,
      path: request.path,
      headers: request.headers,
      body: request.body,
    },
    credential,
    injection,
  );
}
