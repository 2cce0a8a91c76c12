import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { loadOptionalDependency } from './optional-dependency.js';

describe('loadOptionalDependency', () => {
  it('loads an installed package once', async () => {
    const first = await loadOptionalDependency<typeof import('jose')>('jose', { feature: 'a test', install: ['jose'] });
    expect(typeof first.jwtVerify).toBe('function');
    expect(await loadOptionalDependency('jose', { feature: 'a test', install: ['jose'] })).toBe(first);
  });

  it('names the npm install for a package that is not installed', async () => {
    const missing = loadOptionalDependency('@tessera-test/not-installed', { feature: 'the test collector', install: ['@tessera-test/not-installed', 'jose'] });
    await expect(missing).rejects.toBeInstanceOf(ConfigError);
    await expect(missing).rejects.toMatchObject({
      code: 'missing_dependency',
      message: 'the test collector needs @tessera-test/not-installed, which is not installed: npm install @tessera-test/not-installed jose',
    });
  });

  it('passes on any other failure, and tries again at the next call', async () => {
    // A relative specifier that does not resolve is not a missing package: the error is Node's own.
    const broken = loadOptionalDependency('./no-such-module.js', { feature: 'a test', install: [] });
    await expect(broken).rejects.not.toBeInstanceOf(ConfigError);
    const again = loadOptionalDependency('./no-such-module.js', { feature: 'a test', install: [] });
    expect(again).not.toBe(broken);
    await expect(again).rejects.toThrow();
  });
});
