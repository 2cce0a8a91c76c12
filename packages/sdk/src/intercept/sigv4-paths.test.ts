import http from 'node:http';
import axios from 'axios';
import got from 'got';
import { fetch as undiciFetch, getGlobalDispatcher, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAwsService, type FakeAwsService } from '../../test/support/fake-aws-service.js';
import { asFetchSends, s3Targets, serviceTargets } from '../../test/support/sigv4-corpus.js';
import { StaticGate } from '../../test/support/static-gate.js';
import { installGlobalDispatcher } from './global.js';
import { installNodeHttpInterception } from './node-http/index.js';

/**
 * SigV4 through every client the SDK intercepts, for a corpus of awkward paths and queries, to
 * an S3 and to another service (lambda) that check each signature with the independent verifier
 * (test/support/sigv4-verifier.ts). What goes on the wire is what the client sends without Tessera:
 * the request-target the server received is compared with the one asked for (as the WHATWG URL
 * parser leaves it, for the clients that parse URLs).
 */
const KEYS = { accessKeyId: 'AKIAPATHCORPUS00001', secretAccessKey: 'path-corpus/secret+key0123456789abcdefgh', sessionToken: 'path-corpus-session-token==' };

let s3: FakeAwsService;
let lambda: FakeAwsService;
const uninstall: Array<() => void> = [];

beforeAll(async () => {
  [s3, lambda] = await Promise.all([
    startFakeAwsService({ service: 's3', region: 'eu-west-1', credentials: [KEYS] }),
    startFakeAwsService({ service: 'lambda', region: 'eu-west-1', credentials: [KEYS] }),
  ]);
  const gate = new StaticGate({ kind: 'aws', ...KEYS });
  gate.manage(s3.port, { kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' });
  gate.manage(lambda.port, { kind: 'aws-sigv4', region: 'eu-west-1', service: 'lambda' });
  uninstall.push(installGlobalDispatcher(gate), installNodeHttpInterception(gate));
});

afterAll(async () => {
  for (const undo of uninstall.splice(0)) undo();
  await Promise.all([s3?.close(), lambda?.close()]);
});

type Send = (origin: string, target: string, body: string) => Promise<unknown>;

/** Each client sends `PUT origin+target` with a small string body and reads the answer. */
const clients: Array<[name: string, sendsRaw: boolean, send: Send]> = [
  ['fetch', false, (origin, target, body) => fetch(`${origin}${target}`, { method: 'PUT', body }).then((r) => r.text())],
  ['undici.fetch', false, (origin, target, body) => undiciFetch(`${origin}${target}`, { method: 'PUT', body }).then((r) => r.text())],
  ['undici.request', false, (origin, target, body) => undiciRequest(`${origin}${target}`, { method: 'PUT', body }).then((r) => r.body.text())],
  // The dispatcher API takes the path as is, dot segments included.
  ['dispatcher.request', true, (origin, path, body) => getGlobalDispatcher().request({ origin, path, method: 'PUT', body }).then((r) => r.body.text())],
  [
    'node:http',
    true,
    (origin, path, body) =>
      new Promise((resolve, reject) => {
        const { hostname, port } = new URL(origin);
        const req = http.request({ host: hostname, port, path, method: 'PUT', headers: { 'content-type': 'text/plain' } }, (res) => {
          res.resume().on('end', resolve);
        });
        req.on('error', reject);
        req.end(body);
      }),
  ],
  ['axios', false, (origin, target, body) => axios.put(`${origin}${target}`, body, { headers: { 'content-type': 'text/plain' }, validateStatus: () => true })],
  ['got', false, (origin, target, body) => got.put(`${origin}${target}`, { body, throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: 5000 } }).text()],
];

describe.each([
  ['S3', () => s3, s3Targets()],
  ['lambda', () => lambda, serviceTargets()],
] as const)('%s', (_service, fake, targets) => {
  it.each(clients)('%s: every corpus target verifies and goes out as the client sends it', async (_client, sendsRaw, send) => {
    const failures: string[] = [];
    for (const target of targets) {
      const from = fake().requests.length;
      const body = `body of ${target}`;
      await send(fake().url, target, body);
      const received = fake().requests.slice(from);
      const wire = sendsRaw ? target : asFetchSends(target);
      if (received.length !== 1) failures.push(`${target}: ${received.length} requests arrived`);
      else if (!received[0]!.verified) failures.push(`${target}: ${received[0]!.error}`);
      else if (received[0]!.target !== wire) failures.push(`${target}: sent as ${received[0]!.target}, not ${wire}`);
      else if (received[0]!.body.toString() !== body) failures.push(`${target}: the body changed`);
    }
    expect(failures).toEqual([]);
  });
});
