import diagnostics from 'node:diagnostics_channel';
import { Octokit } from '@octokit/rest';
import { request as gaxiosRequest, GaxiosError } from 'gaxios';
import ky from 'ky';
import OpenAI from 'openai';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError } from '../errors.js';
import { init, shutdown } from '../init.js';
import { captureLogs, createWorld, type World } from '../../test/support/world.js';

/**
 * How a denied request reaches the caller through the API clients applications use, with
 * Tessera started by `init()` against a real control plane on loopback (docs/sdk.md has the same
 * table). For each: what the caller catches, where the TesseraAccessDeniedError and its code are
 * reachable, and that the protected server received nothing. The clients that retry a failed
 * request (ky, openai, stripe) retry the denial too: the retries are answered from the SDK's
 * denial memory, so the control plane is asked once.
 */
let world: World;
const { logger } = captureLogs();
/** Denied requests, as the SDK announces them: one per attempt of the client. */
let attempts: string[] = [];
const onDenied = (message: unknown) => attempts.push((message as { target: string }).target);

beforeAll(async () => {
  world = await createWorld();
  diagnostics.subscribe('tessera:request:denied', onDenied);
});

// A fresh instance per client: nothing remembered from the client before.
beforeEach(async () => {
  await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, events: false });
  attempts = [];
});

afterEach(async () => {
  await shutdown();
});

afterAll(async () => {
  diagnostics.unsubscribe('tessera:request:denied', onDenied);
  await world?.close();
});

/** Runs `call` against the denied target; checks nothing reached it. Returns the rejection and the cloud calls made. */
async function denied(call: (base: string) => Promise<unknown>): Promise<{ error: any; cloudCalls: number }> {
  const connections = world.denied.connections;
  const received = world.denied.received.length;
  const before = world.proxy.count('/edge/v1/credentials');
  const error = await call(world.denied.url).then(
    () => {
      throw new Error('the denied call succeeded');
    },
    (rejection: unknown) => rejection,
  );
  expect(world.denied.connections).toBe(connections);
  expect(world.denied.received.length).toBe(received);
  return { error, cloudCalls: world.proxy.count('/edge/v1/credentials') - before };
}

function expectDenial(error: unknown): void {
  expect(error).toBeInstanceOf(TesseraAccessDeniedError);
  expect(error).toMatchObject({ code: 'condition_failed', details: { condition: { name: 'night-shift' } } });
}

describe('a denied request through each client', () => {
  it('ky: TypeError("fetch failed"), cause the TesseraAccessDeniedError; its 2 retries cost no cloud call', async () => {
    const { error, cloudCalls } = await denied((base) => ky.get(`${base}/v1/ky`));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('fetch failed');
    expectDenial(error.cause);
    expect(attempts).toHaveLength(3);
    expect(cloudCalls).toBe(1);
  });

  it('openai: APIConnectionError, cause TypeError("fetch failed"), its cause the TesseraAccessDeniedError; 2 retries, one cloud call', async () => {
    const openai = new OpenAI({ apiKey: 'placeholder', baseURL: `${world.denied.url}/v1` });
    const { error, cloudCalls } = await denied(() => openai.models.list());
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(error.cause).toBeInstanceOf(TypeError);
    expectDenial(error.cause.cause);
    expect(attempts).toHaveLength(3);
    expect(cloudCalls).toBe(1);
  });

  it('octokit: RequestError (status 500) with the Tessera message, cause TypeError("fetch failed"), its cause the TesseraAccessDeniedError', async () => {
    const octokit = new Octokit({ baseUrl: world.denied.url, log: { debug() {}, info() {}, warn() {}, error() {} } });
    const { error, cloudCalls } = await denied(() => octokit.rest.repos.get({ owner: 'acme', repo: 'payments' }));
    expect(error).toMatchObject({ name: 'HttpError', status: 500 });
    expect(error.message).toMatch(/^Tessera denied access to .* \(condition_failed\)/);
    expect(error.cause).toBeInstanceOf(TypeError);
    expectDenial(error.cause.cause);
    expect(attempts).toHaveLength(1);
    expect(cloudCalls).toBe(1);
  });

  it('stripe: StripeConnectionError whose `detail` is the TesseraAccessDeniedError (no cause); 2 retries, one cloud call', async () => {
    const stripe = new Stripe('sk_test_placeholder', { host: '127.0.0.1', port: world.denied.port, protocol: 'http' });
    const { error, cloudCalls } = await denied(() => stripe.customers.list());
    expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(error.cause).toBeUndefined();
    expectDenial(error.detail);
    expect(attempts).toHaveLength(3);
    expect(cloudCalls).toBe(1);
  });

  it('gaxios: GaxiosError with the Tessera code and message; node-fetch, under it, drops the error object', async () => {
    const { error, cloudCalls } = await denied((base) => gaxiosRequest({ url: `${base}/v1/gaxios` }));
    expect(error).toBeInstanceOf(GaxiosError);
    expect(error.code).toBe('condition_failed');
    expect(error.message).toMatch(/reason: Tessera denied access to .*\/v1\/gaxios \(condition_failed\)/);
    expect(error.cause).toMatchObject({ name: 'FetchError', code: 'condition_failed' });
    expect(error.cause.cause).toBeUndefined();
    expect(attempts).toHaveLength(1);
    expect(cloudCalls).toBe(1);
  });

  it('gaxios with fetchImplementation: fetch: the TesseraAccessDeniedError is reachable, as through fetch', async () => {
    const { error } = await denied((base) => gaxiosRequest({ url: `${base}/v1/gaxios-fetch`, fetchImplementation: fetch }));
    expect(error).toBeInstanceOf(GaxiosError);
    expect(error.cause).toBeInstanceOf(TypeError);
    expectDenial(error.cause.cause);
  });
});
