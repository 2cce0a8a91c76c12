import { isDeepStrictEqual } from 'node:util';
import { ApiError } from '../api/errors.js';
import type { StoreWriter, StoredObject } from '../store/types.js';
import { secretFieldNames } from './secrets.js';

/**
 * Who receives a credential provider's stored secret, and where the SDK sends it, is decided by
 * the access policies that use it and by what they name: their client workloads (and which
 * processes become those), trust providers, access conditions and server workload. A key that
 * may write policies and workloads but not credential providers (the `policy-editor` role) may
 * change none of that for a provider holding secrets, or it could hand the secret to a workload
 * it controls. Checked on every write of such a key, in the write's transaction.
 */

type Reader = Pick<StoreWriter, 'getObject' | 'listObjects' | 'listReferrers'>;

/** Policy fields that decide who gets the credential, where, and on which conditions. */
const POLICY_DELIVERY = ['clientWorkloadIds', 'serverWorkloadId', 'trustProviderIds', 'accessConditionIds', 'credentialProviderId'];
/** Server workload fields that decide where the SDK sends the credential, and how. */
export const SERVER_DELIVERY = ['host', 'port', 'scheme', 'pathPrefix', 'injection'];

const PAGE = 500;

/** Refuses a policy-editor's write (`before` undefined: create; `after` undefined: delete) that changes who receives a stored secret. */
export async function guardSecretDelivery(tx: Reader, before: StoredObject | undefined, after: StoredObject | undefined): Promise<void> {
  const object = (after ?? before)!;
  const reason = await refusal(tx, object.kind, before, after);
  if (reason) {
    throw new ApiError('secret_delivery_forbidden', `This key may not ${reason}: that changes who receives a credential provider's stored secret, or where it is sent; ask an editor`);
  }
}

async function refusal(tx: Reader, kind: StoredObject['kind'], before: StoredObject | undefined, after: StoredObject | undefined): Promise<string | undefined> {
  const enabling = after?.enabled === true && before?.enabled !== true;
  const changed = (fields: string[]) => before !== undefined && after !== undefined && fields.some((f) => !isDeepStrictEqual(before.spec[f], after.spec[f]));
  switch (kind) {
    case 'access-policy': {
      if (!after) return undefined; // deleting a policy only takes access away
      const secretHeld = (await holdsSecrets(tx, after.spec.credentialProviderId)) || (before !== undefined && (await holdsSecrets(tx, before.spec.credentialProviderId)));
      if (!secretHeld) return undefined;
      if (!before) return 'create a policy that uses a credential provider holding secrets';
      return changed(POLICY_DELIVERY) || enabling ? 'change or enable a policy that uses a credential provider holding secrets' : undefined;
    }
    case 'server-workload':
      if (!before || !after || !(changed(SERVER_DELIVERY) || enabling)) return undefined;
      return (await secretPoliciesNaming(tx, after.id)).length > 0 ? 'move or enable a server workload that receives a stored secret' : undefined;
    case 'access-condition':
      if (!before || !after || !(changed(['config']) || (before.enabled && !after.enabled))) return undefined;
      return (await secretPoliciesNaming(tx, after.id)).length > 0 ? 'change or switch off an access condition of a policy that delivers a stored secret' : undefined;
    case 'client-workload':
      return before ? clientRefusal(tx, before, after) : undefined; // a new workload is in no policy yet
    default:
      return undefined;
  }
}

/**
 * A process becomes the enabled client workload with the most identities it matches. So a
 * change of a workload's identities, or enabling, disabling or deleting it, can move processes:
 * into it, and out of it to another workload they match with as many identities or fewer.
 */
async function clientRefusal(tx: Reader, before: StoredObject, after: StoredObject | undefined): Promise<string | undefined> {
  const identitiesChanged = after !== undefined && !isDeepStrictEqual(before.spec.identities, after.spec.identities);
  if (after !== undefined && !identitiesChanged && before.enabled === after.enabled) return undefined;
  const receiving = await secretReceivingClients(tx, before.resourceSetId!);
  if (after?.enabled && (identitiesChanged || !before.enabled) && receiving.some((w) => w.id === before.id)) {
    return 'change the identities of, or enable, a client workload that receives a stored secret';
  }
  const leaving = identitiesOf(before);
  const catcher = before.enabled && receiving.find((w) => w.id !== before.id && w.enabled && identitiesOf(w).length <= leaving.length && mayOverlap(leaving, identitiesOf(w)));
  return catcher ? 'change the identities of, disable or delete a client workload whose processes could become one that receives a stored secret' : undefined;
}

