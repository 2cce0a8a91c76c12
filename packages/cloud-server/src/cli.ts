#!/usr/bin/env node
// The control plane needs node:sqlite without its experimental warning (Node 24.15+). Check
// before anything loads it, so an older Node gets one clear line instead of a module error.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 15)) {
  process.stderr.write(`tessera-cloud: Node.js 24.15 or newer is required (this is ${process.version})\n`);
  process.exit(1);
}
await import('./cli-main.js');
