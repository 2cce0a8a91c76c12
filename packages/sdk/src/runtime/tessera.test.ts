import diagnostics from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { defineEvidenceCollector } from '@tessera/providers';
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError, TesseraConfigurationError, TesseraUnavailableError } from '../errors.js';
import { API_KEY, BASIC_PASSWORD, QUERY_KEY, captureLogs, createWorld, headerValues, type World } from '../../test/support/world.js';
import { MUST_WAIT } from './gate.js';
import { Tessera, type TesseraOptions } from './tessera.js';

let world: World;
const { logger, lines: logLines } = captureLogs();
const published: string[] = [];
const instances: Tessera[] = [];

function tessera(options: Partial<TesseraOptions> = {}): Tessera {
  const created = new Tessera({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, deadlineMs: 1500, metrics: { flushIntervalMs: 0 }, ...options });
  instances.push(created);
  return created;
}

const record = (name: string) => (message: unknown) => published.push(`${name} ${inspect(message, { depth: 5 })}`);
const channelNames = ['tessera:attest', 'tessera:credential', 'tessera:request:denied', 'tessera:request:finished', 'tessera:fail-open'];
const subscribers = channelNames.map((name) => [name, record(name)] as const);

beforeAll(async () => {
  world = await createWorld();
  for (const [name, fn] of subscribers) diagnostics.subscribe(name, fn);
});

afterEach(async () => {
  for (const t of instances.splice(0)) await t.close();
  world.proxy.faults.length = 0;
  world.proxy.always = undefined;
});

afterAll(async () => {
  for (const [name, fn] of subscribers) diagnostics.unsubscribe(name, fn);
  await world?.close();
  const text = [...logLines, ...published].join('\n');
  for (const secret of [API_KEY, BASIC_PASSWORD, QUERY_KEY, ...world.proxy.edgeTokens, ...world.idp.minted]) expect(text).not.toContain(secret);
});

const target = (host: string, port: number, path = '/') => ({ scheme: 'http', host, port, path, method: 'GET' });

