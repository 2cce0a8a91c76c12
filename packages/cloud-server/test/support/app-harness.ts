import { randomBytes } from 'node:crypto';
import { Type } from 'typebox';
import {
  CredentialError,
  TrustError,
  createProviderRegistry,
  defineAccessCondition,
  defineCredentialProvider,
  defineTrustProvider,
  type ProviderRegistry,
} from '@tessera/providers';
import { buildApp, type AppOptions } from '../../src/app.js';
import { bootstrap } from '../../src/bootstrap.js';
import { SecretBox, verifyMasterKey } from '../../src/crypto/secret-box.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { ObjectService } from '../../src/objects/service.js';
import { typedSchemaLookup } from '../../src/objects/registry-schemas.js';
import type { Backend, BackendHarness } from './store-backends.js';
import type { Store } from '../../src/store/types.js';
import type { FastifyInstance } from 'fastify';
import { providerDestinationGuard, type DestinationGuard } from '../../src/egress/destination-guard.js';

/** Loopback, which the tests' fake identity providers and token servers listen on. */
export const LOOPBACK = ['127.0.0.0/8', '::1'];

/**
 * Test support (not shipped): a control plane over a fresh store of the given backend, called
 * in-process with `inject` (no socket), with the bootstrap admin key at hand.
 */

/** A small trust provider of the kind a user would write, so admin tests have a trust type to use. */
export const fixtureTrustProvider = defineTrustProvider({
  specificationVersion: 'v1',
  type: 'fixture-static',
  evidenceType: 'fixture',
  configSchema: Type.Object(
    { subjects: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }) },
    { additionalProperties: false },
  ),
  acceptedIssuers: () => null, // fixture evidence names no issuer
  async verify(evidence, config: { subjects: string[] }, ctx) {
    const subject = evidence.subject;
    if (typeof subject !== 'string' || !config.subjects.includes(subject)) {
      throw new TrustError('evidence_invalid', 'subject not allowed', { provider: 'fixture-static' });
    }
    // Evidence that carries a nonce (as a signed cloud request would) must carry a fresh one.
    if (evidence.nonce !== undefined && !(typeof evidence.nonce === 'string' && (await ctx.consumeNonce?.(evidence.nonce)))) {
      throw new TrustError('evidence_invalid', 'the nonce is not one this cloud issued to this key, or was used', { provider: 'fixture-static' });
    }
    return { claims: { 'fixture.subject': subject } };
  },
});

/** A credential provider whose upstream always refuses, for the `credential_provider_error` path. */
export const fixtureFailingCredentialProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: 'fixture-failing',
  configSchema: Type.Object({}, { additionalProperties: false }),
  secretsSchema: Type.Object({}, { additionalProperties: false }),
  async issue() {
    throw new CredentialError('credential_provider_error', 'upstream refused the request', { provider: 'fixture-failing' });
  },
});

/** A buggy custom provider: its credential has an expiry that is not a date. */
export const fixtureMalformedCredentialProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: 'fixture-malformed',
  configSchema: Type.Object({}, { additionalProperties: false }),
  secretsSchema: Type.Object({}, { additionalProperties: false }),
  async issue() {
    return { kind: 'token', token: 'tok_malformed_value', expiresAt: new Date(Number.NaN) };
  },
});

/** A custom access condition whose integration fails with an error that quotes its upstream. */
export const fixtureErroringCondition = defineAccessCondition({
  specificationVersion: 'v1',
  type: 'fixture-erroring',
  configSchema: Type.Object({}, { additionalProperties: false }),
  async evaluate() {
    throw new Error('posture API at db-7.corp.internal:8443 answered HTTP 500');
  },
});

/** A custom provider that signs whatever claims its config names: what a careless or hostile plugin could ask the signer for. */
export const fixtureSigningCredentialProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: 'fixture-signing',
  configSchema: Type.Object({ claims: Type.Record(Type.String(), Type.Unknown()) }, { additionalProperties: false }),
  secretsSchema: Type.Object({}, { additionalProperties: false }),
  async issue(request, config, _secrets, ctx) {
    const token = await ctx.signJwt!(config.claims, { audience: 'https://fixture.example', subject: request.clientWorkload.id, lifetimeSeconds: 60 });
    return { kind: 'token', token, expiresAt: new Date(ctx.now().getTime() + 60_000) };
  },
});

