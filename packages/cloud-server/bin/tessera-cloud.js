#!/usr/bin/env node
// The `tessera-cloud` command. A file of its own rather than dist/cli.js itself: npm links a
// workspace's commands at install time, before the build has made dist/, and skips a target that
// does not exist yet.
await import('../dist/cli.js');
