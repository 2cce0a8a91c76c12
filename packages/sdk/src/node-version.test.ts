import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REQUIRED_NODE_VERSION, unsupportedNodeMessage } from './node-version.js';

describe('the Node.js version check', () => {
  it("is the package's engines.node", () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(manifest.engines.node).toBe(`>=${REQUIRED_NODE_VERSION}`);
  });

  it.for(['20.20.2', '21.7.3', '22.0.0', '22.18.9'])('refuses %s with one line naming the required version', (version) => {
    expect(unsupportedNodeMessage(version)).toBe(`Node.js 22.19 or newer is required (this is v${version})`);
  });

  it.for(['22.19.0', '22.20.1', '23.0.0', '24.21.0', '30.1.0'])('accepts %s', (version) => {
    expect(unsupportedNodeMessage(version)).toBeUndefined();
  });

  it('accepts the Node.js running the tests', () => {
    expect(unsupportedNodeMessage()).toBeUndefined();
  });
});
