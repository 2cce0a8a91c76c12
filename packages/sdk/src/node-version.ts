/**
 * The oldest Node.js the SDK runs on: `engines.node` of its package.json (undici 8 needs 22.19;
 * on an older Node it throws as it loads, with an error that names neither). This module imports
 * nothing, so the register hook can check before it loads anything that breaks there.
 */
export const REQUIRED_NODE_VERSION = '22.19';

/** One line that names the Node.js the SDK needs, or `undefined` when `version` is new enough. */
export function unsupportedNodeMessage(version: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor = 0, needMinor = 0] = REQUIRED_NODE_VERSION.split('.').map(Number);
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined;
  return `Node.js ${REQUIRED_NODE_VERSION} or newer is required (this is v${version})`;
}
