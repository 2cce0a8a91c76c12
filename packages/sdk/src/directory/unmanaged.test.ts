import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudLogger } from '../cloud/logger.js';
import { consoleLogger } from '../runtime/logger.js';
import { Tessera } from '../runtime/tessera.js';
import { createWorld, type World } from '../../test/support/world.js';
import { Directory, type DirectoryEntry } from './directory.js';
import { targetFromUrl } from './target.js';
import { directoryLogFields, UnmanagedOriginLog } from './unmanaged.js';

const header = { kind: 'header', name: 'authorization', format: 'Bearer {token}' } as const;
const entry = (name: string, host: string, extra: Partial<DirectoryEntry> = {}): DirectoryEntry => ({
  serverWorkloadId: `id-${name}`,
  name,
  scheme: 'https',
  host,
  port: 443,
  pathPrefix: '/',
  injection: header,
  ...extra,
});

const directory = new Directory([entry('payments', 'payments.internal', { pathPrefix: '/v1' }), entry('buckets', '*.storage.example.com', { scheme: 'http', port: 9000 })], {
  controlPlane: 'https://tessera.example.com',
});

function capture(): { logger: CloudLogger; lines: Array<[string, Record<string, unknown>]> } {
  const lines: Array<[string, Record<string, unknown>]> = [];
  const line = (message: string, fields?: Record<string, unknown>) => void lines.push([message, fields ?? {}]);
  return { logger: { debug: line, info: line, warn: line }, lines };
}

const unmanaged = (log: UnmanagedOriginLog, url: string, on = directory) => {
  const target = targetFromUrl(url);
  expect(on.lookup(target)).toBeUndefined();
  log.note(on, target);
};

describe('UnmanagedOriginLog', () => {
  it('says once per origin why a request went out without a credential, without its query', () => {
    const { logger, lines } = capture();
    const log = new UnmanagedOriginLog(logger);
    unmanaged(log, 'https://api.vendor.example/v1/charges?api_key=never-logged');
    unmanaged(log, 'https://api.vendor.example/v2/other');
    unmanaged(log, 'https://API.vendor.example:443/v3');
    expect(lines).toEqual([
      [
        'tessera: sent without a credential: not a target in the directory',
        { origin: 'https://api.vendor.example:443', path: '/v1/charges', reason: 'no target on this host', targets: 2 },
      ],
    ]);
  });

  it('names the targets on the same host whose scheme, port or path prefix differ', () => {
    const { logger, lines } = capture();
    const log = new UnmanagedOriginLog(logger);
    unmanaged(log, 'http://payments.internal/v1/charges'); // http, not https
    unmanaged(log, 'https://payments.internal:8443/v1/charges'); // another port
    unmanaged(log, 'https://a.storage.example.com:9000/logs'); // https, not http
    expect(lines.map(([, fields]) => [fields.origin, fields.reason, fields.sameHost])).toEqual([
      ['http://payments.internal:80', 'targets on this host differ in scheme, port or path prefix', ['payments https://payments.internal:443/v1']],
      ['https://payments.internal:8443', 'targets on this host differ in scheme, port or path prefix', ['payments https://payments.internal:443/v1']],
      ['https://a.storage.example.com:9000', 'targets on this host differ in scheme, port or path prefix', ['buckets http://*.storage.example.com:9000/']],
    ]);
    // Another path of an origin already seen is not said again, even when a prefix would explain it.
    unmanaged(log, 'https://payments.internal/v2/refunds');
    expect(lines.at(-1)![1]).toMatchObject({ origin: 'https://payments.internal:443', path: '/v2/refunds' });
    unmanaged(log, 'https://payments.internal/v3');
    expect(lines).toHaveLength(4);
  });

  it('keeps a proxy request\'s origin apart from its absolute-form path, and does not list tunnels', () => {
    const { logger, lines } = capture();
    const log = new UnmanagedOriginLog(logger);
    log.note(directory, { scheme: 'http', host: '127.0.0.1', port: 3128, path: 'payments.internal:443', method: 'CONNECT' });
    log.note(directory, { scheme: 'http', host: '127.0.0.1', port: 3128, path: 'http://api.vendor.example/v1?key=x', method: 'GET' });
    expect(lines).toEqual([
      ['tessera: sent without a credential: not a target in the directory', { origin: 'http://127.0.0.1:3128', path: 'http://api.vendor.example/v1', reason: 'no target on this host', targets: 2 }],
    ]);
  });

  it('never lists the control plane, which is never managed', () => {
    const { logger, lines } = capture();
    const log = new UnmanagedOriginLog(logger);
    unmanaged(log, 'https://tessera.example.com/edge/v1/attest');
    expect(lines).toEqual([]);
  });

  it('remembers at most `limit` origins, then says once that further ones are not listed', () => {
    const { logger, lines } = capture();
    const log = new UnmanagedOriginLog(logger, 3);
    for (let port = 1; port <= 10; port += 1) unmanaged(log, `http://other.example:${port}/`);
    for (let port = 1; port <= 10; port += 1) unmanaged(log, `http://other.example:${port}/`);
    expect(lines.map(([message, fields]) => `${message} ${fields.origin ?? fields.limit}`)).toEqual([
      'tessera: sent without a credential: not a target in the directory http://other.example:1',
      'tessera: sent without a credential: not a target in the directory http://other.example:2',
      'tessera: sent without a credential: not a target in the directory http://other.example:3',
      'tessera: further origins sent without a credential are not listed 3',
    ]);
  });

  it('starts afresh with the directory of a new attestation', () => {
    const { logger, lines } = capture();
    const log = new UnmanagedOriginLog(logger);
    unmanaged(log, 'https://api.vendor.example/');
    unmanaged(log, 'https://api.vendor.example/', new Directory([]));
    expect(lines.map(([, fields]) => fields.targets)).toEqual([2, 0]);
  });
});

