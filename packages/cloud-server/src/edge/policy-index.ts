import { isUuid } from '../ids.js';
import { GLOBAL_KINDS, OBJECT_KINDS, type ObjectKind, type StoredObject } from '../store/types.js';
import { compileGlob } from './glob.js';

/** The kinds a decision reads: the resource sets, and every kind in them except log streams. */
export const INDEXED_KINDS: ReadonlySet<ObjectKind> = new Set(
  OBJECT_KINDS.filter((kind) => kind === 'resource-set' || (!GLOBAL_KINDS.has(kind) && kind !== 'log-stream')),
);

/**
 * An immutable in-memory snapshot of everything a decision reads: enabled workloads, providers,
 * conditions and policies, keyed so that a decision costs a few hash lookups whatever the number
 * of policies. A new snapshot replaces the old one after every admin change.
 */

export interface Injection {
  kind: 'header' | 'basic' | 'query' | 'aws-sigv4';
  name?: string;
  format?: string;
  region?: string;
  service?: string;
}

export interface IndexedServer {
  id: string;
  name: string;
  resourceSetId: string;
  host: string;
  port: number;
  scheme: 'http' | 'https';
  pathPrefix: string;
  injection: Injection;
}

export interface IndexedClient {
  id: string;
  name: string;
  resourceSetId: string;
  /** Specificity: more identities beat fewer when several workloads match. */
  identities: Array<{ claim: string; matches: (value: string) => boolean }>;
}

export interface IndexedProvider {
  id: string;
  name: string;
  resourceSetId: string;
  type: string;
  config: Record<string, unknown>;
  enabled: boolean;
}

export interface IndexedTrustProvider extends IndexedProvider {
  rules: Array<{ claim: string; matches: (value: string) => boolean }>;
}

export interface IndexedCredentialProvider extends IndexedProvider {
  /** Sealed secrets column, opened only when a credential is issued. */
  secrets: string | null;
}

/**
 * One enabled resource set, as attestation sees it: only its own enabled trust providers and
 * client workloads. A workload attests into exactly one set, so nothing of another set takes
 * part in its verification, its matching or its refusal reasons.
 */
export interface IndexedResourceSet {
  id: string;
  name: string;
  trustProviders: readonly IndexedTrustProvider[];
  clients: readonly IndexedClient[];
}

export interface IndexedPolicy {
  id: string;
  name: string;
  serverWorkloadId: string;
  trustProviderIds: ReadonlySet<string>;
  accessConditionIds: readonly string[];
  credentialProviderId: string;
}

export interface Target {
  scheme: string;
  host: string;
  port: number;
  path: string;
}

export class PolicyIndex {
  readonly #setsById = new Map<string, IndexedResourceSet>();
  readonly #setsByName = new Map<string, IndexedResourceSet>();
  readonly #clientsById = new Map<string, IndexedClient>();
  readonly #trustById = new Map<string, IndexedTrustProvider>();
  readonly #credentialsById = new Map<string, IndexedCredentialProvider>();
  readonly #conditionsById = new Map<string, IndexedProvider>();
  readonly #serversById = new Map<string, IndexedServer>();
  /** `${resourceSetId} ${host}:${port}` → servers, exact hosts and `*.suffix` entries apart. */
  readonly #exact = new Map<string, IndexedServer[]>();
  readonly #wildcard = new Map<string, IndexedServer[]>();
  /** `${clientId} ${serverId}` → policies linking them. */
  readonly #policies = new Map<string, IndexedPolicy[]>();
  /** clientId → ids of servers it has at least one policy for. */
  readonly #reachable = new Map<string, Set<string>>();

