import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinCredentialProviders, createProviderRegistry, destinationPaths, type CredentialProvider } from '@tessera/providers';
import { DestinationGuard } from '../egress/destination-guard.js';
import { logStreamTypes } from '../audit/log-stream-types.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';

/**
 * Secrets follow their destination: a PATCH that changes where an object's stored secrets are
 * sent (a field its type's schema declares with `x-tessera-destination`) must carry every
 * secret again. Each built-in credential provider and log stream type is listed with a valid
 * config and, per declared destination, another value; the table must cover them all.
 */

interface Sample {
  plural: 'credential-providers' | 'log-streams';
  config: Record<string, unknown>;
  secrets: Record<string, string>;
  /** Each declared destination (JSON pointer into config) and another valid value for it. */
  destinations: Record<string, unknown>;
}

const SAMPLES: Record<string, Sample> = {
  'api-key': { plural: 'credential-providers', config: {}, secrets: { apiKey: 'sk_dest_api' }, destinations: {} },
  basic: { plural: 'credential-providers', config: { username: 'svc' }, secrets: { password: 'pw_dest_basic' }, destinations: {} },
  'workload-jwt': { plural: 'credential-providers', config: { audience: 'https://api.example.com' }, secrets: {}, destinations: {} },
  'oauth2-client-credentials': {
    plural: 'credential-providers',
    config: { issuer: 'https://auth.example.com', tokenEndpoint: 'https://auth.example.com/token', clientId: 'tessera', authMethod: 'client_secret_post', scope: 'read' },
    secrets: { clientSecret: 'cs_dest_oauth', privateKey: 'pk_dest_oauth' },
    destinations: { '/issuer': 'https://attacker.example.net', '/tokenEndpoint': 'https://attacker.example.net/token' },
  },
  'aws-sts': {
    plural: 'credential-providers',
    config: { roleArn: 'arn:aws:iam::123456789012:role/reader', region: 'eu-west-1', stsEndpoint: 'https://sts.eu-west-1.amazonaws.com' },
    secrets: {},
    destinations: { '/region': 'us-east-1', '/stsEndpoint': 'https://sts.attacker.example.net' },
  },
  'gcp-workload-identity-federation': {
    plural: 'credential-providers',
    config: {
      audience: '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool-1/providers/prov-1',
      tokenUrl: 'https://sts.googleapis.com/v1/token',
      iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com',
    },
    secrets: {},
    destinations: { '/tokenUrl': 'https://attacker.example.net/token', '/iamCredentialsEndpoint': 'https://attacker.example.net' },
  },
  'azure-workload-identity-federation': {
    plural: 'credential-providers',
    config: {
      tenantId: '11111111-2222-3333-4444-555555555555',
      clientId: '66666666-7777-8888-9999-000000000000',
      scope: 'https://storage.azure.com/.default',
      authorityHost: 'https://login.microsoftonline.com',
    },
    secrets: {},
    destinations: { '/tenantId': 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', '/authorityHost': 'https://login.attacker.example.net' },
  },
  file: { plural: 'log-streams', config: { fileName: 'export.jsonl' }, secrets: {}, destinations: { '/fileName': 'other.jsonl' } },
  webhook: {
    plural: 'log-streams',
    config: { url: 'https://siem.example.com/in', batchSize: 10 },
    secrets: { authorization: 'Bearer wh_dest_secret' },
    destinations: { '/url': 'https://siem.attacker.example.net/in' },
  },
};

/** A plugin's credential provider, in plain JSON Schema, declaring its own destinations. */
const remoteSecretProvider: CredentialProvider = {
  specificationVersion: 'v1',
  type: 'fixture-remote-secret',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['endpoint'],
    properties: {
      endpoint: { type: 'string', 'x-tessera-destination': true },
      mirrors: {
        type: 'array',
        items: { type: 'object', additionalProperties: false, properties: { host: { type: 'string', 'x-tessera-destination': true }, weight: { type: 'integer' } } },
      },
      label: { type: 'string' },
    },
  } as never,
  secretsSchema: { type: 'object', additionalProperties: false, properties: { token: { type: 'string' } } } as never,
  async issue() {
    return { kind: 'token', token: 'unused', expiresAt: null };
  },
};

const schemaOf = (type: string) => {
  const provider = builtinCredentialProviders.find((each) => each.type === type);
  return provider ? provider.configSchema : logStreamTypes(new DestinationGuard())[type]!.configSchema;
};

const without = (config: Record<string, unknown>, field: string) => Object.fromEntries(Object.entries(config).filter(([key]) => key !== field));

describe('declared destinations', () => {
  it('lists every built-in credential provider and log stream type, with the destinations its schema declares', () => {
    const types = [...createProviderRegistry().listCredentialProviders(), ...Object.keys(logStreamTypes(new DestinationGuard()))];
    expect(Object.keys(SAMPLES).sort()).toEqual(types.sort());
    for (const [type, sample] of Object.entries(SAMPLES)) {
      expect(destinationPaths(schemaOf(type)), type).toEqual(Object.keys(sample.destinations).sort());
    }
    expect(destinationPaths(remoteSecretProvider.configSchema)).toEqual(['/endpoint', '/mirrors']);
  });
});

