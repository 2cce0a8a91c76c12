import { describe, expect, it } from 'vitest';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { awsStsCredentialProvider as provider, defaultStsEndpoint, parseAwsStsConfig, renderRoleSessionName } from './index.js';

const base = { roleArn: 'arn:aws:iam::123456789012:role/billing-reader', region: 'eu-west-1' };
const problems = (config: Record<string, unknown>) => {
  const result = validateProviderConfig(provider, config);
  return result.ok ? [] : result.errors.map((error) => `${error.path} ${error.message}`.trim());
};

describe('aws-sts config', () => {
  it('fills the defaults; the endpoint defaults to the regional STS', () => {
    expect(validateProviderConfig(provider, base)).toEqual({
      ok: true,
      value: { ...base, roleSessionName: 'tessera-{clientWorkloadName}', durationSeconds: 3600, audience: 'sts.amazonaws.com', timeoutMs: 5000 },
    });
    const parsed = parseAwsStsConfig(base);
    expect(parsed).toEqual({
      config: {
        ...base,
        roleSessionName: 'tessera-{clientWorkloadName}',
        durationSeconds: 3600,
        policy: undefined,
        audience: 'sts.amazonaws.com',
        stsEndpoint: 'https://sts.eu-west-1.amazonaws.com',
        timeoutMs: 5000,
      },
    });
    expect(defaultStsEndpoint('cn-north-1')).toBe('https://sts.cn-north-1.amazonaws.com.cn');
    expect(defaultStsEndpoint('us-gov-west-1')).toBe('https://sts.us-gov-west-1.amazonaws.com');
  });

  it('accepts role paths, other partitions, a FIPS or VPC endpoint', () => {
    expect(problems({ ...base, roleArn: 'arn:aws:iam::123456789012:role/service-role/teams/billing.reader@x' })).toEqual([]);
    expect(problems({ ...base, roleArn: 'arn:aws-us-gov:iam::123456789012:role/r', region: 'us-gov-west-1' })).toEqual([]);
    expect(problems({ ...base, roleArn: 'arn:aws-cn:iam::123456789012:role/r', region: 'cn-northwest-1' })).toEqual([]);
    expect(problems({ ...base, stsEndpoint: 'https://sts-fips.us-east-1.amazonaws.com' })).toEqual([]);
    expect(problems({ ...base, stsEndpoint: 'https://vpce-0123-abcd.sts.eu-west-1.vpce.amazonaws.com' })).toEqual([]);
  });

  it('refuses what is not a role ARN, a region, or a session name template', () => {
    expect(problems({ region: 'eu-west-1' })).toEqual(['/roleArn is required']);
    expect(problems({ roleArn: base.roleArn })).toEqual(['/region is required']);
    for (const roleArn of ['arn:aws:iam::123456789012:user/alice', 'arn:aws:iam::12345:role/r', 'billing-reader', 'arn:aws:sts::123456789012:assumed-role/r/s']) {
      expect(problems({ ...base, roleArn })).toHaveLength(1);
    }
    for (const region of ['EU-WEST-1', 'eu-west', 'global']) expect(problems({ ...base, region })).toHaveLength(1);
    for (const roleSessionName of ['', 'has space', '{clientWorkloadEmail}', 'a/b']) expect(problems({ ...base, roleSessionName })).toHaveLength(1);
    expect(problems({ ...base, roleSessionName: 'ci_{clientWorkloadId}.{clientWorkloadName}@tessera' })).toEqual([]);
  });

  it('keeps durationSeconds within 900..43200 and the timeout within 100..60000', () => {
    expect(problems({ ...base, durationSeconds: 900 })).toEqual([]);
    expect(problems({ ...base, durationSeconds: 43_200 })).toEqual([]);
    expect(problems({ ...base, durationSeconds: 899 })).toEqual(['/durationSeconds must be >= 900']);
    expect(problems({ ...base, durationSeconds: 43_201 })).toEqual(['/durationSeconds must be <= 43200']);
    expect(problems({ ...base, durationSeconds: 1800.5 })).toHaveLength(1);
    expect(problems({ ...base, timeoutMs: 99 })).toHaveLength(1);
  });

  it('takes a session policy as an object or a JSON string, checked as JSON', () => {
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] };
    expect(problems({ ...base, policy })).toEqual([]);
    expect(problems({ ...base, policy: JSON.stringify(policy) })).toEqual([]);
    expect(problems({ ...base, policy: '{"Version": "2012-10-17", "Statement": [' })).toEqual(['policy must be a JSON policy document']);
    expect(problems({ ...base, policy: '[1, 2]' })).toEqual(['policy must be a JSON object']);
    expect(problems({ ...base, policy: '"text"' })).toEqual(['policy must be a JSON object']);
    expect(problems({ ...base, policy: { Statement: [{ Sid: 'x'.repeat(2100) }] } })).toEqual(['policy must not exceed 2048 characters as minified JSON']);
    expect(problems({ ...base, policy: { Statement: [{ Sid: 'snowman ☃' }] } })).toEqual(['policy may only hold characters U+0020 to U+00FF']);
    expect(problems({ ...base, policy: 42 })).toHaveLength(1);
  });

  it('requires https for the STS endpoint, http only on loopback', () => {
    expect(problems({ ...base, stsEndpoint: 'http://sts.eu-west-1.amazonaws.com' })).toEqual(['stsEndpoint must use https (http only on a loopback host)']);
    expect(problems({ ...base, stsEndpoint: 'http://127.0.0.1:4566' })).toEqual([]);
    expect(problems({ ...base, stsEndpoint: 'https://user:pw@sts.amazonaws.com' })).toEqual(['stsEndpoint must not contain credentials']);
    expect(problems({ ...base, stsEndpoint: 'https://sts.amazonaws.com/?Action=GetCallerIdentity' })).toEqual(['stsEndpoint must not contain a query']);
    expect(problems({ ...base, stsEndpoint: 'sts.amazonaws.com' })).toEqual(['stsEndpoint must be an absolute URL']);
  });

  it('refuses unknown fields and needs no secrets', () => {
    expect(problems({ ...base, externalId: 'x' })).toEqual(['/externalId is not a known property']);
    expect(problems({ ...base, audience: '' })).toHaveLength(1);
    expect(validateConfig(provider.secretsSchema, {})).toEqual({ ok: true, value: {} });
    expect(validateConfig(provider.secretsSchema, { secretAccessKey: 'x' }).ok).toBe(false);
  });
});