describe('directoryLogFields', () => {
  it('lists the targets by name and origin, nothing of their injection', () => {
    expect(directoryLogFields(directory)).toEqual({ targets: 2, listed: ['payments https://payments.internal:443/v1', 'buckets http://*.storage.example.com:9000/'] });
  });

  it('counts what it does not list', () => {
    const big = new Directory(Array.from({ length: 150 }, (_, i) => entry(`t${i}`, `t${i}.example.com`)));
    const fields = directoryLogFields(big);
    expect(fields).toMatchObject({ targets: 150, notListed: 50 });
    expect(fields.listed).toHaveLength(100);
  });
});

describe('a Tessera instance at debug level', () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('lists the directory at attestation, and each unmanaged origin once', async () => {
    const { logger, lines } = capture();
    const tessera = new Tessera({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, events: false });
    try {
      await tessera.ready();
      const listing = lines.find(([message]) => message === 'tessera: directory of targets');
      expect(listing?.[1]).toMatchObject({ targets: 4, listed: expect.arrayContaining([`api http://127.0.0.1:${world.api.port}/`]) });

      const elsewhere = { scheme: 'http', host: 'localhost', port: world.api.port, path: '/v1?key=x', method: 'GET' };
      expect(tessera.tryAdmit(elsewhere)).toBeUndefined();
      expect(await tessera.admit(elsewhere)).toBeUndefined();
      const said = lines.filter(([message]) => message === 'tessera: sent without a credential: not a target in the directory');
      expect(said).toEqual([
        ['tessera: sent without a credential: not a target in the directory', { origin: `http://localhost:${world.api.port}`, path: '/v1', reason: 'no target on this host', targets: 4 }],
      ]);
    } finally {
      await tessera.close();
    }
  });

  it('does nothing of it when the logger drops debug lines', () => {
    expect(consoleLogger('warn').debugEnabled).toBe(false);
    expect(consoleLogger('info').debugEnabled).toBe(false);
    expect(consoleLogger('debug').debugEnabled).toBe(true);
  });
});
