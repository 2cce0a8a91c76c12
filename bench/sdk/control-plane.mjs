// The control plane the benchmark's SDK processes attest to: a real @tessera/cloud-server on the
// embedded store, in its own process, so that its CPU is its own and never counted as the
// benchmark's (or a variant's).
//
// IPC: sends { type: 'ready', url, listeningUrl, bootstrapAdminKey }; answers { type: 'cpu' } with
// { type: 'cpu', cpuUs } (the process's CPU time so far, user + system); { type: 'exit' } closes
// the server, removes its data directory and ends the process.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

const { resolveServerConfig, startServer } = await import('@tessera/cloud-server');
const dataDir = mkdtempSync(join(os.tmpdir(), 'tessera-bench-sdk-'));
const config = resolveServerConfig({ port: '0', data: dataDir, 'log-level': 'silent' }, {});
const cloud = await startServer({ config, env: {} });

const cpuUs = () => {
  const used = process.cpuUsage();
  return used.user + used.system;
};

process.on('message', async (message) => {
  if (message.type === 'cpu') process.send({ type: 'cpu', cpuUs: cpuUs() });
  if (message.type === 'exit') {
    await cloud.close();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  }
});
process.send({ type: 'ready', url: cloud.url, listeningUrl: cloud.listeningUrl, bootstrapAdminKey: cloud.bootstrapAdminKey });
process.on('disconnect', async () => {
  await cloud.close().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