type Identity = { claim: string; value: string };

const identitiesOf = (workload: StoredObject) => (workload.spec.identities as Identity[] | undefined) ?? [];

/**
 * Whether a process could match both lists. False only when both name a claim with values no
 * string matches both of (literal parts that disagree): a claim has one value per evidence.
 */
function mayOverlap(a: readonly Identity[], b: readonly Identity[]): boolean {
  return a.every((x) => b.every((y) => x.claim !== y.claim || globsMayOverlap(x.value, y.value)));
}

/** `*` matches any run of characters, everything else is literal (edge/glob.ts). */
function globsMayOverlap(a: string, b: string): boolean {
  if (!a.includes('*') && !b.includes('*')) return a === b;
  const head = (glob: string) => (glob.includes('*') ? glob.slice(0, glob.indexOf('*')) : glob);
  const tail = (glob: string) => (glob.includes('*') ? glob.slice(glob.lastIndexOf('*') + 1) : glob);
  const [ha, hb, ta, tb] = [head(a), head(b), tail(a), tail(b)];
  return (ha.startsWith(hb) || hb.startsWith(ha)) && (ta.endsWith(tb) || tb.endsWith(ta));
}

async function holdsSecrets(tx: Reader, credentialProviderId: unknown): Promise<boolean> {
  if (typeof credentialProviderId !== 'string') return false;
  const provider = await tx.getObject(credentialProviderId);
  return provider !== undefined && secretFieldNames(provider.secrets).length > 0;
}

/** The access policies naming `id` whose credential provider holds secrets. */
async function secretPoliciesNaming(tx: Reader, id: string): Promise<StoredObject[]> {
  const policies: StoredObject[] = [];
  for (const referrer of await tx.listReferrers(id)) {
    if (referrer.kind !== 'access-policy') continue;
    const policy = await tx.getObject(referrer.id);
    if (policy && (await holdsSecrets(tx, policy.spec.credentialProviderId))) policies.push(policy);
  }
  return policies;
}

/** Every client workload of the set named by a policy whose credential provider holds secrets. */
async function secretReceivingClients(tx: Reader, resourceSetId: string): Promise<StoredObject[]> {
  const ids = new Set<string>();
  for (let afterId: string | undefined; ; ) {
    const page = await tx.listObjects({ kind: 'access-policy', resourceSetIds: [resourceSetId], limit: PAGE, ...(afterId ? { afterId } : {}) });
    for (const policy of page) {
      if (await holdsSecrets(tx, policy.spec.credentialProviderId)) for (const id of policy.spec.clientWorkloadIds as string[]) ids.add(id);
    }
    if (page.length < PAGE) break;
    afterId = page[page.length - 1]!.id;
  }
  const clients = await Promise.all([...ids].map((id) => tx.getObject(id)));
  return clients.filter((client): client is StoredObject => client !== undefined);
}

/**
 * The credential providers an admin change concerns, for its `admin.change` event: the one an
 * access policy uses, and those of the policies serving a server workload whose destination
 * (host, port, scheme, path or injection) changed.
 */
export async function credentialProvidersOf(
  tx: Reader,
  object: StoredObject,
  changedFields: readonly string[],
): Promise<Array<{ id: string; name: string }> | undefined> {
  let ids: string[];
  if (object.kind === 'access-policy') ids = [object.spec.credentialProviderId as string];
  else if (object.kind === 'server-workload' && changedFields.some((field) => SERVER_DELIVERY.includes(field))) {
    const policies = await Promise.all((await tx.listReferrers(object.id)).filter((r) => r.kind === 'access-policy').map((r) => tx.getObject(r.id)));
    ids = policies.flatMap((policy) => (policy ? [policy.spec.credentialProviderId as string] : []));
    if (ids.length === 0) return undefined; // no policy sends a credential there
  } else return undefined;
  const providers = await Promise.all([...new Set(ids)].sort().map((id) => tx.getObject(id)));
  return providers.flatMap((provider) => (provider ? [{ id: provider.id, name: provider.name }] : []));
}