describe('role session names', () => {
  const workload = { id: '01a20929-5a93-70da-b594-4afd84a44aa5', name: 'billing-api' };

  it('fills the placeholders', () => {
    expect(renderRoleSessionName('tessera-{clientWorkloadName}', workload)).toBe('tessera-billing-api');
    expect(renderRoleSessionName('{clientWorkloadId}', workload)).toBe(workload.id);
    expect(renderRoleSessionName('static', workload)).toBe('static');
  });

  it("keeps AWS's [\\w+=,.@-]{2,64}: other characters become '-', short names are padded", () => {
    expect(renderRoleSessionName('{clientWorkloadName}', { ...workload, name: 'a b/c:d' })).toBe('a-b-c-d');
    expect(renderRoleSessionName('{clientWorkloadName}', { ...workload, name: 'x' })).toBe('x-');
  });

  it('cuts long names and keeps them apart with a digest of the whole', () => {
    const long = (suffix: string) => renderRoleSessionName('tessera-{clientWorkloadName}', { ...workload, name: `${'a'.repeat(70)}${suffix}` });
    const [one, two] = [long('-one'), long('-two')];
    expect(one).toHaveLength(64);
    expect(one).toMatch(/^tessera-a{47}-[0-9a-f]{8}$/);
    expect(one).not.toBe(two);
    for (const name of [one, two]) expect(name).toMatch(/^[\w+=,.@-]{2,64}$/);
    expect(renderRoleSessionName('x'.repeat(64), workload)).toBe('x'.repeat(64));
  });
});
