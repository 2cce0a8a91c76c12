import type { ResourceSetInfo, SignJwtOptions } from '@tessera/providers';
import type { KeyRing } from '../keys/key-ring.js';

/** The claim every JWT signed for a workload carries: which tenant it is for. */
export const RESOURCE_SET_CLAIM = 'resource_set';

export type SignJwt = (claims: Record<string, unknown>, options: SignJwtOptions) => Promise<string>;

/**
 * The signer a credential provider gets for one decision: JWTs signed with the control plane's
 * key (ES256 unless the provider asks for RS256, for relying parties such as Entra ID that accept
 * only RSA), carrying the `resource_set` of the decision. A provider cannot set or override that
 * claim, nor the registered ones the key ring sets (`iss`, `sub`, `aud`, `iat`, `exp`, `jti`): a
 * payload with any of them is refused, so an API that trusts this control plane can tell tenants
 * apart by it.
 */
export function workloadSigner(keyRing: KeyRing, issuer: string, resourceSet: ResourceSetInfo): SignJwt {
  return async (claims, options) => {
    if (Object.hasOwn(claims, RESOURCE_SET_CLAIM)) {
      throw new TypeError(`"${RESOURCE_SET_CLAIM}" is set by the control plane, not by a credential provider`);
    }
    return keyRing.sign(
      { ...claims, [RESOURCE_SET_CLAIM]: { id: resourceSet.id, name: resourceSet.name } },
      { ...options, issuer, typ: 'JWT' },
    );
  };
}