describe('Tessera', () => {
  it('attests eagerly and lists the targets; the control plane is never a managed target', async () => {
    const t = tessera();
    const ready = await t.ready();
    expect(ready.clientWorkload.name).toBe('payments');
    expect(ready.targets.map((e) => e.name).sort()).toEqual(['api', 'basic-api', 'denied-api', 'query-api']);
    const cloud = new URL(world.proxy.url);
    expect(t.tryAdmit(target(cloud.hostname, Number(cloud.port), '/edge/v1/attest'))).toBeUndefined();
    expect(published.some((line) => line.startsWith('tessera:attest') && line.includes('payments'))).toBe(true);
  });

  it('lazy attestation waits for the first request; tryAdmit never calls the cloud', async () => {
    const attests = world.proxy.count('/edge/v1/attest');
    const t = tessera({ attest: 'lazy' });
    expect(t.tryAdmit(target('127.0.0.1', world.api.port))).toBe(MUST_WAIT);
    expect(world.proxy.count('/edge/v1/attest')).toBe(attests);
    const grant = await t.admit(target('127.0.0.1', world.api.port));
    expect(grant?.issued.credential).toEqual({ kind: 'token', token: API_KEY });
    expect(world.proxy.count('/edge/v1/attest')).toBe(attests + 1);
    // Now cached: the synchronous path answers.
    const cached = t.tryAdmit(target('127.0.0.1', world.api.port));
    expect(cached).not.toBe(MUST_WAIT);
    expect(t.tryAdmit(target('127.0.0.1', world.unmanaged.port))).toBeUndefined();
  });

  it('concurrent misses share one credential call', async () => {
    const t = tessera();
    await t.ready();
    const before = world.proxy.count('/edge/v1/credentials');
    const grants = await Promise.all(Array.from({ length: 20 }, () => t.admit(target('127.0.0.1', world.basic.port, '/a'))));
    expect(new Set(grants.map((g) => g?.issued)).size).toBe(1);
    expect(world.proxy.count('/edge/v1/credentials')).toBe(before + 1);
  });

  it('getCredential: a credential for code that places it itself', async () => {
    const t = tessera();
    const grant = await t.getCredential(`${world.basic.url}/db`);
    expect(grant.credential).toMatchObject({ kind: 'basic', password: BASIC_PASSWORD });
    expect(grant.serverWorkload.name).toBe('basic-api');
    expect(grant.expiresAt.getTime()).toBeGreaterThan(Date.now());
    const byParts = await t.getCredential({ scheme: 'http', host: '127.0.0.1', port: world.api.port });
    expect(byParts.credential).toEqual({ kind: 'token', token: API_KEY });
    const outside = await t.getCredential(world.unmanaged.url).catch((e: unknown) => e);
    expect(outside).toBeInstanceOf(TesseraAccessDeniedError);
    expect((outside as TesseraAccessDeniedError).code).toBe('no_server_workload');
    const denied = await t.getCredential(world.denied.url).catch((e: unknown) => e);
    expect((denied as TesseraAccessDeniedError).code).toBe('condition_failed');
    await expect(t.getCredential('ftp://x')).rejects.toBeInstanceOf(TesseraConfigurationError);
    await expect(t.getCredential({ scheme: 'http', host: 'x', port: 70000 })).rejects.toBeInstanceOf(TesseraConfigurationError);
  });

  it('explicit mode: tessera.fetch and tessera.dispatcher() change nothing global', async () => {
    const t = tessera();
    const response = await t.fetch(`${world.api.url}/explicit`, { headers: { authorization: 'Bearer mine' } });
    expect(response.status).toBe(200);
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    // The global fetch is untouched.
    await fetch(`${world.api.url}/global`, { headers: { authorization: 'Bearer mine' } });
    expect(headerValues(world.api.received.at(-1)!, 'authorization')).toEqual(['Bearer mine']);
    // A dispatcher of the caller's, wrapped.
    const pool = new Pool(world.query.url);
    const wrapped = t.dispatcher(pool);
    const answer = await wrapped.request({ path: '/pooled', method: 'GET' });
    await answer.body.text();
    expect(world.query.received.at(-1)!.url).toBe(`/pooled?api_key=${QUERY_KEY}`);
    await pool.close();
  });

  it('re-attests from scratch when the cloud rejects the edge token', async () => {
    const t = tessera();
    await t.ready();
    const attests = world.proxy.count('/edge/v1/attest');
    world.proxy.faults.push({ status: 401, body: { code: 'invalid_edge_token', message: 'expired' } });
    const grant = await t.admit(target('127.0.0.1', world.query.port, '/x'));
    expect(grant?.issued.credential).toEqual({ kind: 'token', token: QUERY_KEY });
    expect(world.proxy.count('/edge/v1/attest')).toBe(attests + 1);
  });

  it('fails closed with TesseraUnavailableError when the cloud is down and nothing is cached', async () => {
    const t = tessera();
    await t.ready();
    world.proxy.always = { status: 503 };
    const error = await t.admit(target('127.0.0.1', world.api.port)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TesseraUnavailableError);
    expect(published.some((line) => line.startsWith('tessera:request:denied') && line.includes('cloud_unavailable'))).toBe(true);
  });

  it('an outage is logged once when it starts, with its cause, and once when it ends, with the requests that failed closed', async () => {
    const t = tessera({ deadlineMs: 400 });
    await t.ready();
    const mark = logLines.length;
    world.proxy.always = { status: 503 };
    for (const port of [world.api.port, world.basic.port, world.query.port]) {
      await expect(t.admit(target('127.0.0.1', port))).rejects.toBeInstanceOf(TesseraUnavailableError);
    }
    world.proxy.always = undefined;
    expect((await t.admit(target('127.0.0.1', world.api.port)))?.issued.credential).toEqual({ kind: 'token', token: API_KEY });
    const lines = logLines.slice(mark);
    const started = lines.filter((line) => line.includes('cannot be reached'));
    expect(started).toHaveLength(1);
    expect(started[0]).toMatch(/fail closed.*"cause":"Tessera cloud unavailable: POST .*\/edge\/v1\/credentials failed \d+ times? .*last: HTTP 503 unavailable"/);
    const ended = lines.filter((line) => line.includes('answers again'));
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatch(/"failedClosed":3/);
  });

  it('a request waits for the first attestation at most deadlineMs, then fails closed', async () => {
    const stuck = defineEvidenceCollector({ specificationVersion: 'v1', type: 'stuck', evidenceType: 'jwt', detect: async () => true, collect: () => new Promise(() => {}) });
    const t = tessera({ collectors: [stuck], deadlineMs: 300 });
    const started = Date.now();
    const error = await t.admit(target('127.0.0.1', world.api.port)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TesseraUnavailableError);
    expect((error as Error).message).toMatch(/no answer from the Tessera control plane within 300 ms/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a denial is remembered: rapid retries fail at once with the same typed denial, after one cloud call', async () => {
    const t = tessera();
    await t.ready();
    const before = world.proxy.count('/edge/v1/credentials');
    const denied = target('127.0.0.1', world.denied.port, '/v1/charges');
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => t.admit(denied).catch((e: unknown) => e)));
    const retried: unknown[] = [];
    for (let i = 0; i < 5; i += 1) retried.push(await t.admit(denied).catch((e: unknown) => e));
    await expect(t.getCredential(`${world.denied.url}/v1/charges`)).rejects.toMatchObject({ code: 'condition_failed' });
    expect(world.proxy.count('/edge/v1/credentials')).toBe(before + 1);
    const elsewhere = await t.admit(target('127.0.0.1', world.denied.port, '/v1/refunds?id=7')).catch((e: unknown) => e);
    expect(world.proxy.count('/edge/v1/credentials')).toBe(before + 1);
    const first = concurrent[0] as TesseraAccessDeniedError;
    expect(first.cloudMessage).toMatch(/night-shift/);
    for (const error of [...concurrent, ...retried, elsewhere]) {
      expect(error).toBeInstanceOf(TesseraAccessDeniedError);
      expect(error).toMatchObject({ code: 'condition_failed', details: first.details, cloudMessage: first.cloudMessage });
    }
    // Each names its own request (never its query string).
    expect((retried[0] as Error).message).toBe(first.message);
    expect((elsewhere as Error).message).toBe(first.message.replace('/v1/charges', '/v1/refunds'));
    // Another target is not affected.
    expect((await t.admit(target('127.0.0.1', world.api.port)))?.issued.credential).toEqual({ kind: 'token', token: API_KEY });
  });

  it('a denial is remembered as long as the cloud’s Retry-After says (bounded), and forgotten with a new session', async () => {
    const t = tessera();
    await t.ready();
    const before = world.proxy.count('/edge/v1/credentials');
    const basic = target('127.0.0.1', world.basic.port, '/db');
    world.proxy.faults.push({ status: 403, body: { code: 'no_matching_policy', message: 'no policy' }, headers: { 'retry-after': '1' } });
    await expect(t.admit(basic)).rejects.toMatchObject({ code: 'no_matching_policy' });
    await expect(t.admit(basic)).rejects.toMatchObject({ code: 'no_matching_policy' });
    expect(world.proxy.count('/edge/v1/credentials')).toBe(before + 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await t.admit(basic))?.issued.credential).toMatchObject({ kind: 'basic' });
    expect(world.proxy.count('/edge/v1/credentials')).toBe(before + 2);

    // A new session (the cloud rejected the edge token: attest again) forgets every denial.
    const denied = target('127.0.0.1', world.denied.port);
    await expect(t.admit(denied)).rejects.toMatchObject({ code: 'condition_failed' });
    world.proxy.faults.push({ status: 401, body: { code: 'invalid_edge_token', message: 'expired' } });
    await t.admit(target('127.0.0.1', world.query.port));
    const calls = world.proxy.count('/edge/v1/credentials');
    await expect(t.admit(denied)).rejects.toMatchObject({ code: 'condition_failed' });
    expect(world.proxy.count('/edge/v1/credentials')).toBe(calls + 1);
  });

  it('a refused attestation is an answer: it reaches the caller even in fail-open mode, and is not asked again at once', async () => {
    const attests = world.proxy.count('/edge/v1/attest');
    const t = tessera({ collectors: [world.collector('svc-unknown')], failMode: 'open' });
    const first = await t.admit(target('127.0.0.1', world.api.port)).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(TesseraAccessDeniedError);
    expect((first as TesseraAccessDeniedError).code).toBe('no_client_workload');
    const second = await t.admit(target('127.0.0.1', world.unmanaged.port)).catch((e: unknown) => e);
    expect(second).toBe(first);
    await t.flush(); // the counted denials wait for a session; they do not attest by themselves
    expect(world.proxy.count('/edge/v1/attest')).toBe(attests + 1);
    expect(logLines.some((line) => line.includes('refused this workload') && line.includes('no_client_workload'))).toBe(true);
    expect(logLines.some((line) => line.includes('FAIL-OPEN'))).toBe(false);
  });

  it('metrics: false reports nothing, nor does the deprecated events: false; a bad interval is a configuration error', async () => {
    for (const options of [{ metrics: false as const }, { metrics: undefined, events: false as const }]) {
      const t = tessera(options);
      await t.ready();
      const reports = world.proxy.count('/edge/v1/metrics');
      await t.fetch(`${world.api.url}/unreported`);
      await t.flush();
      await t.close();
      expect(world.proxy.count('/edge/v1/metrics')).toBe(reports);
      expect(t.droppedRequests).toBe(0);
    }
    const reporting = tessera({ metrics: undefined, events: { maxQueue: 5, flushIntervalMs: 0 } });
    await reporting.fetch(`${world.api.url}/reported`);
    const reports = world.proxy.count('/edge/v1/metrics');
    await reporting.flush();
    expect(world.proxy.count('/edge/v1/metrics')).toBe(reports + 1);
    for (const flushIntervalMs of [-1, Number.NaN, Infinity]) {
      expect(() => new Tessera({ cloudUrl: world.proxy.url, metrics: { flushIntervalMs } })).toThrow(TesseraConfigurationError);
    }
  });

  it('a collector that cannot run here is a configuration error, not an outage', async () => {
    const t = tessera({ collectors: ['github-actions'], attest: 'lazy' });
    const error = await t.admit(target('127.0.0.1', world.api.port)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TesseraConfigurationError);
    expect((error as TesseraConfigurationError).code).toBe('no_evidence_collector');
  });

  it('refuses bad options with a typed error', () => {
    const bad: Array<Partial<TesseraOptions>> = [
      { failMode: 'sometimes' as 'open' },
      { attest: 'never' as 'lazy' },
      { cache: { maxEntries: 0 } },
      { cache: { refreshAheadSeconds: -1 } },
      { cloudUrl: 'ftp://cloud' },
      { cloudUrl: 'https://user:pw@cloud' },
      { skewSeconds: -5 },
      { collectors: [] },
      { collectors: ['no-such-collector'] },
    ];
    for (const options of bad) {
      expect(() => new Tessera({ cloudUrl: world.proxy.url, attest: 'lazy', logger, ...options })).toThrow(TesseraConfigurationError);
    }
    expect(() => new Tessera(undefined as unknown as TesseraOptions)).toThrow(TesseraConfigurationError);
  });

  it('after close, managed requests are refused and unmanaged ones are not touched', async () => {
    const t = tessera();
    await t.ready();
    await t.close();
    await expect(t.admit(target('127.0.0.1', world.api.port))).rejects.toBeInstanceOf(TesseraUnavailableError);
    await expect(t.getCredential(world.api.url)).rejects.toBeInstanceOf(TesseraUnavailableError);
    await expect(t.admit(target('127.0.0.1', world.unmanaged.port))).resolves.toBeUndefined();
    expect(t.tryAdmit(target('127.0.0.1', world.unmanaged.port))).toBeUndefined();
  });
});