  private constructor(objects: Map<ObjectKind, StoredObject[]>) {
    const of = (kind: ObjectKind) => objects.get(kind) ?? [];
    const clients: IndexedClient[] = of('client-workload')
      .filter((o) => o.enabled)
      .map((o) => ({
        id: o.id,
        name: o.name,
        resourceSetId: o.resourceSetId!,
        identities: (o.spec.identities as Array<{ claim: string; value: string }>).map(({ claim, value }) => ({
          claim,
          matches: compileGlob(value),
        })),
      }));
    for (const client of clients) this.#clientsById.set(client.id, client);

    const trustProviders: IndexedTrustProvider[] = of('trust-provider').map((o) => ({
      ...provider(o),
      rules: ((o.spec.rules as Array<{ claim: string; value: string }> | undefined) ?? []).map(({ claim, value }) => ({
        claim,
        matches: compileGlob(value),
      })),
    }));
    for (const trust of trustProviders) this.#trustById.set(trust.id, trust);
    const clientsBySet = new Map<string, IndexedClient[]>();
    for (const client of clients) push(clientsBySet, client.resourceSetId, client);
    const trustBySet = new Map<string, IndexedTrustProvider[]>();
    for (const trust of trustProviders) if (trust.enabled) push(trustBySet, trust.resourceSetId, trust);
    for (const o of of('resource-set')) {
      if (!o.enabled) continue;
      const set: IndexedResourceSet = { id: o.id, name: o.name, trustProviders: trustBySet.get(o.id) ?? [], clients: clientsBySet.get(o.id) ?? [] };
      this.#setsById.set(set.id, set);
      this.#setsByName.set(set.name, set);
    }
    for (const o of of('credential-provider')) this.#credentialsById.set(o.id, { ...provider(o), secrets: o.secrets });
    for (const o of of('access-condition')) this.#conditionsById.set(o.id, provider(o));

    for (const o of of('server-workload')) {
      if (!o.enabled) continue;
      const server: IndexedServer = {
        id: o.id,
        name: o.name,
        resourceSetId: o.resourceSetId!,
        host: o.spec.host as string,
        port: o.spec.port as number,
        scheme: o.spec.scheme as 'http' | 'https',
        pathPrefix: o.spec.pathPrefix as string,
        injection: o.spec.injection as Injection,
      };
      this.#serversById.set(server.id, server);
      const wildcard = server.host.startsWith('*.');
      const host = wildcard ? server.host.slice(2) : server.host;
      push(wildcard ? this.#wildcard : this.#exact, `${server.resourceSetId} ${host}:${server.port}`, server);
    }

    for (const o of of('access-policy')) {
      if (!o.enabled) continue;
      const spec = o.spec as {
        clientWorkloadIds: string[];
        serverWorkloadId: string;
        trustProviderIds: string[];
        accessConditionIds: string[];
        credentialProviderId: string;
      };
      if (!this.#serversById.has(spec.serverWorkloadId)) continue;
      const policy: IndexedPolicy = {
        id: o.id,
        name: o.name,
        serverWorkloadId: spec.serverWorkloadId,
        trustProviderIds: new Set(spec.trustProviderIds),
        // A disabled condition is switched off, not failed.
        accessConditionIds: spec.accessConditionIds.filter((id) => this.#conditionsById.get(id)?.enabled),
        credentialProviderId: spec.credentialProviderId,
      };
      for (const clientId of spec.clientWorkloadIds) {
        push(this.#policies, `${clientId} ${policy.serverWorkloadId}`, policy);
        let reachable = this.#reachable.get(clientId);
        if (!reachable) this.#reachable.set(clientId, (reachable = new Set()));
        reachable.add(policy.serverWorkloadId);
      }
    }
    // Longest path prefix first, so resolution takes the first match.
    for (const list of [...this.#exact.values(), ...this.#wildcard.values()]) {
      list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
    }
  }

  static fromObjects(objects: Iterable<StoredObject>): PolicyIndex {
    const byKind = new Map<ObjectKind, StoredObject[]>();
    for (const object of objects) push(byKind, object.kind, object);
    return new PolicyIndex(byKind);
  }

  /** An enabled resource set by id or name (an id wins: only global admins name sets). */
  resourceSet(idOrName: string): IndexedResourceSet | undefined {
    return (isUuid(idOrName) ? this.#setsById.get(idOrName) : undefined) ?? this.#setsByName.get(idOrName);
  }

  /** An enabled resource set by id only. */
  resourceSetById(id: string): IndexedResourceSet | undefined {
    return this.#setsById.get(id);
  }

  client(id: string): IndexedClient | undefined {
    return this.#clientsById.get(id);
  }

  /** An enabled server workload. */
  server(id: string): IndexedServer | undefined {
    return this.#serversById.get(id);
  }

  trustProvider(id: string): IndexedTrustProvider | undefined {
    return this.#trustById.get(id);
  }

  credentialProvider(id: string): IndexedCredentialProvider | undefined {
    return this.#credentialsById.get(id);
  }

  condition(id: string): IndexedProvider | undefined {
    return this.#conditionsById.get(id);
  }

  /** Exact host beats wildcard (one label, as in TLS); within each, the longest path prefix wins. */
  resolveServer(resourceSetId: string, target: Target): IndexedServer | undefined {
    const host = target.host.toLowerCase();
    const exact = pick(this.#exact.get(`${resourceSetId} ${host}:${target.port}`), target);
    if (exact) return exact;
    const dot = host.indexOf('.');
    if (dot < 0) return undefined;
    return pick(this.#wildcard.get(`${resourceSetId} ${host.slice(dot + 1)}:${target.port}`), target);
  }

  policiesFor(clientId: string, serverId: string): readonly IndexedPolicy[] {
    return this.#policies.get(`${clientId} ${serverId}`) ?? [];
  }

  /** The targets a client may call: every enabled server it has a policy for. */
  directoryFor(clientId: string): IndexedServer[] {
    return [...(this.#reachable.get(clientId) ?? [])].map((id) => this.#serversById.get(id)!).filter(Boolean);
  }
}

function provider(o: StoredObject): IndexedProvider {
  return {
    id: o.id,
    name: o.name,
    resourceSetId: o.resourceSetId!,
    type: o.spec.type as string,
    config: (o.spec.config as Record<string, unknown> | undefined) ?? {},
    enabled: o.enabled,
  };
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function pick(candidates: IndexedServer[] | undefined, target: Target): IndexedServer | undefined {
  return candidates?.find((s) => s.scheme === target.scheme && pathMatches(s.pathPrefix, target.path));
}

/** `/v1` matches `/v1`, `/v1/x` and `/v1?q`, not `/v10`. */
function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith('/')) return true;
  const next = path[prefix.length];
  return next === '/' || next === '?' || next === '#';
}
