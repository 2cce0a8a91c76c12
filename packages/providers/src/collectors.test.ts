import { describe, expect, it } from 'vitest';
import { builtinEvidenceCollectors } from './catalog.js';
import { builtinCollectorLoaders } from './collectors.js';

describe('builtinCollectorLoaders', () => {
  it('lists the control plane catalog\'s collectors, in the same order, and loads the same objects', async () => {
    expect(builtinCollectorLoaders.map((loader) => loader.type)).toEqual(builtinEvidenceCollectors.map((collector) => collector.type));
    for (const [index, loader] of builtinCollectorLoaders.entries()) expect(await loader.load()).toBe(builtinEvidenceCollectors[index]);
  });
});
