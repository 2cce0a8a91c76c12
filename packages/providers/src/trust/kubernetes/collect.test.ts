import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRefused } from '../../../test/support/jwt-fixtures.js';
import { createKubernetesCollector, DEFAULT_KUBERNETES_TOKEN_FILE, KUBERNETES_TOKEN_FILE_ENV } from './index.js';

const ctx = { audience: 'https://tessera.test' };

describe('kubernetes collector', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-k8s-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads the token file again on every collect, since the kubelet rotates it', async () => {
    const tokenFile = join(dir, 'rotating');
    const collector = createKubernetesCollector({ tokenFile });
    expect(collector).toMatchObject({ type: 'kubernetes-service-account', evidenceType: 'kubernetes-token' });
    await writeFile(tokenFile, 'aaa.bbb.ccc\n');
    await expect(collector.collect(ctx)).resolves.toEqual({ type: 'kubernetes-token', token: 'aaa.bbb.ccc' });
    await writeFile(tokenFile, 'ddd.eee.fff');
    await expect(collector.collect(ctx)).resolves.toEqual({ type: 'kubernetes-token', token: 'ddd.eee.fff' });
  });

  it('detects the platform by the token file existing', async () => {
    const tokenFile = join(dir, 'later');
    const collector = createKubernetesCollector({ tokenFile });
    expect(await collector.detect()).toBe(false);
    await writeFile(tokenFile, 'aaa.bbb.ccc');
    expect(await collector.detect()).toBe(true);
  });

  it('takes the path from the option, then TESSERA_KUBERNETES_TOKEN_FILE, then the default', async () => {
    const fromEnv = join(dir, 'from-env');
    await writeFile(fromEnv, 'env.token.value');
    await expect(createKubernetesCollector({ env: { [KUBERNETES_TOKEN_FILE_ENV]: fromEnv } }).collect(ctx)).resolves.toMatchObject({ token: 'env.token.value' });
    const fromOption = join(dir, 'from-option');
    await writeFile(fromOption, 'option.token.value');
    const both = createKubernetesCollector({ tokenFile: fromOption, env: { [KUBERNETES_TOKEN_FILE_ENV]: fromEnv } });
    await expect(both.collect(ctx)).resolves.toMatchObject({ token: 'option.token.value' });
    expect(DEFAULT_KUBERNETES_TOKEN_FILE).toBe('/var/run/secrets/tokens/tessera-token');
    const fallback = createKubernetesCollector({ env: {} });
    await expectRefused(fallback.collect(ctx), {
      code: 'trust_provider_error',
      message: `cannot read token file ${DEFAULT_KUBERNETES_TOKEN_FILE} (ENOENT)`,
      provider: 'kubernetes-service-account',
    });
  });

  it('refuses an empty or oversized token file without echoing its content', async () => {
    const empty = join(dir, 'empty');
    await writeFile(empty, '  \n');
    await expectRefused(createKubernetesCollector({ tokenFile: empty }).collect(ctx), { code: 'evidence_invalid', message: 'is empty', provider: 'kubernetes-service-account' });
    const huge = join(dir, 'huge');
    const content = `hdr.${'p'.repeat(20_000)}.sig`;
    await writeFile(huge, content);
    const error = await expectRefused(createKubernetesCollector({ tokenFile: huge }).collect(ctx), {
      code: 'evidence_invalid',
      message: 'holds a token too large',
      provider: 'kubernetes-service-account',
    });
    expect(error.message).not.toContain('pppppppp');
  });
});