export interface TestApp {
  app: FastifyInstance;
  store: Store;
  harness: BackendHarness;
  box: SecretBox;
  keyRing: KeyRing;
  rootKey: string;
  call(method: string, url: string, options?: { key?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  body: any;
  raw: string;
  headers: Record<string, unknown>;
}

/** `app`: options for buildApp beyond what the harness sets itself. */
export async function createTestApp(
  backend: Backend,
  options: { trustedProxies?: string[]; streamGuard?: DestinationGuard; register?: (registry: ProviderRegistry) => void; app?: Partial<AppOptions>; trustProviderTimeoutMs?: number } = {},
): Promise<TestApp> {
  const harness = await backend.createHarness();
  const store = harness.createStore();
  await store.migrate();
  const box = new SecretBox(randomBytes(32));
  await verifyMasterKey(store, box);
  const registry = createProviderRegistry();
  registry.registerTrustProvider(fixtureTrustProvider);
  registry.registerCredentialProvider(fixtureFailingCredentialProvider);
  registry.registerCredentialProvider(fixtureMalformedCredentialProvider);
  registry.registerAccessCondition(fixtureErroringCondition);
  options.register?.(registry);
  registry.registerCredentialProvider(fixtureSigningCredentialProvider);
  const keyRing = new KeyRing({ store, box });
  await keyRing.ensureActiveKey();
  const service = new ObjectService({ store, box, schemas: typedSchemaLookup(registry) });
  const boot = await bootstrap(store, service, undefined);
  const { app } = await buildApp({
    store,
    box,
    keyRing,
    registry,
    publicUrl: 'https://tessera.test',
    // The tests' identity providers and token servers are fakes on loopback.
    providerGuard: providerDestinationGuard(LOOPBACK),
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
    ...(options.streamGuard ? { streamGuard: options.streamGuard } : {}),
    ...options.app,
    ...(options.trustProviderTimeoutMs ? { trustProviderTimeoutMs: options.trustProviderTimeoutMs } : {}),
  });
  const rootKey = boot.generatedKey!;

  return {
    app,
    store,
    harness,
    box,
    keyRing,
    rootKey,
    async call(method, url, options = {}) {
      const key = options.key === undefined ? rootKey : options.key;
      const headers: Record<string, string> = {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        // A string body is sent as-is (to test malformed JSON); objects are serialised by inject.
        ...(typeof options.body === 'string' ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      };
      const response = await app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(options.body === undefined ? {} : { payload: options.body as string | object }),
      });
      let body: unknown;
      try {
        body = response.body === '' ? undefined : JSON.parse(response.body);
      } catch {
        body = undefined;
      }
      return { status: response.statusCode, body, raw: response.body, headers: response.headers };
    },
    async close() {
      await app.close();
      await harness.dispose();
    },
  };
}

/** Creates an object and returns its body, failing loudly when the API refuses. */
export async function create(t: TestApp, plural: string, body: Record<string, unknown>, key?: string): Promise<any> {
  const response = await t.call('POST', `/api/v1/${plural}`, { body, ...(key ? { key } : {}) });
  if (response.status !== 201) {
    throw new Error(`POST ${plural} answered ${response.status}: ${response.raw}`);
  }
  return response.body;
}

/** A full set of related objects in one resource set, for tests that need references. */
export async function createGraph(t: TestApp, resourceSetId?: string) {
  const suffix = randomBytes(3).toString('hex');
  const inSet = resourceSetId ? { resourceSetId } : {};
  const client = await create(t, 'client-workloads', {
    ...inSet,
    name: `client-${suffix}`,
    identities: [{ claim: 'kubernetes.namespace', value: 'payments' }],
  });
  const server = await create(t, 'server-workloads', {
    ...inSet,
    name: `server-${suffix}`,
    host: 'api.example.com',
    port: 443,
    scheme: 'https',
    injection: { kind: 'header', name: 'authorization' },
  });
  const trust = await create(t, 'trust-providers', {
    ...inSet,
    name: `trust-${suffix}`,
    type: 'fixture-static',
    config: { subjects: ['a'] },
  });
  const credential = await create(t, 'credential-providers', {
    ...inSet,
    name: `cred-${suffix}`,
    type: 'api-key',
    secrets: { apiKey: `sk_live_${suffix}_do_not_leak` },
  });
  const condition = await create(t, 'access-conditions', {
    ...inSet,
    name: `cond-${suffix}`,
    type: 'time-window',
    config: { timeZone: 'Europe/Paris', start: '09:00', end: '17:00' },
  });
  const policy = await create(t, 'access-policies', {
    ...inSet,
    name: `policy-${suffix}`,
    clientWorkloadIds: [client.id],
    serverWorkloadId: server.id,
    trustProviderIds: [trust.id],
    accessConditionIds: [condition.id],
    credentialProviderId: credential.id,
  });
  return { client, server, trust, credential, condition, policy };
}
