// How much an unauthenticated caller can make the control plane write to its audit trail:
// POST /edge/v1/attest with no DPoP proof, as fast as one client can send, for a while, with a
// large and then a well-formed Tessera-Sdk-Instance header, side by side in one run. Reports
// the audit rows and bytes each flood added, and how much the database files grew (both measured
// after a clean stop, so that counted refusals are written).
//
//   npm run build && node bench/audit-flood.mjs [--connections 8] [--duration 10] [--instance-bytes 15360]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { startCloudProcess } from './support.mjs';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' },
    'instance-bytes': { type: 'string', default: String(15 * 1024) },
  },
});
const connections = Number(values.connections);
const durationSeconds = Number(values.duration);
const instanceBytes = Number(values['instance-bytes']);

const floods = [
  { name: `${instanceBytes}-byte Tessera-Sdk-Instance`, instance: 'x'.repeat(instanceBytes) },
  { name: 'UUID Tessera-Sdk-Instance', instance: '5b0e8c1e-3f6a-4d52-9a4e-2f1c0d6b7a81' },
];

const results = [];
for (const flood of floods) results.push({ name: flood.name, ...(await run(flood.instance)) });

console.log(`\nPOST /edge/v1/attest without a proof, ${connections} connections, ${durationSeconds} s each\n`);
console.log('flood                              requests  statuses                  audit rows  audit bytes  store growth');
for (const r of results) {
  console.log(
    `${r.name.padEnd(34)} ${String(r.requests).padStart(8)}  ${JSON.stringify(r.statuses).padEnd(24)}  ` +
      `${String(r.rows).padStart(10)}  ${String(r.bytes).padStart(11)}  ${String(r.fileGrowth).padStart(12)}`,
  );
}

async function run(instance) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-flood-'));
  const args = ['--data', dataDir, '--log-level', 'warn'];
  // A first start creates the store; sizes are compared between two clean stops.
  await (await startCloudProcess(args)).stop();
  const database = join(dataDir, 'tessera.db');
  const before = auditSize(database);
  const filesBefore = storeBytes(database);
  const cloud = await startCloudProcess(args);
  let stopped = false;
  try {
    const pool = new Pool(cloud.url, { connections, pipelining: 1 });
    const body = JSON.stringify({ evidence: { type: 'jwt', token: 'x' } });
    const statuses = {};
    let requests = 0;
    const deadline = Date.now() + durationSeconds * 1000;
    const loop = async () => {
      while (Date.now() < deadline) {
        const response = await pool.request({
          method: 'POST',
          path: '/edge/v1/attest',
          headers: { 'content-type': 'application/json', 'tessera-sdk-instance': instance },
          body,
        });
        await response.body.dump();
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        requests += 1;
      }
    };
    await Promise.all(Array.from({ length: connections }, loop));
    await pool.close();
    await cloud.stop(); // a clean stop writes what was aggregated
    stopped = true;
    const after = auditSize(database);
    return {
      requests,
      statuses,
      rows: after.rows - before.rows,
      bytes: after.bytes - before.bytes,
      fileGrowth: storeBytes(database) - filesBefore,
    };
  } finally {
    if (!stopped) await cloud.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Rows and bytes of the audit trail (every column's text). */
function auditSize(file) {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const row = db
      .prepare(
        `SELECT count(*) AS rows, coalesce(sum(length(id) + length(time) + length(kind) + length(outcome) +
           coalesce(length(reason), 0) + coalesce(length(resource_set_id), 0) + coalesce(length(actor), 0) +
           coalesce(length(client_workload_id), 0) + coalesce(length(server_workload_id), 0) +
           coalesce(length(object_id), 0) + length(data)), 0) AS bytes FROM audit_events`,
      )
      .get();
    return { rows: Number(row.rows), bytes: Number(row.bytes) };
  } finally {
    db.close();
  }
}

/** The database file and its write-ahead log. */
function storeBytes(file) {
  let total = 0;
  for (const each of [file, `${file}-wal`]) {
    try {
      total += statSync(each).size;
    } catch {
      // not there (yet)
    }
  }
  return total;
}
