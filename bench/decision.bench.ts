// One access decision (server resolution, policy lookup, trust check, one condition, api-key
// credential) against a snapshot of 10 and of 10,000 policies, side by side.
//   npx vitest run --config bench/vitest.config.ts   (tinybench inside vitest, for TypeScript sources)
import { randomBytes } from 'node:crypto';
import { createProviderRegistry } from '@tessera/providers';
import { Bench } from 'tinybench';
import { it } from 'vitest';
import { SecretBox } from '../packages/cloud-server/src/crypto/secret-box.js';
import { decide } from '../packages/cloud-server/src/edge/decide.js';
import { PolicyIndex } from '../packages/cloud-server/src/edge/policy-index.js';
import { ProviderConfigs } from '../packages/cloud-server/src/edge/provider-configs.js';
import { uuidv7 } from '../packages/cloud-server/src/ids.js';
import { sealSecrets } from '../packages/cloud-server/src/objects/secrets.js';
import type { StoredObject } from '../packages/cloud-server/src/store/types.js';

const box = new SecretBox(randomBytes(32));
const registry = createProviderRegistry();
const set = uuidv7();
const now = new Date().toISOString();
const object = (kind: StoredObject['kind'], name: string, spec: Record<string, unknown>, secrets: string | null = null): StoredObject => ({
  id: uuidv7(), kind, resourceSetId: set, name, description: '', enabled: true, spec, secrets, lookupKey: null, refs: [], createdAt: now, updatedAt: now,
});

function snapshot(policyCount: number) {
  const trust = object('trust-provider', 'trust', { type: 'oidc', config: { issuer: 'https://issuer.test', jwks: { keys: [] } }, rules: [] });
  const credential = object('credential-provider', 'key', { type: 'api-key', config: {} });
  credential.secrets = sealSecrets(box, credential.id, { apiKey: 'sk_bench' });
  const condition = object('access-condition', 'ip', { type: 'source-ip', config: { allow: ['10.0.0.0/8'] } });
  const client = object('client-workload', 'client', { identities: [{ claim: 'oidc.subject', value: 'client' }] });
  const server = object('server-workload', 'target', { host: 'api.bench.test', port: 443, scheme: 'https', pathPrefix: '/', injection: { kind: 'header', name: 'authorization', format: 'Bearer {token}' } });
  // The decision acts within the token's resource set: it must exist and be enabled.
  const resourceSet: StoredObject = { ...object('resource-set', 'bench', {}), id: set, resourceSetId: null };
  const objects = [resourceSet, trust, credential, condition, client, server];
  const policy = (clientId: string, serverId: string, name: string) =>
    object('access-policy', name, { clientWorkloadIds: [clientId], serverWorkloadId: serverId, trustProviderIds: [trust.id], accessConditionIds: [condition.id], credentialProviderId: credential.id });
  objects.push(policy(client.id, server.id, 'bench'));
  const servers = Array.from({ length: 100 }, (_, i) => object('server-workload', `s${i}`, { host: `s${i}.bench.test`, port: 443, scheme: 'https', pathPrefix: '/', injection: { kind: 'basic' } }));
  objects.push(...servers);
  for (let i = 1; i < policyCount; i++) {
    const filler = object('client-workload', `c${i}`, { identities: [{ claim: 'oidc.subject', value: `c${i}` }] });
    objects.push(filler, policy(filler.id, servers[i % 100]!.id, `p${i}`));
  }
  return { index: PolicyIndex.fromObjects(objects), client, trust };
}

it('measures one decision with 10 and 10,000 policies', async () => {
  const suite = new Bench({ time: 2000, warmupTime: 500 });
  for (const count of [10, 10_000]) {
    const { index, client, trust } = snapshot(count);
    const session = { clientWorkloadId: client.id, resourceSetId: set, trustProviderIds: [trust.id], claims: { 'oidc.subject': 'client' }, jkt: 'x', expiresAt: new Date(Date.now() + 60_000) };
    const ctx = {
      index, registry, configs: new ProviderConfigs(), box, issuer: 'https://tessera.test', now: () => new Date(), fetch,
      signerFor: () => async () => '', sourceIp: '10.1.2.3',
    };
    const target = { scheme: 'https', host: 'api.bench.test', port: 443, path: '/v1/charges' };
    await decide(session, target, ctx, { conditions: [] }); // fails loudly if the set-up is wrong
    suite.add(`${count} policies`, async () => {
      await decide(session, target, ctx, { conditions: [] });
    });
  }
  await suite.run();
  console.table(suite.table());
  const [small, large] = suite.tasks.map((task) => (task.result as { throughput?: { mean: number }; hz?: number }));
  const rate = (r: typeof small) => r?.throughput?.mean ?? r?.hz ?? NaN;
  console.log(`decisions/s ratio (10,000 / 10 policies): ${(rate(large) / rate(small)).toFixed(3)}`);
}, 60_000);
