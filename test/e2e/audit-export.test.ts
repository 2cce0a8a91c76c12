import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { api, startCloud, type CloudProcess } from './support/cloud-process.js';

/**
 * The promise of audit export (DESIGN §5): no event is lost while the sink is down, nor when the
 * control plane is killed mid-stream. Real processes throughout: the cloud server (SIGKILLed and
 * restarted on the same data dir) and a webhook receiver (SIGKILLed and brought back).
 */

const SINK_SCRIPT = fileURLToPath(new URL('./support/fake-webhook.mjs', import.meta.url));
const SINK_AUTH = 'Bearer e2e-sink-token';
// A killed process cannot release its lease; a short TTL lets the restarted one take over soon.
// The receiver listens on loopback, which log streams may reach only when the operator allows it.
const CLOUD_ENV = { TESSERA_AUDIT_LEASE_TTL_MS: '3000', TESSERA_LOG_STREAM_ALLOW: '127.0.0.1' };

const children: ChildProcess[] = [];
const clouds: CloudProcess[] = [];
afterEach(async () => {
  await Promise.all(clouds.splice(0).map((cloud) => cloud.stop('SIGKILL')));
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

async function startSink(port: number, recordFile: string): Promise<{ port: number; kill(): Promise<void> }> {
  const child = spawn(process.execPath, [SINK_SCRIPT, String(port), recordFile, SINK_AUTH], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const listening = await new Promise<number>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    void exited.then(() => reject(new Error(`webhook sink exited: ${output}`)));
  });
  return {
    port: listening,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function startCloudProcess(dataDir: string): Promise<CloudProcess> {
  const cloud = await startCloud(['--data', dataDir], CLOUD_ENV);
  clouds.push(cloud);
  return cloud;
}

let written = 0;
/** Admin writes, each one `admin.change` event; stops quietly at the first failure (a killed server). */
async function writeWorkloads(cloud: CloudProcess, key: string, count: number, resourceSetId?: string): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    written += 1;
    const body = { name: `w-${written}`, identities: [{ claim: 'k8s.ns', value: `ns-${written}` }], resourceSetId };
    try {
      const answer = await api(cloud.url, key, 'POST', '/api/v1/client-workloads', body);
      if (answer.status !== 201) throw new Error(`write answered ${answer.status}`);
    } catch (error) {
      // The exit event may trail the failed request by a moment.
      const killed = await Promise.race([cloud.exited.then(() => true), sleep(2000).then(() => false)]);
      if (!killed) throw error;
      return;
    }
  }
}

async function listSetEvents(cloud: CloudProcess, key: string, resourceSetId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `resourceSetId=${resourceSetId}&limit=500${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await api(cloud.url, key, 'GET', `/api/v1/audit-events?${query}`);
    expect(page.status).toBe(200);
    ids.push(...page.body.items.map((event: { id: string }) => event.id));
    cursor = page.body.nextCursor;
  } while (cursor);
  return ids;
}

function received(recordFile: string): Array<{ id: string; resourceSetId: string }> {
  return readFileSync(recordFile, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [id, resourceSetId] = line.split(' ');
      return { id: id!, resourceSetId: resourceSetId! };
    });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('delivers every event at least once through a sink outage and two SIGKILLs of the cloud', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-audit-'));
  const recordFile = join(dataDir, 'received.txt');
  writeFileSync(recordFile, '');
  try {
    let sink = await startSink(0, recordFile);
    let cloud = await startCloudProcess(dataDir);
    const key = cloud.bootstrapKey!;
    const other = await api(cloud.url, key, 'POST', '/api/v1/resource-sets', { name: 'other' });
    const stream = await api(cloud.url, key, 'POST', '/api/v1/log-streams', {
      name: 'siem',
      type: 'webhook',
      config: { url: `http://127.0.0.1:${sink.port}/ingest`, batchSize: 7, flushIntervalMs: 200, timeoutMs: 1000 },
      secrets: { authorization: SINK_AUTH },
    });
    expect(stream.status).toBe(201);
    const setId: string = stream.body.resourceSetId;
    const created = await api(cloud.url, key, 'GET', `/api/v1/audit-events?objectId=${stream.body.id}`);
    const streamStart: string = created.body.items[0].id;

    // 1. Sink up; the cloud is killed while writes (and deliveries) are in flight.
    await writeWorkloads(cloud, key, 15);
    const inFlight = writeWorkloads(cloud, key, Number.POSITIVE_INFINITY); // until the kill
    while (received(recordFile).length < 10) await sleep(50); // the export is under way
    await sleep(300);
    await cloud.stop('SIGKILL');
    await inFlight;
    const deliveredAtFirstKill = received(recordFile).length;
    cloud = await startCloudProcess(dataDir);

    // 2. Sink down; the cloud is killed again while it retries, and restarted.
    await sink.kill();
    await writeWorkloads(cloud, key, 15);
    await writeWorkloads(cloud, key, 5, other.body.id); // another set: never exported to this stream
    await cloud.stop('SIGKILL');
    cloud = await startCloudProcess(dataDir);
    await writeWorkloads(cloud, key, 10);
    await sleep(1000);

    // 3. Sink back on the same port; more writes.
    sink = await startSink(sink.port, recordFile);
    await writeWorkloads(cloud, key, 10);

    const expected = (await listSetEvents(cloud, key, setId)).filter((id) => id >= streamStart);
    const deadline = Date.now() + 20_000;
    let missing = expected;
    while (missing.length > 0 && Date.now() < deadline) {
      await sleep(200);
      const got = new Set(received(recordFile).map((event) => event.id));
      missing = expected.filter((id) => !got.has(id));
    }
    const deliveries = received(recordFile);
    const unique = new Set(deliveries.map((event) => event.id));
    console.log(
      `[audit-export e2e] events expected ${expected.length}, delivered ${unique.size} unique in ` +
        `${deliveries.length} deliveries (${deliveries.length - unique.size} duplicates), missing ${missing.length}; ` +
        `${deliveredAtFirstKill} delivered when the cloud was first killed`,
    );
    expect(missing).toEqual([]);
    expect(expected.length).toBeGreaterThan(50);
    // Only this stream's set, only from the stream's start on.
    expect(deliveries.every((event) => event.resourceSetId === setId && event.id >= streamStart)).toBe(true);
    expect([...unique].every((id) => expected.includes(id))).toBe(true);
    // The sink's secret never reaches a log.
    for (const each of clouds) expect(each.output()).not.toContain('e2e-sink-token');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