describe.each(BACKENDS)('secrets follow their destination ($name)', (backend) => {
  let t: TestApp;
  let serial = 0;

  beforeAll(async () => {
    t = await createTestApp(backend, { register: (registry) => registry.registerCredentialProvider(remoteSecretProvider) });
  });
  afterAll(async () => {
    await t?.close();
  });

  const createSample = (type: string, sample: Pick<Sample, 'plural' | 'config' | 'secrets'>) =>
    create(t, sample.plural, {
      name: `dest-${++serial}`,
      type,
      config: sample.config,
      ...(Object.keys(sample.secrets).length > 0 ? { secrets: sample.secrets } : {}),
    });

  const cases = Object.entries(SAMPLES).flatMap(([type, sample]) =>
    Object.entries(sample.destinations).map(([pointer, value]) => ({ type, sample, field: pointer.slice(1), value })),
  );

  it.each(cases)('$type: a change of $field carries the secrets again, or is refused', async ({ type, sample, field, value }) => {
    const object = await createSample(type, sample);
    const path = `/api/v1/${sample.plural}/${object.id}`;
    const required = (schemaOf(type) as { required?: string[] }).required ?? [];
    const changes = [{ ...sample.config, [field]: value }, ...(required.includes(field) ? [] : [without(sample.config, field)])];
    const secretNames = Object.keys(sample.secrets).sort();
    for (const config of changes) {
      const refused = await t.call('PATCH', path, { body: { config } });
      if (secretNames.length === 0) {
        // Nothing stored to protect: the change goes through (and is undone for the next one).
        expect(refused.status, refused.raw).toBe(200);
        expect((await t.call('PATCH', path, { body: { config: sample.config } })).status).toBe(200);
        continue;
      }
      expect(refused.status, refused.raw).toBe(400);
      expect(refused.body.code).toBe('secrets_required_for_destination_change');
      expect(refused.body.details).toEqual([
        { path: `/config/${field}`, message: 'decides where the secrets are sent' },
        ...secretNames.map((name) => ({ path: `/secrets/${name}`, message: 'required when a destination changes' })),
      ]);
      for (const secret of Object.values(sample.secrets)) expect(refused.raw).not.toContain(secret);
      if (secretNames.length > 1) {
        // Some of the secrets are not enough.
        const partial = await t.call('PATCH', path, { body: { config, secrets: { [secretNames[0]!]: 'rotated' } } });
        expect(partial.body.code).toBe('secrets_required_for_destination_change');
      }
      expect((await t.call('GET', path)).body).toEqual(object);
    }
    const carried = await t.call('PATCH', path, { body: { config: changes[0], secrets: sample.secrets } });
    expect(carried.status, carried.raw).toBe(200);
    expect(carried.body).toMatchObject({ config: changes[0], secretFields: secretNames });
  });

  it('lets other fields change without the secrets, and a secret be removed (null) with the destination', async () => {
    const oauth = SAMPLES['oauth2-client-credentials']!;
    const object = await createSample('oauth2-client-credentials', oauth);
    const path = `/api/v1/credential-providers/${object.id}`;
    for (const body of [{ config: { ...oauth.config, scope: 'read write', timeoutMs: 2000 } }, { description: 'renamed' }, { enabled: false }]) {
      const response = await t.call('PATCH', path, { body });
      expect(response.status, response.raw).toBe(200);
    }
    const moved = { ...oauth.config, tokenEndpoint: 'https://auth2.example.com/token' };
    const dropped = await t.call('PATCH', path, { body: { config: moved, secrets: { clientSecret: 'new-secret', privateKey: null } } });
    expect(dropped.status, dropped.raw).toBe(200);
    expect(dropped.body.secretFields).toEqual(['clientSecret']);

    const webhook = SAMPLES.webhook!;
    const stream = await createSample('webhook', webhook);
    const batch = await t.call('PATCH', `/api/v1/log-streams/${stream.id}`, { body: { config: { ...webhook.config, batchSize: 50 } } });
    expect(batch.status).toBe(200);
  });

  it("holds a plugin's declared destinations to the same rule, nested ones included", async () => {
    const config = { endpoint: 'https://vault.example.com', mirrors: [{ host: 'a.example.com', weight: 1 }], label: 'x' };
    const object = await createSample('fixture-remote-secret', { plural: 'credential-providers', config, secrets: { token: 'plugin-secret' } });
    const path = `/api/v1/credential-providers/${object.id}`;
    for (const changed of [
      { ...config, endpoint: 'https://attacker.example.net' },
      { ...config, mirrors: [{ host: 'attacker.example.net', weight: 1 }] },
      { ...config, mirrors: [...config.mirrors, { host: 'attacker.example.net' }] },
      { ...config, mirrors: [{ host: 'a.example.com', weight: 2 }] },
      without(config, 'mirrors'),
    ]) {
      const response = await t.call('PATCH', path, { body: { config: changed } });
      expect(response.status, JSON.stringify(changed)).toBe(400);
      expect(response.body.code).toBe('secrets_required_for_destination_change');
    }
    expect((await t.call('PATCH', path, { body: { config: { ...config, label: 'y' } } })).status).toBe(200);
  });
});
